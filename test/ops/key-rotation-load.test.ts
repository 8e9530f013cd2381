/**
 * SECURITY 27: key rotation under load. While clients keep asking for access tokens and
 * verifying each at once against the published JWKS (as the gateway and relying parties
 * do, with jose's remote key set), the signing keys go through publish, promote and
 * retire, each picked up by swapping the provider whole. Not one request may fail: no
 * token endpoint error, no token that does not verify, no JWKS fetch that errors.
 * Time is compressed: the publish delay is 2 s and relying parties cache keys for 1 s.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import { listKeys, rotateKeys } from '../../src/keys/keys.ts'
import { eachDatabase } from '../helpers/db.ts'
import { registerClient, startIdp, testKek } from '../helpers/idp.ts'

t.test('SECURITY 27: signing keys rotate (publish, promote, retire) under load and no request fails', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    const client = await registerClient(db, {
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['openid'],
    })
    const basic = `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`), { cacheMaxAge: 1000, cooldownDuration: 500 })
    const oldKids = (await listKeys(db.db)).filter((k) => k.purpose === 'oidc').map((k) => k.kid)

    const failures: string[] = []
    const signedBy = new Map<string, number>()
    let requests = 0
    let stop = false
    async function worker(): Promise<void> {
      while (!stop) {
        requests++
        try {
          const res = await fetch(`${idp.issuer}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
            body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'gateway' }),
          })
          const body = (await res.json()) as { access_token?: string; error?: string }
          if (res.status !== 200 || typeof body.access_token !== 'string') {
            failures.push(`token endpoint: ${res.status} ${body.error ?? ''}`)
            continue
          }
          const kid = String(decodeProtectedHeader(body.access_token).kid)
          signedBy.set(kid, (signedBy.get(kid) ?? 0) + 1)
          await jwtVerify(body.access_token, jwks, { issuer: idp.issuer })
        } catch (err) {
          failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`)
        }
      }
    }
    const workers = Array.from({ length: 6 }, () => worker())
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

    await pause(1000)
    // 1. Publish: new keys in the JWKS, the old ones still sign.
    const rotated = await rotateKeys(db.db, testKek, 'oidc', { publishDelaySeconds: 2, retireAfterSeconds: 3600 })
    const newKids = rotated.map((k) => k.kid)
    await idp.app.reloadKeys()
    // 2. Promote, once relying parties have had time to see the new keys.
    await pause(2500)
    await idp.app.reloadKeys()
    await pause(1500)
    // 3. Retire the old keys: their tokens have expired (compressed: none is left unverified).
    await db.db
      .updateTable('signing_keys')
      .set({ expires_at: sql<Date>`now() - interval '1 second'` })
      .where('kid', 'in', oldKids)
      .execute()
    await idp.app.reloadKeys()
    await pause(1500)
    stop = true
    await Promise.all(workers)

    t.same(failures, [], `no request failed (${requests} requests)`)
    t.ok(
      oldKids.some((k) => (signedBy.get(k) ?? 0) > 0),
      'the old key signed before the promotion',
    )
    t.ok(
      newKids.some((k) => (signedBy.get(k) ?? 0) > 0),
      'the new key signed after it',
    )
    const states = Object.fromEntries((await listKeys(db.db)).map((k) => [k.kid, k.state]))
    t.same(
      oldKids.map((k) => states[k]),
      oldKids.map(() => 'expired'),
      'the old keys are retired',
    )
  })
})
