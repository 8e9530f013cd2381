/**
 * The signing-key lifecycle as the idp lives it: created on first start, published before
 * signing, retired after the longest token lifetime, encrypted at rest. Time is moved in
 * the database (activates_at, expires_at), never waited for.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import type { Test } from 'tap'
import { buildIdp } from '../../src/idp/app.ts'
import { createKeyEncryption, KeyEncryptionError } from '../../src/keys/encryption.ts'
import { ensureKeys, listKeys, loadKeys, rotateKeys } from '../../src/keys/keys.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testKek, type RunningIdp } from '../helpers/idp.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'

/** Members of a JWK that are private (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

async function jwks(issuer: string): Promise<JSONWebKeySet> {
  const res = await fetch(`${issuer}/jwks`)
  if (res.status !== 200) throw new Error(`jwks answered ${res.status}`)
  return (await res.json()) as JSONWebKeySet
}

async function publishedKids(issuer: string): Promise<string[]> {
  return (await jwks(issuer)).keys.map((k) => String(k.kid)).sort()
}

/** A JWT signed now by the idp (a client-credentials access token for the gateway, ES256). */
async function freshToken(idp: RunningIdp, client: { clientId: string; secret: string | undefined }): Promise<string> {
  const res = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'gateway' }),
  })
  const body = (await res.json()) as { access_token?: string }
  if (typeof body.access_token !== 'string') throw new Error(`no token: ${JSON.stringify(body)}`)
  return body.access_token
}

function kidOf(jwt: string): string {
  return String(decodeProtectedHeader(jwt).kid)
}

async function keyRows(db: TestDatabase) {
  return db.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute()
}

async function backendClient(db: TestDatabase) {
  return registerClient(db, { redirectUris: [], grantTypes: ['client_credentials'], scopes: ['openid'] })
}

t.test(
  'the first start creates ES256 and RS256 signing keys and a cookie key, and publishes the signing keys',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      t.equal((await keyRows(db)).length, 0, 'no keys before the first start')
      const idp = await startIdp(t, db)
      const keys = await listKeys(db.db)
      const summary = keys.map((k) => `${k.purpose}/${k.alg}/${k.state}`).sort()
      t.same(summary, ['cookie/HS256/active', 'oidc/ES256/active', 'oidc/RS256/active'])
      const oidcKids = keys
        .filter((k) => k.purpose === 'oidc')
        .map((k) => k.kid)
        .sort()
      t.same(await publishedKids(idp.issuer), oidcKids, 'the JWKS publishes exactly the signing keys')
      const published = await jwks(idp.issuer)
      t.same(published.keys.map((k) => `${k.kty}/${k.alg}`).sort(), ['EC/ES256', 'RSA/RS256'])
      for (const k of published.keys) {
        t.same(
          privateMembers.filter((m) => m in k),
          [],
          `${String(k.kid)} has no private members`,
        )
      }
      t.equal(
        kidOf(await freshToken(idp, await backendClient(db))),
        keys.find((k) => k.alg === 'ES256')?.kid,
        'the ES256 key signs',
      )

      await startIdp(t, db)
      t.equal((await keyRows(db)).length, 3, 'a second start (another instance) creates no more keys')
    })
  },
)

t.test('instances starting together create one key per algorithm', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const created = await Promise.all(Array.from({ length: 4 }, () => ensureKeys(db.db, testKek, 'oidc')))
    t.equal(created.flat().length, 2, 'ES256 and RS256, once')
    t.equal((await keyRows(db)).length, 2)
  })
})

t.test(
  'a rotated-in key is published before it signs, and the key it replaces stays published until its tokens have expired',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const idp = await startIdp(t, db)
      // The current keys have been signing for a day.
      await db.db.updateTable('signing_keys').set({ activates_at: sql<Date>`now() - interval '1 day'` }).execute()
      await idp.app.reloadKeys()
      const client = await backendClient(db)
      const oldToken = await freshToken(idp, client)
      const oldKids = (await listKeys(db.db)).filter((k) => k.purpose === 'oidc').map((k) => k.kid)

      // 1. Publish: the new keys appear in the JWKS, the old ones still sign.
      const rotated = await rotateKeys(db.db, testKek, 'oidc', { publishDelaySeconds: 3600, retireAfterSeconds: 7200 })
      const newKids = rotated.map((k) => k.kid)
      t.same(
        rotated.map((k) => k.state),
        ['pending', 'pending'],
      )
      await idp.app.reloadKeys()
      t.same(await publishedKids(idp.issuer), [...oldKids, ...newKids].sort(), 'old and new published')
      t.ok(
        oldKids.includes(kidOf(await freshToken(idp, client))),
        'the old key still signs while the new one is pending',
      )

      // 2. Promote: the publish delay has passed.
      await db.db
        .updateTable('signing_keys')
        .set({ activates_at: sql<Date>`now() - interval '1 second'` })
        .where('kid', 'in', newKids)
        .execute()
      await idp.app.reloadKeys()
      const states = Object.fromEntries((await listKeys(db.db)).map((k) => [k.kid, k.state]))
      for (const kid of newKids) t.equal(states[kid], 'active', `${kid} active`)
      for (const kid of oldKids) t.equal(states[kid], 'retiring', `${kid} retiring`)
      const newToken = await freshToken(idp, client)
      t.ok(newKids.includes(kidOf(newToken)), 'the new key signs')
      t.same(await publishedKids(idp.issuer), [...oldKids, ...newKids].sort(), 'the retiring keys are still published')
      const set = createLocalJWKSet(await jwks(idp.issuer))
      await t.resolves(jwtVerify(oldToken, set, { issuer: idp.issuer }), 'a token of the retiring key still verifies')
      await t.resolves(jwtVerify(newToken, set, { issuer: idp.issuer }))

      // 3. Retire: the longest token lifetime has passed since the promotion.
      const retireAt = (
        await db.db.selectFrom('signing_keys').select('expires_at').where('kid', 'in', oldKids).execute()
      ).map((r) => r.expires_at)
      t.ok(
        retireAt.every((d) => d !== null && d.getTime() > Date.now() + 7000 * 1000),
        'scheduled after the promotion plus retireAfter',
      )
      await db.db
        .updateTable('signing_keys')
        .set({ expires_at: sql<Date>`now() - interval '1 second'` })
        .where('kid', 'in', oldKids)
        .execute()
      await idp.app.reloadKeys()
      t.same(await publishedKids(idp.issuer), [...newKids].sort(), 'the expired keys drop out of the JWKS')
      const after = Object.fromEntries((await listKeys(db.db)).map((k) => [k.kid, k.state]))
      for (const kid of oldKids) t.equal(after[kid], 'expired')
      await t.rejects(
        jwtVerify(oldToken, createLocalJWKSet(await jwks(idp.issuer)), { issuer: idp.issuer }),
        'its tokens no longer verify',
      )
      t.ok(newKids.includes(kidOf(await freshToken(idp, client))))
    })
  },
)

t.test('a cookie-key rotation keeps signed-in browsers signed in', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    await addCitizen(db.db)
    const redirectUri = 'https://rp.example.go.id/cb'
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const browser = new Browser()
    const auth = (prompt?: string) => {
      const u = new URL('/auth', idp.issuer)
      const verifier = randomBytes(32).toString('base64url')
      const params: Record<string, string> = {
        client_id: client.clientId,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: redirectUri,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }
      if (prompt !== undefined) params.prompt = prompt
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
      return u.href
    }
    await signIn(browser, auth(), idp.issuer, { username: budi.nik, password: budi.password })
    const before = browser.cookies.get('sp_session.sig')?.value
    await rotateKeys(db.db, testKek, 'cookie', { publishDelaySeconds: 0, retireAfterSeconds: 3600 })
    await idp.app.reloadKeys()
    const silent = await browser.follow(auth('none'), idp.issuer)
    t.ok(new URL(silent.url).searchParams.get('code'), 'still signed in after the rotation')
    t.ok(before, 'the session cookie is signed')
  })
})

t.test('private keys are encrypted at rest: the table holds no private member in the clear', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await startIdp(t, db)
    await rotateKeys(db.db, testKek, 'oidc', { publishDelaySeconds: 60, retireAfterSeconds: 600 })
    const rows = await keyRows(db)
    t.equal(rows.length, 5)
    const everything = JSON.stringify(rows)
    for (const row of rows) {
      const pub = row.public_jwk
      if (row.purpose === 'cookie') t.equal(pub, null, 'a cookie key has no public part')
      else
        t.same(
          privateMembers.filter((m) => pub !== null && m in pub),
          [],
          `${row.kid}: the public JWK is public`,
        )
      t.match(
        row.private_enc,
        /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/,
        `${row.kid}: sealed (v1.iv.tag.ciphertext)`,
      )
      t.notOk(row.private_enc.includes('"d"') || row.private_enc.includes('{'), 'no JSON in the clear')
      // What it decrypts to appears nowhere in the table.
      const secret = testKek.decrypt(row.private_enc, `${row.purpose}:${row.kid}`)
      if (row.purpose === 'cookie') {
        t.notOk(everything.includes(secret), `${row.kid}: the cookie secret is not stored in the clear`)
      } else {
        const jwk = JSON.parse(secret) as Record<string, string>
        t.type(jwk.d, 'string', `${row.kid}: the sealed JWK is the private key`)
        t.notOk(everything.includes(jwk.d ?? '-'), `${row.kid}: "d" is not stored in the clear`)
        if (jwk.p !== undefined) t.notOk(everything.includes(jwk.p), `${row.kid}: nor "p"`)
      }
    }
  })
})

async function rejectsWithClearError(t: Test, p: Promise<unknown>, what: string): Promise<void> {
  try {
    await p
    t.fail(`${what}: expected a failure`)
  } catch (err) {
    t.type(err, KeyEncryptionError, what)
    t.match(
      (err as Error).message,
      /key-encryption secret \(SATUPINTU_KEY_ENCRYPTION_SECRET\) is not the one/,
      `${what}: says what is wrong`,
    )
  }
}

t.test('keys sealed under one secret cannot be opened with another, and the error says so', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await startIdp(t, db)
    const other = createKeyEncryption('another-key-encryption-secret-0123456789')
    await rejectsWithClearError(t, loadKeys(db.db, other, 'oidc'), 'loading the signing keys')
    await rejectsWithClearError(t, loadKeys(db.db, other, 'cookie'), 'loading the cookie keys')
    // An instance started with the wrong secret refuses to start.
    const config = testConfig({
      idp: { issuer: 'http://127.0.0.1:1', port: 1 },
      gateway: { publicUrl: 'http://127.0.0.1:2', port: 2 },
    })
    await rejectsWithClearError(
      t,
      buildIdp({ config, database: db, logger: silentLogger(), keyEncryption: other }),
      'starting the idp',
    )
  })
})

t.test('a sealed key moved to another row or altered does not open', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await startIdp(t, db)
    const rows = (await keyRows(db)).filter((r) => r.purpose === 'oidc')
    const [a, b] = rows
    if (!a || !b) throw new Error('two signing keys expected')
    // The purpose and kid are bound in (AES-GCM associated data).
    await db.db.updateTable('signing_keys').set({ private_enc: a.private_enc }).where('kid', '=', b.kid).execute()
    await rejectsWithClearError(t, loadKeys(db.db, testKek, 'oidc'), 'a ciphertext moved to another kid')
    const parts = a.private_enc.split('.')
    const ct = Buffer.from(parts[3] ?? '', 'base64url')
    ct[0] = (ct[0] ?? 0) ^ 1
    const tampered = [parts[0], parts[1], parts[2], ct.toString('base64url')].join('.')
    await db.db.updateTable('signing_keys').set({ private_enc: tampered }).where('kid', '=', b.kid).execute()
    t.throws(() => testKek.decrypt(tampered, `oidc:${a.kid}`), KeyEncryptionError, 'one flipped bit is refused')
    t.throws(() => testKek.decrypt('v2.x.y.z', `oidc:${a.kid}`), /not in a known format/)
  })
})
