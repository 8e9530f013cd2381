/**
 * Tokens only for whom they were issued (issue 10 §3; SECURITY.md line 33), end to end:
 * a real idp issues the tokens, the real gateway (buildGateway) checks them in front of
 * two agencies.
 */
import { createHash, randomUUID } from 'node:crypto'
import { exportJWK, SignJWT } from 'jose'
import * as oidc from 'openid-client'
import t from 'tap'
import { buildGateway } from '../../src/gateway/app.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { agencyOrigin, agencyTable, echo, json, startUpstream } from './harness.ts'

const gatewayUrl = 'https://layanan.sukamaju.go.id'
const originA = agencyOrigin('dinas-a')
const originB = agencyOrigin('dinas-b')
const insecure = { execute: [oidc.allowInsecureRequests] }
const redirectUri = 'http://127.0.0.1:9/cb'

t.test(
  'SECURITY 33: a token is accepted only at the agency it was issued for, from a client that agency allows; machine tokens never pass as a citizen',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db, { idp: { gatewayResource: gatewayUrl } })
      const citizen = await addCitizen(db.db)
      const up = await startUpstream(t, echo)
      const services = [{ path: '/', access: 'signed_in' as const }]
      const table = agencyTable([
        { id: 'dinas-a', upstream: up.url, appClients: ['app-a', 'mesin-a'], services },
        { id: 'dinas-b', upstream: up.url, appClients: ['app-b'], services },
      ])
      const config = testConfig({ gateway: { publicUrl: gatewayUrl }, idp: { issuer, gatewayResource: gatewayUrl } })
      const gw = await buildGateway({
        config,
        database: db,
        logger: silentLogger(),
        agencies: table,
        keyEncryption: testKek,
      })
      t.teardown(() => gw.close())

      const client = async (clientId: string, resources: string[], grant: 'code' | 'client_credentials' = 'code') => {
        const c = await registerClient(db, {
          clientId,
          redirectUris: grant === 'code' ? [redirectUri] : [],
          scopes: grant === 'code' ? ['openid', 'profile'] : ['openid'],
          ...(grant === 'code' ? {} : { grantTypes: ['client_credentials' as const] }),
          resources,
        })
        return oidc.discovery(new URL(issuer), c.clientId, c.secret, undefined, insecure)
      }
      const appA = await client('app-a', [originA])
      const appC = await client('app-c', [originA]) // registered for A's origin, but A does not list it
      const portalApp = await client('app-portal', [gatewayUrl])
      const machine = await client('mesin-a', [originA], 'client_credentials')

      /** A citizen's token for `resource`, or the error of the attempt. */
      async function citizenToken(app: oidc.Configuration, resource: string): Promise<string> {
        const verifier = oidc.randomPKCECodeVerifier()
        const state = oidc.randomState()
        const url = oidc.buildAuthorizationUrl(app, {
          redirect_uri: redirectUri,
          scope: 'openid profile',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          resource,
        })
        const cb = await signIn(new Browser(), url.href, issuer, { username: budi.nik, password: budi.password })
        const tokens = await oidc.authorizationCodeGrant(
          app,
          new URL(cb),
          { pkceCodeVerifier: verifier, expectedState: state },
          { resource },
        )
        return tokens.access_token
      }
      /** A call to an agency's own host: '/layanan/<agency>/x' names the agency and the path. */
      const call = (path: string, token: string) => {
        const m = /^\/layanan\/([a-z-]+)(\/.*)$/.exec(path) as RegExpExecArray
        return gw.inject({
          url: m[2] as string,
          headers: {
            host: `${m[1] as string}.layanan.sukamaju.go.id`,
            authorization: `Bearer ${token}`,
            accept: 'application/json',
          },
        })
      }

      await t.test(
        'an app client gets tokens for its registered resource, with that origin as the only audience',
        async (t) => {
          const token = await citizenToken(appA, originA)
          const [, payload] = token.split('.')
          const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString()) as Record<string, unknown>
          t.equal(claims.aud, originA)
          t.equal(claims.client_id, 'app-a')
          const ok = await call('/layanan/dinas-a/x', token)
          t.equal(ok.statusCode, 200, 'accepted at the agency it is for')
          t.equal(json<{ headers: Record<string, string> }>(ok.body).headers['x-citizen-sub'], citizen.id)
          const before = up.seen.length
          const other = await call('/layanan/dinas-b/x', token)
          t.equal(other.statusCode, 401, 'refused at another agency')
          t.match(
            other.headers['www-authenticate'],
            /error="invalid_token", error_description="The access token is not for this agency"/,
          )
          t.equal(up.seen.length, before, 'nothing reached the other agency')
        },
      )

      await t.test(
        "a DPoP-bound citizen token on an agency host: the proof must name that agency's own origin",
        async (t) => {
          const keyPair = await oidc.randomDPoPKeyPair('ES256', { extractable: true })
          const verifier = oidc.randomPKCECodeVerifier()
          const state = oidc.randomState()
          const url = oidc.buildAuthorizationUrl(appA, {
            redirect_uri: redirectUri,
            scope: 'openid profile',
            code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
            code_challenge_method: 'S256',
            state,
            resource: originA,
          })
          const cb = await signIn(new Browser(), url.href, issuer, { username: budi.nik, password: budi.password })
          const tokens = await oidc.authorizationCodeGrant(
            appA,
            new URL(cb),
            { pkceCodeVerifier: verifier, expectedState: state },
            { resource: originA },
            { DPoP: oidc.getDPoPHandle(appA, keyPair) },
          )
          t.equal(tokens.token_type, 'dpop', 'a DPoP-bound token')
          const jwk = await exportJWK(keyPair.publicKey)
          const ath = createHash('sha256').update(tokens.access_token).digest('base64url')
          const proof = (htu: string, htm = 'GET') =>
            new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), htm, htu, ath })
              .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
              .sign(keyPair.privateKey)
          const callA = async (htu: string, host = 'dinas-a.layanan.sukamaju.go.id') =>
            gw.inject({
              url: '/x',
              headers: {
                host,
                authorization: `DPoP ${tokens.access_token}`,
                dpop: await proof(htu),
                accept: 'application/json',
              },
            })

          const ok = await callA(`${originA}/x`)
          t.equal(ok.statusCode, 200, "a proof for this agency's URL")
          t.equal(json<{ headers: Record<string, string> }>(ok.body).headers['x-citizen-sub'], citizen.id)
          const before = up.seen.length
          for (const [what, htu] of [
            ["the same path on the portal's origin", `${gatewayUrl}/x`],
            ["the same path on another agency's origin", `${originB}/x`],
            ['the old shared-origin path', `${gatewayUrl}/layanan/dinas-a/x`],
            ['http instead of https', `${originA.replace('https:', 'http:')}/x`],
            ['another port', `${originA}:8443/x`],
          ] as const) {
            const res = await callA(htu)
            t.equal(res.statusCode, 401, what)
            t.match(
              res.headers['www-authenticate'],
              /^DPoP error="invalid_dpop_proof", error_description="The DPoP proof is for another URL"/,
              what,
            )
          }
          // A proof made for agency A, presented at agency B's host with A's token: refused on both counts.
          const atB = await callA(`${originA}/x`, 'dinas-b.layanan.sukamaju.go.id')
          t.equal(atB.statusCode, 401, "at another agency's host")
          t.equal(up.seen.length, before, 'no refused request reached an agency')
        },
      )

      await t.test('the idp refuses a resource the client is not registered for: invalid_target', async (t) => {
        // At the token endpoint (client credentials) ...
        const errorOf = (p: Promise<unknown>) =>
          p.then(
            () => 'issued',
            (err: unknown) => String((err as { error?: unknown }).error),
          )
        t.equal(
          await errorOf(oidc.clientCredentialsGrant(machine, { scope: 'gateway', resource: originB })),
          'invalid_target',
          "another agency's origin",
        )
        t.equal(
          await errorOf(oidc.clientCredentialsGrant(machine, { scope: 'gateway', resource: gatewayUrl })),
          'invalid_target',
          "the gateway's own resource",
        )
        // ... and at the authorization endpoint: the error goes back to the client, no sign-in.
        const url = oidc.buildAuthorizationUrl(appA, {
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
          state: 'st',
          resource: gatewayUrl,
        })
        const res = await fetch(url, { redirect: 'manual' })
        t.equal(res.status, 303)
        const back = new URL(res.headers.get('location') ?? '')
        t.equal(`${back.origin}${back.pathname}`, redirectUri)
        t.equal(back.searchParams.get('error'), 'invalid_target')
      })

      await t.test("a token for the gateway's own resource is not an agency token", async (t) => {
        const token = await citizenToken(portalApp, gatewayUrl)
        const res = await call('/layanan/dinas-a/x', token)
        t.equal(res.statusCode, 401)
        t.match(res.headers['www-authenticate'], /not for this agency/)
      })

      await t.test(
        "a client the agency does not list is refused, even with a token for the agency's origin",
        async (t) => {
          const token = await citizenToken(appC, originA)
          const res = await call('/layanan/dinas-a/x', token)
          t.equal(res.statusCode, 403)
          t.match(
            res.headers['www-authenticate'],
            /error="insufficient_scope", error_description="The client of this access token is not allowed at this agency"/,
          )
        },
      )

      await t.test(
        'a client credentials token never passes as a signed-in citizen, even from a listed client for the right origin',
        async (t) => {
          const cc = await oidc.clientCredentialsGrant(machine, { scope: 'gateway', resource: originA })
          const [, payload] = cc.access_token.split('.')
          const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString()) as Record<string, unknown>
          t.equal(claims.aud, originA, 'a valid token for this very agency')
          t.equal(claims.sub, 'mesin-a', 'the client is its own subject')
          const before = up.seen.length
          const res = await call('/layanan/dinas-a/x', cc.access_token)
          t.equal(res.statusCode, 401)
          t.match(res.headers['www-authenticate'], /A client credentials token does not sign a citizen in/)
          t.equal(up.seen.length, before, 'nothing reached the agency')
          const portal = await gw.inject({
            url: '/',
            headers: {
              host: 'layanan.sukamaju.go.id',
              authorization: `Bearer ${cc.access_token}`,
              accept: 'text/html',
            },
          })
          t.notMatch(portal.body, /Anda masuk sebagai/, 'nor at the portal')
        },
      )
    })
  },
)

t.test("SECURITY 33: a client's resources are validated when it is registered", async (t) => {
  const { prepareClient } = await import('../../src/idp/oidc/clients.ts')
  const base = {
    name: 'Aplikasi Uji',
    agencyId: 'dinas-uji',
    redirectUris: ['https://app.example/cb'],
    authMethod: 'client_secret_basic' as const,
  }
  const policy = { allowLoopbackHttp: false }
  for (const [resource, what] of [
    ['dinas-a', 'not an absolute URI'],
    ['https://dinas-a.example/#x', 'a fragment (RFC 8707 §2)'],
    ['http://dinas-a.example', 'plain http outside development'],
    ['https://*.example', 'a wildcard'],
  ] as const) {
    t.throws(() => prepareClient({ ...base, resources: [resource] }, policy), { name: 'ClientError' }, what)
  }
  const ok = prepareClient({ ...base, resources: ['https://dinas-a.example', 'https://dinas-a.example'] }, policy)
  t.same(ok.metadata['urn:satupintu:resources'], ['https://dinas-a.example'], 'stored once')
  t.same(
    prepareClient({ ...base, resources: ['http://dinas-a.localhost:8080'] }, { allowLoopbackHttp: true }).metadata[
      'urn:satupintu:resources'
    ],
    ['http://dinas-a.localhost:8080'],
    'a quick-start agency origin',
  )
})
