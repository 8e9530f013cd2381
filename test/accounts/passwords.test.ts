import argon2 from 'argon2'
import t from 'tap'
import { AccountError } from '../../src/accounts/errors.ts'
import {
  ARGON2_MEMORY_COST_KIB,
  ARGON2_PARALLELISM,
  ARGON2_TIME_COST,
  DUMMY_HASH,
  hashNeedsRehash,
  hashPassword,
  MAX_PASSWORD_BYTES,
  verifyAgainstDummy,
  verifyPassword,
} from '../../src/accounts/passwords.ts'

t.test('uses argon2id with the OWASP minimum parameters, set explicitly', async (t) => {
  t.equal(ARGON2_MEMORY_COST_KIB, 19456)
  t.equal(ARGON2_TIME_COST, 2)
  t.equal(ARGON2_PARALLELISM, 1)
  const hash = await hashPassword('kopi tubruk di pagi hujan')
  t.match(hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
  t.notOk(hash.includes('kopi'), 'the hash does not contain the password')
})

t.test('verifies the right password and refuses a wrong one', async (t) => {
  const hash = await hashPassword('kopi tubruk di pagi hujan')
  t.strictSame(await verifyPassword(hash, 'kopi tubruk di pagi hujan'), { ok: true, needsRehash: false })
  t.strictSame(await verifyPassword(hash, 'kopi tubruk di pagi hujan!'), { ok: false, needsRehash: false })
})

t.test('a password typed in another Unicode form (NFD) still verifies (NFKC before hashing)', async (t) => {
  const hash = await hashPassword('kafé di ujung jalan')
  t.equal((await verifyPassword(hash, 'kafe\u0301 di ujung jalan')).ok, true)
})

t.test('asks for a rehash when a stored hash used other parameters', async (t) => {
  const old = await argon2.hash('kopi tubruk di pagi hujan', {
    type: argon2.argon2id,
    memoryCost: 8192,
    timeCost: 1,
    parallelism: 1,
  })
  t.strictSame(await verifyPassword(old, 'kopi tubruk di pagi hujan'), { ok: true, needsRehash: true })
  const argon2i = await argon2.hash('x', { type: argon2.argon2i, memoryCost: 19456, timeCost: 2, parallelism: 1 })
  t.equal(hashNeedsRehash(argon2i), true, 'an argon2i hash is upgraded to argon2id')
})

t.test('the dummy hash has exactly the current parameters, so it costs what a real one costs', async (t) => {
  t.equal(hashNeedsRehash(DUMMY_HASH), false)
  t.equal(await verifyAgainstDummy('anything at all'), false)
})

t.test(`refuses a password over ${MAX_PASSWORD_BYTES} bytes before hashing`, async (t) => {
  const long = 'a'.repeat(MAX_PASSWORD_BYTES + 1)
  await t.rejects(hashPassword(long), { code: 'password_too_long' })
  await t.rejects(verifyPassword(DUMMY_HASH, long), AccountError)
  await t.rejects(verifyAgainstDummy('é'.repeat(513)), { code: 'password_too_long' }, '1026 bytes in 513 characters')
  t.equal(typeof (await hashPassword('a'.repeat(MAX_PASSWORD_BYTES))), 'string', 'exactly the limit is fine')
})
