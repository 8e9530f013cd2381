/**
 * SECURITY 33 at the idp's token endpoints, from the attacker review of issue 10: a
 * refused refresh must not burn the refresh token, and no client reads or revokes
 * another client's tokens.
 */
import * as oidc from 'openid-client'
import t from 'tap'
import type { Test } from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testGatewayResource, type RunningIdp } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'

async function post(
  idp: RunningIdp,
  path: string,
  client: { clientId: string; secret?: string | undefined },
  form: Record<string, string>,
) {
  const res = await fetch(`${idp.issuer}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`,
    },
    body: new URLSearchParams(form),
  })
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> }
}

/** A citizen's tokens for `client` with a refresh token (offline_access with prompt=consent). */
async function offlineTokens(idp: RunningIdp, client: { clientId: string; secret?: string | undefined }) {
  const config = await oidc.discovery(new URL(idp.issuer), client.clientId, client.secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  })
  const verifier = oidc.randomPKCECodeVerifier()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile offline_access',
    prompt: 'consent',
    resource: testGatewayResource,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })
  const callback = await signIn(new Browser(), url.href, idp.issuer, { username: budi.nik, password: budi.password })
  const tokens = await oidc.authorizationCodeGrant(
    config,
    new URL(callback),
    { pkceCodeVerifier: verifier },
    { resource: testGatewayResource },
  )
  if (typeof tokens.refresh_token !== 'string') throw new Error('no refresh token')
  return { accessToken: tokens.access_token, refreshToken: tokens.refresh_token }
}

async function setUp(t: Test, db: TestDatabase) {
  const idp = await startIdp(t, db, { idp: { ttl: { refreshGraceSeconds: 0 } } })
  await addCitizen(db.db, budi)
  const a = await registerClient(db, {
    redirectUris: [redirectUri],
    grantTypes: ['authorization_code', 'refresh_token'],
  })
  const b = await registerClient(db, {
    redirectUris: [redirectUri],
    grantTypes: ['authorization_code', 'refresh_token'],
  })
  return { idp, a, b }
}

t.test(
  'SECURITY 33: a refresh asking for a resource the client is not registered for is refused and leaves the refresh token usable',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { idp, a } = await setUp(t, db)
      const { refreshToken } = await offlineTokens(idp, a)
      const refused = await post(idp, '/token', a, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        resource: 'http://dinas-lain.localhost:8080',
      })
      t.equal(refused.status, 400)
      t.equal(refused.body.error, 'invalid_target')
      const again = await post(idp, '/token', a, {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        resource: testGatewayResource,
      })
      t.equal(again.status, 200, 'the same refresh token still works for its own resource')
      t.type(again.body.refresh_token, 'string')
    })
  },
)

t.test('SECURITY 33: a client cannot introspect or revoke a token issued to another client', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { idp, a, b } = await setUp(t, db)
    const { refreshToken } = await offlineTokens(idp, b)
    const seen = await post(idp, '/token/introspection', a, { token: refreshToken })
    t.equal(seen.status, 200)
    t.same(seen.body, { active: false }, "another client's token is not active for this caller")
    const own = await post(idp, '/token/introspection', b, { token: refreshToken })
    t.equal(own.body.active, true, 'its own client sees it')
    await post(idp, '/token/revocation', a, { token: refreshToken })
    const still = await post(idp, '/token', b, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      resource: testGatewayResource,
    })
    t.equal(still.status, 200, "another client's revocation revoked nothing")
  })
})
