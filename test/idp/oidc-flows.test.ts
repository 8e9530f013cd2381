/**
 * End to end over HTTP with openid-client as an independent relying party: what an agency
 * integrating with any certified OIDC library experiences.
 */
import * as oidc from 'openid-client'
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import { rotateKeys } from '../../src/keys/keys.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { backchannelReceiver } from '../helpers/stack.ts'

const redirectUri = 'http://127.0.0.1:9/cb'

/** The OAuth `error` code a rejected openid-client call carried. */
async function oauthError(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return String((err as { error?: unknown }).error ?? (err as Error).message)
  }
  return 'no error'
}
const insecure = { execute: [oidc.allowInsecureRequests] }

async function codeFlow(
  config: oidc.Configuration,
  issuer: string,
  browser: Browser,
  params: Record<string, string> = {},
  credentials = { username: budi.nik, password: budi.password },
) {
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const nonce = oidc.randomNonce()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  })
  const callback = await signIn(browser, url.href, issuer, credentials)
  return { callback: new URL(callback), verifier, state, nonce }
}

t.test('an agency relying party signs a citizen in with openid-client', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer, app } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const client = await registerClient(db, {
      redirectUris: [redirectUri],
      postLogoutRedirectUris: ['http://127.0.0.1:9/bye'],
    })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const meta = config.serverMetadata()

    await t.test('discovery advertises only what we support', async (t) => {
      t.equal(meta.issuer, issuer)
      t.same(meta.response_types_supported, ['code'])
      t.same(meta.code_challenge_methods_supported, ['S256'])
      t.notOk(meta.grant_types_supported?.includes('password'))
      t.notOk(meta.grant_types_supported?.includes('implicit'))
      t.ok(meta.scopes_supported?.includes('nik'))
      t.ok(meta.backchannel_logout_supported)
      t.ok(meta.pushed_authorization_request_endpoint)
    })

    const browser = new Browser()
    const flow = await codeFlow(config, issuer, browser, {
      scope: 'openid profile email offline_access',
      prompt: 'consent',
    })
    t.equal(flow.callback.searchParams.get('state'), flow.state, 'state echoed byte for byte')
    const tokens = await oidc.authorizationCodeGrant(config, flow.callback, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
    })

    await t.test('the ID token is valid, for this citizen, with acr and amr', async (t) => {
      const claims = tokens.claims()
      t.ok(claims)
      t.equal(claims?.sub, citizen.id)
      t.equal(claims?.nonce, flow.nonce, 'nonce exact')
      t.equal(claims?.acr, 'urn:satupintu:acr:pwd')
      t.same(claims?.amr, ['pwd'])
      t.notOk('nik' in (claims ?? {}), 'no NIK without the nik scope')
      t.equal(decodeProtectedHeader(tokens.id_token as string).alg, 'ES256')
    })

    await t.test('userinfo returns the consented claims', async (t) => {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, citizen.id)
      t.equal(info.name, budi.name)
      t.equal(info.email, budi.email)
      t.equal(info.birthdate, budi.birthDate)
      t.notOk('nik' in info, 'nik only with its own scope')
    })

    await t.test(
      'refresh rotates the token; a lost response may be retried once inside the grace window; a later replay revokes the grant',
      async (t) => {
        t.ok(tokens.refresh_token, 'offline_access with consent gives a refresh token')
        const first = tokens.refresh_token as string
        const second = await oidc.refreshTokenGrant(config, first)
        t.not(second.refresh_token, first, 'rotated')
        // The app lost that response and retries a few seconds later (moved back in the
        // database rather than sleeping): served once, and the lost chain is revoked so
        // only one refresh chain lives.
        await sql`update oidc_payloads set consumed_at = consumed_at - interval '2 seconds' where model = 'RefreshToken' and id = ${first}`.execute(
          db.db,
        )
        const retry = await oidc.refreshTokenGrant(config, first)
        t.ok(retry.access_token, 'a retry inside the grace window is served')
        t.equal(
          await oauthError(oidc.refreshTokenGrant(config, second.refresh_token as string)),
          'invalid_grant',
          'the lost chain is dead',
        )
        t.equal(await oauthError(oidc.refreshTokenGrant(config, first)), 'invalid_grant', 'a second replay is refused')
        // That replay revoked the whole grant: the retry's refresh token is dead too.
        t.equal(await oauthError(oidc.refreshTokenGrant(config, retry.refresh_token as string)), 'invalid_grant')
      },
    )

    await t.test('introspection and revocation', async (t) => {
      const b = new Browser()
      const f = await codeFlow(config, issuer, b)
      const tk = await oidc.authorizationCodeGrant(config, f.callback, {
        pkceCodeVerifier: f.verifier,
        expectedState: f.state,
        expectedNonce: f.nonce,
      })
      const before = await oidc.tokenIntrospection(config, tk.access_token)
      t.equal(before.active, true)
      t.equal(before.sub, citizen.id)
      await oidc.tokenRevocation(config, tk.access_token)
      const after = await oidc.tokenIntrospection(config, tk.access_token)
      t.equal(after.active, false)
      await t.rejects(oidc.fetchUserInfo(config, tk.access_token, citizen.id))
    })

    await t.test('a pushed authorization request (PAR) works', async (t) => {
      const verifier = oidc.randomPKCECodeVerifier()
      const state = oidc.randomState()
      const url = await oidc.buildAuthorizationUrlWithPAR(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      })
      t.ok(url.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'))
      const cb = await signIn(new Browser(), url.href, issuer, { username: budi.nik, password: budi.password })
      const tk = await oidc.authorizationCodeGrant(config, new URL(cb), {
        pkceCodeVerifier: verifier,
        expectedState: state,
      })
      t.equal(tk.claims()?.sub, citizen.id)
    })

    await t.test('a token for the gateway resource is a JWT the gateway verifies with the JWKS', async (t) => {
      const b = new Browser()
      const f = await codeFlow(config, issuer, b, { resource: 'http://127.0.0.1:1' })
      const tk = await oidc.authorizationCodeGrant(
        config,
        f.callback,
        { pkceCodeVerifier: f.verifier, expectedState: f.state, expectedNonce: f.nonce },
        { resource: 'http://127.0.0.1:1' },
      )
      const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`))
      const { payload, protectedHeader } = await jwtVerify(tk.access_token, jwks, {
        issuer,
        audience: 'http://127.0.0.1:1',
        typ: 'at+jwt',
      })
      t.equal(protectedHeader.alg, 'ES256')
      t.equal(payload.sub, citizen.id)
      t.equal(payload.acr, 'urn:satupintu:acr:pwd')
      t.ok((payload.exp as number) - (payload.iat as number) <= 600, 'lifetime at most 10 minutes')
    })

    await t.test('RP-initiated logout with id_token_hint returns to the registered URI', async (t) => {
      const url = oidc.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token as string,
        post_logout_redirect_uri: 'http://127.0.0.1:9/bye',
        state: 'bye-1',
      })
      const page = await browser.request(url.href)
      t.equal(page.status, 200)
      const html = await page.text()
      t.match(html, /Keluar dari Satu Pintu\?/)
      const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? ''
      const done = await browser.request(`${issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
      t.equal(done.status, 303)
      t.equal(done.headers.get('location'), 'http://127.0.0.1:9/bye?state=bye-1')
    })

    void app
  })
})

t.test('client credentials for agency back-ends: a short JWT for the gateway resource', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const client = await registerClient(db, {
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['openid'],
    })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const tk = await oidc.clientCredentialsGrant(config, { scope: 'gateway' })
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`))
    const { payload } = await jwtVerify(tk.access_token, jwks, { issuer, audience: 'http://127.0.0.1:1' })
    t.equal(payload.client_id, client.clientId)
    t.equal(payload.sub, client.clientId)
    const wrong = await oidc.discovery(new URL(issuer), client.clientId, 'not-the-secret', undefined, insecure)
    t.equal(await oauthError(oidc.clientCredentialsGrant(wrong, { scope: 'gateway' })), 'invalid_client')
  })
})

t.test('back-channel logout reaches a relying party on 127.0.0.1 when its host is allowed', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { port, received } = await backchannelReceiver(t)
    const { issuer } = await startIdp(t, db, { idp: { backchannelLogoutHosts: ['127.0.0.1'] } })
    const citizen = await addCitizen(db.db)
    const client = await registerClient(db, {
      redirectUris: [redirectUri],
      backchannelLogoutUri: `http://127.0.0.1:${port}/backchannel`,
    })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const browser = new Browser()
    const f = await codeFlow(config, issuer, browser)
    const tk = await oidc.authorizationCodeGrant(config, f.callback, {
      pkceCodeVerifier: f.verifier,
      expectedState: f.state,
      expectedNonce: f.nonce,
    })
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: tk.id_token as string })
    const html = await (await browser.request(url.href)).text()
    const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? ''
    await browser.request(`${issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
    t.equal(received.length, 1, 'one logout token delivered')
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`))
    const { payload } = await jwtVerify(received[0] as string, jwks, {
      issuer,
      audience: client.clientId,
      typ: 'logout+jwt',
    })
    t.equal(payload.sub, citizen.id)
    t.ok(payload.sid, 'carries the session id')
    t.ok((payload.events as Record<string, unknown>)['http://schemas.openid.net/event/backchannel-logout'])
  })
})

t.test('key rotation while tokens are live: old tokens still verify, new ones use the new key', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer, app } = await startIdp(t, db)
    await addCitizen(db.db)
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const f1 = await codeFlow(config, issuer, new Browser())
    const before = await oidc.authorizationCodeGrant(config, f1.callback, {
      pkceCodeVerifier: f1.verifier,
      expectedState: f1.state,
      expectedNonce: f1.nonce,
    })
    const oldKid = decodeProtectedHeader(before.id_token as string).kid

    // Publish now and sign at once (the scheduled path is covered in keys.test.ts).
    await rotateKeys(db.db, testKek, 'oidc', { publishDelaySeconds: 0, retireAfterSeconds: 3600 })
    await app.reloadKeys()

    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`))
    await t.resolves(
      jwtVerify(before.id_token as string, jwks, { issuer, audience: client.clientId }),
      'the old token still verifies',
    )
    const f2 = await codeFlow(config, issuer, new Browser())
    const after = await oidc.authorizationCodeGrant(config, f2.callback, {
      pkceCodeVerifier: f2.verifier,
      expectedState: f2.state,
      expectedNonce: f2.nonce,
    })
    const newKid = decodeProtectedHeader(after.id_token as string).kid
    t.not(newKid, oldKid, 'new tokens are signed with the new key')
    await t.resolves(jwtVerify(after.id_token as string, jwks, { issuer, audience: client.clientId }))
  })
})
