/**
 * The idp's side of revoking an ended session's access tokens at the gateways (issue 12):
 * the `sp_sh` claim in every access token issued in a session, and the revoked_sessions
 * rows written where a session ends (sign-out, and what a password reset and "sign out
 * everywhere" call), pruned by housekeeping.
 */
import { decodeJwt } from 'jose'
import { sql } from 'kysely'
import * as oidc from 'openid-client'
import t from 'tap'
import { credentialArtifacts } from '../../src/idp/account/password-reset.ts'
import { destroyAccountArtifacts } from '../../src/idp/oidc/store.ts'
import { pruneRevokedSessions, revocationRetentionSeconds, sessionHash } from '../../src/idp/oidc/session-revocation.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testGatewayResource } from '../helpers/idp.ts'

const insecure = { execute: [oidc.allowInsecureRequests] }

/** A JWT access token for the gateway's resource, through the code flow in `browser`'s session. */
async function gatewayToken(
  issuer: string,
  client: { clientId: string; secret?: string | undefined },
  browser: Browser,
): Promise<string> {
  const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: testGatewayResource,
  })
  const cb = await signIn(browser, url.href, issuer, { username: budi.nik, password: budi.password })
  const tokens = await oidc.authorizationCodeGrant(
    config,
    new URL(cb),
    { pkceCodeVerifier: verifier, expectedState: state },
    { resource: testGatewayResource },
  )
  return tokens.access_token
}

async function sessionUids(db: TestDatabase, accountId: string): Promise<string[]> {
  const rows = await db.db
    .selectFrom('oidc_payloads')
    .select('uid')
    .where('model', '=', 'Session')
    .where('account_id', '=', accountId)
    .execute()
  return rows.flatMap((r) => (r.uid === null ? [] : [r.uid]))
}

async function revokedHashes(db: TestDatabase): Promise<string[]> {
  return (await db.db.selectFrom('revoked_sessions').select('session_hash').orderBy('session_hash').execute()).map(
    (r) => r.session_hash,
  )
}

async function signOut(browser: Browser, issuer: string): Promise<void> {
  const confirm = await browser.request(`${issuer}/session/end`)
  const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(await confirm.text())?.[1] ?? ''
  const done = await browser.request(`${issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
  if (done.status !== 303) throw new Error(`logout answered ${done.status}`)
}

t.test('ended sessions are recorded for the gateways', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const app = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'], scopes: ['openid', 'profile'] })
    const other = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'], scopes: ['openid', 'profile'] })

    await t.test(
      "an access token names its session, hashed with the client; a client's own token names none",
      async (t) => {
        const browser = new Browser()
        const first = decodeJwt(await gatewayToken(issuer, app, browser))
        const second = decodeJwt(await gatewayToken(issuer, other, browser))
        const [uid] = await sessionUids(db, citizen.id)
        t.equal(first.sp_sh, sessionHash(uid as string, app.clientId))
        t.equal(second.sp_sh, sessionHash(uid as string, other.clientId))
        t.not(first.sp_sh, second.sp_sh, 'two agencies in one session see unrelated values (no handle to join on)')
        t.match(first.sp_sh, /^[A-Za-z0-9_-]{43}$/)
        t.notMatch(JSON.stringify(first), uid as string, 'the session uid itself is not in the token')

        const machine = await registerClient(db, {
          redirectUris: [],
          grantTypes: ['client_credentials'],
          scopes: ['openid'],
        })
        const cc = await oidc.clientCredentialsGrant(
          await oidc.discovery(new URL(issuer), machine.clientId, machine.secret, undefined, insecure),
          { scope: 'gateway', resource: testGatewayResource },
        )
        t.equal(decodeJwt(cc.access_token).sp_sh, undefined, 'client credentials: no session, no claim')
        await signOut(browser, issuer)
        await db.db.deleteFrom('revoked_sessions').execute()
      },
    )

    await t.test(
      'SECURITY 43: a sign-out records each client of that session and no other session; a password reset or sign out everywhere records them all',
      async (t) => {
        const one = new Browser()
        const two = new Browser()
        const a = decodeJwt(await gatewayToken(issuer, app, one))
        const b = decodeJwt(await gatewayToken(issuer, other, one))
        const c = decodeJwt(await gatewayToken(issuer, app, two))
        const before = Date.now()
        await signOut(one, issuer)
        t.same(
          await revokedHashes(db),
          [a.sp_sh, b.sp_sh].sort(),
          'both clients of the ended session, nothing of the other device',
        )
        t.not(c.sp_sh, a.sp_sh)
        const rows = await db.db.selectFrom('revoked_sessions').selectAll().execute()
        for (const r of rows) {
          t.ok(Math.abs(r.revoked_at.getTime() - before) < 5000, 'revoked now')
          t.equal(
            r.expires_at.getTime() - r.revoked_at.getTime(),
            revocationRetentionSeconds * 1000,
            'kept as long as a token can live, and a margin',
          )
        }

        // What a password reset and "sign out everywhere" call: every remaining session goes.
        const three = new Browser()
        const d = decodeJwt(await gatewayToken(issuer, other, three))
        await destroyAccountArtifacts(db.db, citizen.id, credentialArtifacts)
        t.same(
          await revokedHashes(db),
          [a.sp_sh, b.sp_sh, c.sp_sh, d.sp_sh].sort(),
          'every session of the citizen is recorded',
        )
        t.same(await sessionUids(db, citizen.id), [], 'and gone')
      },
    )

    await t.test('housekeeping drops the rows that no token can need, only those', async (t) => {
      await db.db
        .updateTable('revoked_sessions')
        .set({ expires_at: sql<Date>`now() - interval '1 second'` })
        .where('session_hash', 'in', (await revokedHashes(db)).slice(0, 2))
        .execute()
      const left = (await revokedHashes(db)).length - 2
      t.equal(await pruneRevokedSessions(db.db), 2)
      t.equal((await revokedHashes(db)).length, left)
      await db.db.deleteFrom('revoked_sessions').execute()
    })
  })
})
