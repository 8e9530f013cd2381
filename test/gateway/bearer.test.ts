/**
 * Bearer and DPoP access tokens at the gateway: the verifier and the proof checks on their
 * own, then end to end with tokens from a real idp (and forged ones) against real
 * gateway instances on 127.0.0.1.
 */
import { createPublicKey, randomUUID, type JsonWebKey } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose'
import type { Kysely } from 'kysely'
import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.ts'
import { createGatewayAuth } from '../../src/gateway/auth/authenticate.ts'
import { meets } from '../../src/gateway/auth/identity.ts'
import {
  authChallenge,
  createAccessTokenVerifier,
  InvalidTokenError,
  presentedToken,
  tokenHash,
} from '../../src/gateway/auth/bearer.ts'
import type { Requirement } from '../../src/gateway/contracts.ts'
import { DpopError, verifyDpopProof } from '../../src/gateway/auth/dpop.ts'
import { createBaseApp } from '../../src/http/app.ts'
import { registerPages } from '../../src/http/pages.ts'
import { loadKeys } from '../../src/keys/keys.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { agencyTable, levelLifetimes, portalOnly } from './harness.ts'
import { RevocationSet } from '../../src/gateway/auth/revocations.ts'

const loa2 = 'urn:satupintu:loa:2'
const now = () => Math.floor(Date.now() / 1000)

// ---------------------------------------------------------------------------------------
// The verifier alone, with a local key set.

async function localIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
  const pub = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
  const local = createLocalJWKSet({ keys: [pub] })
  let lookups = 0
  const jwks: JWTVerifyGetKey = (header, token) => {
    lookups++
    return local(header, token)
  }
  const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) => {
    const payload = {
      iss: 'https://idp.example',
      aud: 'https://gw.example',
      sub: 'citizen-1',
      iat: now(),
      exp: now() + 300,
      client_id: 'app',
      scope: 'openid profile',
      ...claims,
    }
    return new SignJWT(Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined)))
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt', ...header })
      .sign(privateKey)
  }
  return { jwks, sign, lookups: () => lookups }
}

t.test('the access token verifier', async (t) => {
  const idp = await localIssuer()
  const verifier = createAccessTokenVerifier({
    audience: 'https://gw.example',
    keys: async () => ({ issuer: 'https://idp.example', jwks: idp.jwks }),
    cacheSize: 2,
  })

  await t.test('a valid token gives the identity it carries', async (t) => {
    const signedInAt = now() - 60
    const token = await idp.sign({
      acr: 'urn:satupintu:loa:1',
      amr: ['pwd'],
      auth_time: signedInAt,
      name: 'Budi',
      cnf: undefined,
      secret_internal: 'x',
    })
    const v = await verifier.verify(token)
    t.same(v.identity, {
      via: 'bearer',
      sub: 'citizen-1',
      acr: 'urn:satupintu:loa:1',
      authTime: signedInAt,
      lastUsedAt: undefined,
      amr: ['pwd'],
      scopes: ['openid', 'profile'],
      claims: { name: 'Budi' },
      clientId: 'app',
      audience: ['https://gw.example'],
      sessionId: undefined,
    })
    t.equal(v.jkt, undefined)
    t.equal(v.hash, tokenHash(token))
  })

  await t.test('SECURITY 33: a client credentials token is a client, never a citizen, by either marker', async (t) => {
    const signIn = { acr: 'urn:satupintu:loa:1', auth_time: now() - 60 }
    t.equal(
      (await verifier.verify(await idp.sign({ ...signIn }))).identity.via,
      'bearer',
      'a citizen: sign-in claims and a subject of its own',
    )
    // oidc-provider writes sub = client_id for a token without an account (client credentials).
    t.equal(
      (await verifier.verify(await idp.sign({ sub: 'app', client_id: 'app' }))).identity.via,
      'client',
      'the client as its subject, no sign-in',
    )
    t.equal(
      (await verifier.verify(await idp.sign({ ...signIn, sub: 'app', client_id: 'app' }))).identity.via,
      'client',
      'the client as its subject, even with sign-in claims',
    )
    t.equal(
      (await verifier.verify(await idp.sign({ sub: 'citizen-9' }))).identity.via,
      'client',
      'no auth_time and acr: no sign-in behind it',
    )
    t.equal(
      (await verifier.verify(await idp.sign({ sub: 'citizen-9', acr: 'urn:satupintu:loa:1' }))).identity.via,
      'client',
      'acr without auth_time',
    )
    t.equal(
      (await verifier.verify(await idp.sign({ sub: 'citizen-9', auth_time: now() }))).identity.via,
      'client',
      'auth_time without acr',
    )
    t.notOk(
      meets((await verifier.verify(await idp.sign({ sub: 'app', client_id: 'app' }))).identity, {}, levelLifetimes),
      'a client meets no citizen requirement, not even none',
    )
  })

  await t.test('a token seen before is served from the cache, which stays bounded', async (t) => {
    const token = await idp.sign({})
    const before = idp.lookups()
    await verifier.verify(token)
    await verifier.verify(token)
    await verifier.verify(token)
    t.equal(idp.lookups() - before, 1, 'one signature check for three requests')
    await verifier.verify(await idp.sign({ n: 1 }))
    await verifier.verify(await idp.sign({ n: 2 }))
    t.equal(verifier.cacheSize, 2, 'never more than cacheSize tokens')
  })

  await t.test(
    'on one connection, the last token is served again, and another token is verified on its own',
    async (t) => {
      const connection = {}
      const first = await idp.sign({ name: 'Budi' })
      const second = await idp.sign({ name: 'Siti' })
      const before = idp.lookups()
      const a = await verifier.verify(first, connection)
      t.equal(await verifier.verify(first, connection), a, 'the same verification again')
      t.equal(idp.lookups() - before, 1)
      const b = await verifier.verify(second, connection)
      t.equal(b.identity.claims.name, 'Siti', 'never the identity of the token sent before on that connection')
      await t.rejects(
        verifier.verify(`${second.slice(0, -2)}AA`, connection),
        InvalidTokenError,
        'a tampered token is verified, not matched',
      )
    },
  )

  await t.test('exp and nbf have a leeway of 30 seconds, no more', async (t) => {
    await t.resolves(verifier.verify(await idp.sign({ exp: now() - 20 })), 'expired 20 s ago: within the leeway')
    await t.rejects(
      verifier.verify(await idp.sign({ exp: now() - 40 })),
      new InvalidTokenError('The access token expired'),
    )
    await t.rejects(
      verifier.verify(await idp.sign({ nbf: now() + 60 })),
      new InvalidTokenError('The access token is not valid yet'),
    )
  })

  await t.test('refuses tokens that are not access tokens for us', async (t) => {
    const cases: [string, Promise<string>, string][] = [
      ['another audience', idp.sign({ aud: 'https://other.example' }), 'The access token is not for this gateway'],
      ['another issuer', idp.sign({ iss: 'https://evil.example' }), 'The access token is from another issuer'],
      ['typ JWT (an ID token)', idp.sign({}, { typ: 'JWT' }), 'The token is not an access token'],
      ['no client_id', idp.sign({ client_id: undefined }), 'The access token claims are not valid'],
      [
        'an unknown confirmation method',
        idp.sign({ cnf: { 'x5t#S256': 'abc' } }),
        'The access token is bound in a way this gateway does not support',
      ],
      ['an unknown kid', idp.sign({}, { kid: 'k2' }), 'The access token is signed with an unknown key'],
    ]
    for (const [what, token, description] of cases) {
      await t.rejects(verifier.verify(await token), new InvalidTokenError(description), what)
    }
  })

  await t.test('reads Bearer and DPoP Authorization headers and leaves other schemes alone', async (t) => {
    t.same(presentedToken('Bearer abc.def.ghi'), { scheme: 'Bearer', token: 'abc.def.ghi' })
    t.same(presentedToken('bearer   abc.def.ghi'), { scheme: 'Bearer', token: 'abc.def.ghi' })
    t.same(presentedToken('DPoP abc.def.ghi'), { scheme: 'DPoP', token: 'abc.def.ghi' })
    t.equal(presentedToken('Basic dXNlcjpwYXNz'), undefined, "an agency's own Basic auth is not ours to judge")
    t.equal(presentedToken(undefined), undefined)
    t.throws(() => presentedToken('Bearer'), InvalidTokenError)
    t.throws(() => presentedToken('Bearer a b'), InvalidTokenError)
    t.throws(() => presentedToken(`Bearer ${'a'.repeat(9000)}`), InvalidTokenError)
  })

  await t.test('WWW-Authenticate values cannot be broken by what they quote', async (t) => {
    t.equal(
      authChallenge('Bearer', { error: 'invalid_token', error_description: 'a "quoted" \\ value\n' }),
      'Bearer error="invalid_token", error_description="a quoted  value"',
    )
    t.equal(authChallenge('DPoP', {}), 'DPoP')
  })
})

// ---------------------------------------------------------------------------------------
// DPoP proofs alone.

interface ProofKey {
  privateKey: CryptoKey
  jwk: JWK
  jkt: string
}

async function proofKey(): Promise<ProofKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const { calculateJwkThumbprint } = await import('jose')
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) }
}

function makeProof(
  key: ProofKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ jti: randomUUID(), iat: now(), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header })
    .sign(key.privateKey)
}

t.test('DPoP proofs (RFC 9449 §4.3)', async (t) => {
  const key = await proofKey()
  const url = 'https://gw.example/layanan/a/b'
  const ath = tokenHash('the.access.token')
  const expect = { method: 'GET', url, accessTokenHash: ath, jkt: key.jkt }
  const seen = new Set<string>()
  const replay = async (jti: string) => {
    if (seen.has(jti)) return false
    seen.add(jti)
    return true
  }
  const good = { htm: 'GET', htu: url, ath }

  await t.resolves(verifyDpopProof(await makeProof(key, good), expect, replay), 'a good proof')
  await t.resolves(
    verifyDpopProof(await makeProof(key, { ...good, htu: `${url}?q=1` }), expect, replay),
    'the query is not compared',
  )

  const other = await proofKey()
  const hsKey = new TextEncoder().encode('x'.repeat(32))
  const cases: [string, Promise<string>, string][] = [
    ['another method', makeProof(key, { ...good, htm: 'POST' }), 'The DPoP proof is for another method'],
    [
      'another URL',
      makeProof(key, { ...good, htu: 'https://gw.example/layanan/a/c' }),
      'The DPoP proof is for another URL',
    ],
    [
      'another host',
      makeProof(key, { ...good, htu: 'https://evil.example/layanan/a/b' }),
      'The DPoP proof is for another URL',
    ],
    ['too old', makeProof(key, { ...good, iat: now() - 120 }), 'The DPoP proof is too old or from the future'],
    ['from the future', makeProof(key, { ...good, iat: now() + 120 }), 'The DPoP proof is too old or from the future'],
    [
      'for another token',
      makeProof(key, { ...good, ath: tokenHash('another') }),
      'The DPoP proof is for another access token',
    ],
    ['without ath', makeProof(key, { htm: 'GET', htu: url }), 'The DPoP proof is for another access token'],
    [
      'signed with a key the token is not bound to',
      makeProof(other, good),
      'The DPoP proof is signed with a key the token is not bound to',
    ],
    ['typ JWT', makeProof(key, good, { typ: 'JWT' }), 'The DPoP proof is not valid'],
    [
      'a private key in the jwk header',
      (async () => makeProof(key, good, { jwk: await exportJWK(key.privateKey) }))(),
      'The DPoP proof is not valid',
    ],
    [
      'HS256',
      new SignJWT({ ...good, jti: randomUUID(), iat: now() })
        .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk })
        .sign(hsKey),
      'The DPoP proof is not valid',
    ],
  ]
  for (const [what, proof, description] of cases) {
    await t.rejects(verifyDpopProof(await proof, expect, replay), new DpopError(description), what)
  }
  const once = await makeProof(key, good)
  await verifyDpopProof(once, expect, replay)
  await t.rejects(
    verifyDpopProof(once, expect, replay),
    new DpopError('The DPoP proof was already used'),
    'a replayed proof',
  )
})

// ---------------------------------------------------------------------------------------
// End to end: a real idp, real gateway instances.

function needOf(url: string): Requirement {
  const seg = url.split('/')[3] ?? ''
  if (seg === 'loa2') return { acr: loa2 }
  if (seg.startsWith('scope-')) return { scopes: [seg.slice(6)] }
  return {}
}

async function startGateway(
  t: Test,
  db: Kysely<Database>,
  o: { publicUrl: string; port?: number; issuer: string; trustProxy?: string[] },
): Promise<string> {
  const port = o.port ?? (await freePort())
  const config = testConfig({
    idp: { issuer: o.issuer, gatewayResource: o.publicUrl },
    gateway: { publicUrl: o.publicUrl, port },
    http: { trustProxy: o.trustProxy ?? [] },
  })
  const app = createBaseApp({ config, logger: silentLogger() })
  await registerPages(app, { config, templateDirs: [] })
  const auth = await createGatewayAuth(app, {
    config,
    db,
    logger: silentLogger(),
    kek: testKek,
    clientSecret: undefined,
    table: agencyTable([], { timeoutMs: 5000, maxBodyBytes: 1024, publicUrl: o.publicUrl }),
    sites: portalOnly(o.publicUrl),
    revoked: new RevocationSet(),
  })
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const need = needOf(req.url)
    const identity = await auth.identify(req)
    // /layanan/uji/mesin/…: a route for clients' own tokens (as GET /dokumen/<token> is).
    const forClients = req.url.split('/')[3] === 'mesin'
    if (forClients && identity?.via === 'client')
      return { via: identity.via, sub: identity.sub, scopes: identity.scopes, clientId: identity.clientId ?? null }
    if (!meets(identity, need, levelLifetimes)) return auth.challenge(req, reply, need, identity)
    return {
      via: identity.via,
      sub: identity.sub,
      acr: identity.acr,
      scopes: identity.scopes,
      clientId: identity.clientId ?? null,
    }
  }
  app.get('/layanan/uji/*', handler)
  app.post('/layanan/uji/*', handler)
  await app.listen({ host: '127.0.0.1', port })
  t.teardown(() => app.close())
  return `http://127.0.0.1:${port}`
}

/** A JWT signed with one of the idp's own keys, or (kid unknown) a stranger's. */
async function idpSigned(
  db: TestDatabase,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const { jwks } = await loadKeys(db.db, testKek, 'oidc')
  const jwk = jwks.find((k) => k.alg === 'ES256') as JWK
  return new SignJWT(Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined)))
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid ?? '', typ: 'at+jwt', ...header })
    .sign(await importJWK(jwk, 'ES256'))
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url')
}

t.test('bearer and DPoP tokens from the idp at the gateway', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const port = await freePort()
    const publicUrl = `http://127.0.0.1:${port}`
    const { issuer } = await startIdp(t, db, { idp: { gatewayResource: publicUrl } })
    const citizen = await addCitizen(db.db)
    const gw = await startGateway(t, db.db, { publicUrl, port, issuer, trustProxy: ['10.9.8.7'] })
    const gw2 = await startGateway(t, db.db, { publicUrl, issuer })
    const insecure = { execute: [oidc.allowInsecureRequests] }

    // An app signs the citizen in and gets a JWT access token for the gateway.
    const app = await registerClient(db, {
      redirectUris: ['http://127.0.0.1:9/cb'],
      scopes: ['openid', 'profile'],
      resources: [publicUrl],
    })
    const appConfig = await oidc.discovery(new URL(issuer), app.clientId, app.secret, undefined, insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const authUrl = oidc.buildAuthorizationUrl(appConfig, {
      redirect_uri: 'http://127.0.0.1:9/cb',
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      resource: publicUrl,
    })
    const cb = await signIn(new Browser(), authUrl.href, issuer, { username: budi.nik, password: budi.password })
    const tokens = await oidc.authorizationCodeGrant(
      appConfig,
      new URL(cb),
      { pkceCodeVerifier: verifier, expectedState: state },
      { resource: publicUrl },
    )
    const accessToken = tokens.access_token
    const call = (url: string, headers: Record<string, string>, method = 'GET') =>
      fetch(url, { method, headers: { accept: 'application/json', ...headers } })

    await t.test('a valid access token is accepted, by every instance', async (t) => {
      for (const base of [gw, gw2]) {
        const res = await call(`${base}/layanan/uji/biasa`, { authorization: `Bearer ${accessToken}` })
        t.equal(res.status, 200)
        const body = (await res.json()) as Record<string, unknown>
        t.equal(body.via, 'bearer')
        t.equal(body.sub, citizen.id)
        t.equal(body.clientId, app.clientId)
        t.equal(body.acr, 'urn:satupintu:acr:pwd')
      }
    })

    await t.test('a scope the token lacks: 403 insufficient_scope', async (t) => {
      const res = await call(`${gw}/layanan/uji/scope-gateway`, { authorization: `Bearer ${accessToken}` })
      t.equal(res.status, 403)
      t.equal(
        res.headers.get('www-authenticate'),
        'Bearer error="insufficient_scope", error_description="The access token does not have the scope this service needs", scope="gateway"',
      )
      t.equal(((await res.json()) as Record<string, unknown>).error, 'forbidden')
    })

    await t.test(
      'a level the token lacks: 401 insufficient_user_authentication with acr_values (RFC 9470)',
      async (t) => {
        const res = await call(`${gw}/layanan/uji/loa2`, { authorization: `Bearer ${accessToken}` })
        t.equal(res.status, 401)
        t.equal(
          res.headers.get('www-authenticate'),
          `Bearer error="insufficient_user_authentication", error_description="A higher level of sign-in assurance is required", acr_values="${loa2}"`,
        )
      },
    )

    await t.test(
      'a level reached too long ago: 401 with max_age, while a recent one serves (RFC 9470, issue 14)',
      async (t) => {
        const claims = (authTime: number) => ({
          iss: issuer,
          aud: publicUrl,
          sub: citizen.id,
          client_id: app.clientId,
          scope: 'openid profile',
          acr: 'urn:satupintu:acr:mfa',
          auth_time: authTime,
          iat: now(),
          exp: now() + 300,
          jti: randomUUID(),
        })
        const recent = await idpSigned(db, claims(now() - 3_600))
        t.equal((await call(`${gw}/layanan/uji/loa2`, { authorization: `Bearer ${recent}` })).status, 200)
        // Two factors 12 hours ago stand for the password level only (signInLevels.mfaSeconds).
        const aged = await idpSigned(db, claims(now() - 43_200 - 5))
        const res = await call(`${gw}/layanan/uji/loa2`, { authorization: `Bearer ${aged}` })
        t.equal(res.status, 401)
        t.equal(
          res.headers.get('www-authenticate'),
          `Bearer error="insufficient_user_authentication", error_description="A more recent sign-in is required for this level of assurance", acr_values="${loa2}", max_age="43200"`,
        )
        t.equal(
          (await call(`${gw}/layanan/uji/biasa`, { authorization: `Bearer ${aged}` })).status,
          200,
          'still good where the password level is enough',
        )
      },
    )

    await t.test('refuses forged, expired and foreign tokens with 401 invalid_token', async (t) => {
      const good = {
        iss: issuer,
        aud: publicUrl,
        sub: citizen.id,
        client_id: app.clientId,
        scope: 'openid profile',
        acr: 'urn:satupintu:loa:1',
        auth_time: now() - 60,
        iat: now(),
        exp: now() + 300,
        jti: randomUUID(),
      }
      t.equal(
        (await call(`${gw}/layanan/uji/biasa`, { authorization: `Bearer ${await idpSigned(db, good)}` })).status,
        200,
        'the forging helper signs like the idp',
      )
      const { jwks } = await loadKeys(db.db, testKek, 'oidc')
      const es = jwks.find((k) => k.alg === 'ES256') as JWK
      const { d: _d, ...publicJwk } = es
      const pem = createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString()
      const stranger = await generateKeyPair('ES256')
      const cases: [string, string | Promise<string>][] = [
        ['wrong aud', idpSigned(db, { ...good, aud: 'http://127.0.0.1:1' })],
        ['expired', idpSigned(db, { ...good, iat: now() - 900, exp: now() - 600 })],
        ['another issuer', idpSigned(db, { ...good, iss: 'http://127.0.0.1:9' })],
        ['an ID token (typ JWT)', idpSigned(db, good, { typ: 'JWT' })],
        [
          'unknown kid',
          new SignJWT(good)
            .setProtectedHeader({ alg: 'ES256', kid: 'unknown-kid', typ: 'at+jwt' })
            .sign(stranger.privateKey),
        ],
        [
          'a known kid, a stranger key',
          new SignJWT(good)
            .setProtectedHeader({ alg: 'ES256', kid: es.kid ?? '', typ: 'at+jwt' })
            .sign(stranger.privateKey),
        ],
        ['alg none', `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(good)}.`],
        [
          'HS256 with the public key as secret',
          new SignJWT(good)
            .setProtectedHeader({ alg: 'HS256', kid: es.kid ?? '', typ: 'at+jwt' })
            .sign(new TextEncoder().encode(pem)),
        ],
        [
          'a tampered payload',
          (async () => {
            const [h, , sig] = (await idpSigned(db, good)).split('.')
            return `${h}.${b64({ ...good, sub: 'someone-else' })}.${sig}`
          })(),
        ],
      ]
      for (const [what, token] of cases) {
        const res = await call(`${gw}/layanan/uji/biasa`, { authorization: `Bearer ${await token}` })
        t.equal(res.status, 401, what)
        t.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token", error_description="[^"]+"$/, what)
      }
    })

    await t.test('DPoP-bound tokens need a fresh proof for this request, once', async (t) => {
      const cc = await registerClient(db, {
        redirectUris: [],
        grantTypes: ['client_credentials'],
        scopes: ['openid'],
        resources: [publicUrl],
      })
      const ccConfig = await oidc.discovery(new URL(issuer), cc.clientId, cc.secret, undefined, insecure)
      const keyPair = await oidc.randomDPoPKeyPair('ES256', { extractable: true })
      const bound = await oidc.clientCredentialsGrant(
        ccConfig,
        { scope: 'gateway' },
        { DPoP: oidc.getDPoPHandle(ccConfig, keyPair) },
      )
      t.equal(bound.token_type, 'dpop')
      const jwk = await exportJWK(keyPair.publicKey)
      const key: ProofKey = { privateKey: keyPair.privateKey, jwk, jkt: '' }
      const url = `${publicUrl}/layanan/uji/mesin`
      const proofFor = (over: Record<string, unknown> = {}) =>
        makeProof(key, { htm: 'GET', htu: url, ath: tokenHash(bound.access_token), ...over })
      const target = `${gw}/layanan/uji/mesin`

      const ok = await call(target, { authorization: `DPoP ${bound.access_token}`, dpop: await proofFor() })
      t.equal(ok.status, 200, 'token and proof')
      t.equal(((await ok.json()) as Record<string, unknown>).sub, cc.clientId)

      let res = await call(target, { authorization: `Bearer ${bound.access_token}` })
      t.equal(res.status, 401, 'used as a plain bearer token')
      t.match(res.headers.get('www-authenticate'), /^DPoP error="invalid_token"/)
      res = await call(target, { authorization: `DPoP ${bound.access_token}` })
      t.equal(res.status, 401, 'without a proof')
      t.match(
        res.headers.get('www-authenticate'),
        /^DPoP error="invalid_dpop_proof", error_description="A single DPoP proof is required", algs="ES256 EdDSA"$/,
      )

      const proof = await proofFor()
      t.equal((await call(target, { authorization: `DPoP ${bound.access_token}`, dpop: proof })).status, 200)
      res = await call(target, { authorization: `DPoP ${bound.access_token}`, dpop: proof })
      t.equal(res.status, 401, 'the same proof again')
      t.match(res.headers.get('www-authenticate'), /error_description="The DPoP proof was already used"/)
      const crossProof = await proofFor()
      t.equal((await call(target, { authorization: `DPoP ${bound.access_token}`, dpop: crossProof })).status, 200)
      t.equal(
        (await call(`${gw2}/layanan/uji/mesin`, { authorization: `DPoP ${bound.access_token}`, dpop: crossProof }))
          .status,
        401,
        'replayed at another instance',
      )

      res = await call(target, {
        authorization: `DPoP ${bound.access_token}`,
        dpop: await proofFor({ htu: `${publicUrl}/layanan/uji/biasa` }),
      })
      t.equal(res.status, 401, 'a proof for another URL')
      t.match(res.headers.get('www-authenticate'), /error_description="The DPoP proof is for another URL"/)
      res = await call(target, { authorization: `DPoP ${bound.access_token}`, dpop: await proofFor({ htm: 'POST' }) })
      t.equal(res.status, 401, 'a proof for another method')

      // SECURITY 17: the public URL is ours, not what an untrusted peer claims.
      const spoof = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }
      res = await call(target, {
        authorization: `DPoP ${bound.access_token}`,
        dpop: await proofFor({ htu: 'https://evil.example/layanan/uji/mesin' }),
        ...spoof,
      })
      t.equal(res.status, 401, 'a proof for the spoofed host')
      res = await call(target, { authorization: `DPoP ${bound.access_token}`, dpop: await proofFor(), ...spoof })
      t.equal(res.status, 200, 'a proof for the real public URL, whatever the spoofed headers say')

      res = await call(`${gw}/layanan/uji/biasa`, {
        authorization: `DPoP ${accessToken}`,
        dpop: await proofFor({ htu: `${publicUrl}/layanan/uji/biasa`, ath: tokenHash(accessToken) }),
      })
      t.equal(res.status, 401, 'the DPoP scheme with a token that is not bound')

      const rows = await db.db.selectFrom('gateway_jtis').selectAll().where('kind', '=', 'dpop').execute()
      t.ok(rows.length >= 4, 'used proofs are remembered in the shared table')
      t.ok(
        rows.every((r) => r.expires_at.getTime() <= Date.now() + 70_000),
        'only for as long as a proof could pass the iat check',
      )
    })
  })
})
