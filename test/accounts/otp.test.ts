import type { Kysely } from 'kysely'
import t from 'tap'
import { createCitizen, findCitizenById, markEmailVerified } from '../../src/accounts/citizens.ts'
import {
  hashOtp,
  issueOtp,
  otpMessage,
  verifyOtp,
  validateOtpPolicy,
  defaultOtpPolicy,
  type OtpOptions,
} from '../../src/accounts/otp.ts'
import type { Outbox, OutboxMessage } from '../../src/accounts/outbox.ts'
import { listAuditForSubject } from '../../src/audit/audit.ts'
import type { Database } from '../../src/db/database.ts'
import { eachDatabase } from '../helpers/db.ts'

const T0 = new Date('2026-11-27T08:00:00.000Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)

async function citizen(db: Kysely<Database>): Promise<string> {
  const c = await createCitizen(db, {
    nik: '3201011201900001',
    name: 'Budi Santoso',
    birthDate: '1990-01-12',
    gender: 'male',
    email: 'budi@contoh.id',
    phone: '081234567890',
    regencyName: 'Sukamaju',
  })
  return c.id
}

/** An Outbox that keeps the messages, to read the code as the citizen would. */
function capturingOutbox(): { sent: OutboxMessage[]; options: Pick<OtpOptions, 'outbox'> } {
  const sent: OutboxMessage[] = []
  const outbox: Outbox = { send: async (m) => void sent.push(m) }
  return { sent, options: { outbox: () => outbox } }
}

function codeIn(message: OutboxMessage | undefined): string {
  const m = /\b([0-9]{6})\b/.exec(message?.body ?? '')
  if (m === null || m[1] === undefined) throw new Error('no code in the message')
  return m[1]
}

const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0')

t.test('a code is six digits, sent in Bahasa Indonesia, and stored only as a keyed hash', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const result = await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'Budi@Contoh.id' },
      { now: T0 },
    )
    t.match(result, { ok: true, destination: 'budi@contoh.id', expiresAt: at(600) })
    const [message, ...others] = await db.selectFrom('outbox').selectAll().execute()
    t.equal(others.length, 0)
    t.match(message, {
      channel: 'email',
      recipient: 'budi@contoh.id',
      subject: 'Kode verifikasi Satu Pintu',
      sent_at: null,
    })
    t.match(
      message?.body,
      /^Kode verifikasi Satu Pintu Anda: [0-9]{6}\. Berlaku 10 menit\. Jangan berikan kode ini kepada siapa pun, termasuk petugas\.$/,
    )
    const code = codeIn(message as OutboxMessage)
    const row = await db.selectFrom('one_time_codes').selectAll().executeTakeFirstOrThrow()
    t.match(row, {
      purpose: 'verify_email',
      citizen_id: id,
      destination: 'budi@contoh.id',
      attempts: 0,
      consumed_at: null,
    })
    t.equal(row.code_hash, hashOtp(row.id, 'verify_email', code))
    t.notOk(row.code_hash.includes(code), 'the code is not in the stored hash')
    t.not(hashOtp(row.id, 'verify_email', code, 'server secret'), row.code_hash, 'a server secret changes the hash')
    t.match(await listAuditForSubject(db, id), [
      { event: 'otp.sent', data: { purpose: 'verify_email', channel: 'email' } },
    ])
  })
})

t.test('the right code verifies once, and its destination can then be marked verified', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const { sent, options } = capturingOutbox()
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'budi@contoh.id' },
      { ...options, now: T0 },
    )
    const code = codeIn(sent[0])
    const ok = await verifyOtp(
      db,
      { citizenId: id, purpose: 'verify_email', code: ` ${code.slice(0, 3)} ${code.slice(3)} ` },
      { now: at(60) },
    )
    t.match(ok, { ok: true, destination: 'budi@contoh.id' })
    if (ok.ok) await markEmailVerified(db, id, ok.destination)
    t.match(await findCitizenById(db, id), { emailVerified: true })
    t.strictSame(
      await verifyOtp(db, { citizenId: id, purpose: 'verify_email', code }, { now: at(61) }),
      { ok: false, reason: 'no_active_code' },
      'reuse is refused',
    )
  })
})

t.test('a code is refused after 10 minutes', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const { sent, options } = capturingOutbox()
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_phone', channel: 'sms', destination: '0812 3456 7890' },
      { ...options, now: T0 },
    )
    t.match(sent[0], { channel: 'sms', recipient: '+6281234567890' })
    t.notOk('subject' in (sent[0] ?? {}), 'an SMS has no subject')
    t.strictSame(
      await verifyOtp(db, { citizenId: id, purpose: 'verify_phone', code: codeIn(sent[0]) }, { now: at(600) }),
      { ok: false, reason: 'expired' },
    )
  })
})

t.test('five wrong guesses kill a code, even for the right code afterwards', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const { sent, options } = capturingOutbox()
    await issueOtp(
      db,
      { citizenId: id, purpose: 'reset_password', channel: 'email', destination: 'budi@contoh.id' },
      { ...options, now: T0 },
    )
    t.match(sent[0]?.body, /^Kode untuk mengatur ulang kata sandi Satu Pintu Anda: [0-9]{6}\. Berlaku 10 menit\./)
    const code = codeIn(sent[0])
    const left: unknown[] = []
    for (let i = 0; i < 5; i++)
      left.push(
        await verifyOtp(db, { citizenId: id, purpose: 'reset_password', code: wrong(code) }, { now: at(10 + i) }),
      )
    t.strictSame(
      left.map((r) => (r as { attemptsLeft: number }).attemptsLeft),
      [4, 3, 2, 1, 0],
    )
    t.strictSame(await verifyOtp(db, { citizenId: id, purpose: 'reset_password', code }, { now: at(20) }), {
      ok: false,
      reason: 'too_many_attempts',
    })
    t.equal((await db.selectFrom('one_time_codes').select('attempts').executeTakeFirstOrThrow()).attempts, 5)
  })
})

t.test('a malformed code uses up an attempt like a wrong one', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'budi@contoh.id' },
      { now: T0 },
    )
    for (const code of ['', '12345', 'abcdef', 'x'.repeat(100_000)]) {
      t.match(await verifyOtp(db, { citizenId: id, purpose: 'verify_email', code }, { now: at(1) }), {
        ok: false,
        reason: 'invalid_code',
      })
    }
    t.equal((await db.selectFrom('one_time_codes').select('attempts').executeTakeFirstOrThrow()).attempts, 4)
  })
})

t.test('a new code kills the earlier one', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const { sent, options } = capturingOutbox()
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'budi@contoh.id' },
      { ...options, now: T0 },
    )
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'budi@contoh.id' },
      { ...options, now: at(61) },
    )
    const [first, second] = [codeIn(sent[0]), codeIn(sent[1])]
    if (first !== second) {
      t.match(await verifyOtp(db, { citizenId: id, purpose: 'verify_email', code: first }, { now: at(62) }), {
        ok: false,
        reason: 'invalid_code',
      })
    }
    t.match(await verifyOtp(db, { citizenId: id, purpose: 'verify_email', code: second }, { now: at(63) }), {
      ok: true,
    })
    const live = await db.selectFrom('one_time_codes').select('id').where('consumed_at', 'is', null).execute()
    t.equal(live.length, 0)
  })
})

t.test('codes for different purposes do not interfere', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const { sent, options } = capturingOutbox()
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'budi@contoh.id' },
      { ...options, now: T0 },
    )
    await issueOtp(
      db,
      { citizenId: id, purpose: 'verify_phone', channel: 'sms', destination: '081234567890' },
      { ...options, now: T0 },
    )
    t.match(await verifyOtp(db, { citizenId: id, purpose: 'verify_email', code: codeIn(sent[0]) }, { now: at(1) }), {
      ok: true,
    })
    t.match(await verifyOtp(db, { citizenId: id, purpose: 'verify_phone', code: codeIn(sent[1]) }, { now: at(1) }), {
      ok: true,
    })
  })
})

t.test('issuing is limited: one a minute, five an hour per citizen and purpose', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const input = { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'budi@contoh.id' } as const
    t.match(await issueOtp(db, input, { now: T0 }), { ok: true })
    t.strictSame(await issueOtp(db, input, { now: at(20) }), {
      ok: false,
      reason: 'rate_limited',
      retryAfterSeconds: 40,
    })
    for (let i = 1; i <= 4; i++) t.match(await issueOtp(db, input, { now: at(i * 60) }), { ok: true })
    t.strictSame(await issueOtp(db, input, { now: at(300) }), {
      ok: false,
      reason: 'rate_limited',
      retryAfterSeconds: 3300,
    })
    t.match(await issueOtp(db, input, { now: at(3601) }), { ok: true }, 'an hour after the first')
    t.equal((await db.selectFrom('outbox').select('id').execute()).length, 6, 'a refused request sends nothing')
  })
})

t.test('a failed delivery leaves no code and no audit entry behind', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    const failing: Outbox = { send: async () => Promise.reject(new Error('SMS gateway down')) }
    await t.rejects(
      issueOtp(
        db,
        { citizenId: id, purpose: 'verify_phone', channel: 'sms', destination: '081234567890' },
        { outbox: () => failing },
      ),
      /gateway down/,
    )
    t.strictSame(await db.selectFrom('one_time_codes').select('id').execute(), [])
    t.strictSame(
      (await listAuditForSubject(db, id)).map((e) => e.event),
      ['account.registered'],
    )
  })
})

t.test('refuses a destination that does not fit the purpose, and an unknown citizen', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await citizen(db)
    await t.rejects(
      issueOtp(db, { citizenId: id, purpose: 'verify_email', channel: 'sms', destination: '081234567890' }),
      /cannot be sent by sms/,
    )
    await t.rejects(
      issueOtp(db, { citizenId: id, purpose: 'verify_email', channel: 'email', destination: 'bukan email' }),
      { code: 'email_invalid' },
    )
    await t.rejects(
      issueOtp(db, {
        citizenId: '00000000-0000-4000-8000-000000000000',
        purpose: 'verify_email',
        channel: 'email',
        destination: 'a@contoh.id',
      }),
      {
        code: 'account_not_found',
      },
    )
    t.strictSame(await verifyOtp(db, { citizenId: 'nope', purpose: 'verify_email', code: '123456' }), {
      ok: false,
      reason: 'no_active_code',
    })
  })
})

t.test('the policy cannot be loosened past 10 minutes and 5 attempts', async (t) => {
  t.throws(() => validateOtpPolicy({ ...defaultOtpPolicy, lifetimeSeconds: 601 }), /lifetimeSeconds/)
  t.throws(() => validateOtpPolicy({ ...defaultOtpPolicy, maxAttempts: 6 }), /maxAttempts/)
  t.equal(validateOtpPolicy(defaultOtpPolicy), defaultOtpPolicy)
  t.match(otpMessage('verify_phone', '012345', 300).body, /: 012345\. Berlaku 5 menit\./)
})
