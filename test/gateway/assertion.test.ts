import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose'
import t, { type Test } from 'tap'
import { buildDemoAgency } from '../../examples/demo-agency/app.ts'
import { assertionType, createAssertionSigner, refreshBeforeSeconds } from '../../src/gateway/proxy/assertion.ts'
import type { AssertionSigner } from '../../src/gateway/contracts.ts'
import { rotateKeys } from '../../src/keys/keys.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { testKek } from '../helpers/idp.ts'
import { agencyTable, FakeAuth, identity, request, startGateway } from './harness.ts'

const [agencyA, agencyB, agencyNik] = agencyTable([
  { id: 'dinas-a', upstream: 'http://127.0.0.1:1', services: [{ path: '/', access: 'signed_in' }] },
  { id: 'dinas-contoh', upstream: 'http://127.0.0.1:2', services: [{ path: '/', access: 'signed_in' }] },
  { id: 'dinas-nik', upstream: 'http://127.0.0.1:3', releaseNik: true, services: [{ path: '/', access: 'signed_in' }] },
]).agencies
if (!agencyA || !agencyB || !agencyNik) throw new Error('agency table')

const publicUrl = 'https://layanan.sukamaju.go.id'

function signerFor(
  db: TestDatabase,
  now?: () => number,
  overrides: Record<string, unknown> = {},
): Promise<AssertionSigner> {
  const config = testConfig({ gateway: { publicUrl: `${publicUrl}/`, assertionSeconds: 60, ...overrides } })
  return createAssertionSigner({ db: db.db, kek: testKek, config, logger: silentLogger(), ...(now ? { now } : {}) })
}

t.test('the assertion: ES256, explicitly typed, with the documented claims and nothing more', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const signer = await signerFor(db)
    const token = await signer.sign(identity(), agencyA, { documents: [] })
    const header = decodeProtectedHeader(token)
    t.same(Object.keys(header).sort(), ['alg', 'kid', 'typ'])
    t.equal(header.alg, 'ES256')
    t.equal(header.typ, assertionType)
    t.match(header.kid, /^gateway-es256-/)
    const { payload } = await jwtVerify(token, createLocalJWKSet(signer.jwks()), {
      issuer: publicUrl,
      audience: 'dinas-a',
      typ: assertionType,
      algorithms: ['ES256'],
    })
    t.same(Object.keys(payload).sort(), [
      'acr',
      'amr',
      'aud',
      'auth_time',
      'documents',
      'exp',
      'iat',
      'iss',
      'jti',
      'name',
      'sub',
    ])
    t.equal(payload.iss, publicUrl, 'the issuer is the gateway URL without a trailing slash')
    t.equal(payload.sub, 'sub-budi-0001')
    t.equal(payload.acr, 'urn:satupintu:loa:1')
    t.same(payload.amr, ['pwd'])
    t.equal(payload.name, 'Budi Santoso')
    t.equal(payload.nik, undefined, 'no NIK for an agency that is not configured for it')
    t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 60)
    t.match(payload.jti, /^[A-Za-z0-9_-]{22}$/)
    const withNik = await jwtVerify(await signer.sign(identity(), agencyNik), createLocalJWKSet(signer.jwks()))
    t.equal(withNik.payload.nik, '3201010101900001')
  })
})

t.test('the lifetime is gateway.assertionSeconds, and the configuration refuses more than 60 s', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const signer = await signerFor(db, undefined, { assertionSeconds: 20 })
    const { payload } = await jwtVerify(await signer.sign(identity(), agencyA), createLocalJWKSet(signer.jwks()))
    t.equal((payload.exp ?? 0) - (payload.iat ?? 0), 20)
    t.throws(() => testConfig({ gateway: { assertionSeconds: 61 } }), /gateway\.assertionSeconds/)
  })
})

t.test('the JWKS publishes public keys only', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const signer = await signerFor(db)
    const keys = signer.jwks().keys
    t.equal(keys.length, 1)
    for (const k of keys) {
      t.same(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'])
      t.equal(k.d, undefined)
    }
  })
})

t.test(
  'an assertion is reused while it has life left, re-signed before it runs out, never served past exp',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      let now = Date.parse('2026-03-01T08:00:00Z')
      const signer = await signerFor(db, () => now)
      const session = identity({ via: 'session', sessionId: 'sess-1', clientId: undefined })
      const first = await signer.sign(session, agencyA)
      now += 10_000
      t.equal(await signer.sign(session, agencyA), first, 'reused 10 s later')
      t.not(await signer.sign({ ...session, sessionId: 'sess-2' }, agencyA), first, 'not shared with another session')
      t.not(await signer.sign(session, agencyB), first, 'not shared with another agency')
      t.not(
        await signer.sign(session, agencyA, { documents: ['x'] }),
        first,
        'not shared across different extra claims',
      )
      now += 60_000 - 10_000 - refreshBeforeSeconds(60) * 1000 + 1000
      const second = await signer.sign(session, agencyA)
      t.not(second, first, 'signed afresh once less than the refresh window is left')
      const { payload } = await jwtVerify(second, createLocalJWKSet(signer.jwks()), { currentDate: new Date(now) })
      t.ok(
        (payload.exp ?? 0) * 1000 - now >= refreshBeforeSeconds(60) * 1000,
        'a served assertion always has the refresh window left',
      )
    })
  },
)

t.test(
  'two gateway instances share one key; a rotated key is picked up by reload() and the old one stays published',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const one = await signerFor(db)
      const two = await signerFor(db)
      t.same(one.jwks(), two.jwks(), 'the second instance did not create a key of its own')
      const before = await one.sign(identity(), agencyA)
      const oldKid = decodeProtectedHeader(before).kid
      await rotateKeys(db.db, testKek, 'gateway', { publishDelaySeconds: 0, retireAfterSeconds: 120 })
      await one.reload()
      const kids = one.jwks().keys.map((k) => k.kid)
      t.equal(kids.length, 2, 'new and retiring keys are both published')
      t.ok(kids.includes(oldKid))
      const after = await one.sign(identity(), agencyA)
      t.not(
        decodeProtectedHeader(after).kid,
        oldKid,
        'the new key signs at once (no cached assertion of the old key is handed out)',
      )
      // An agency holding the new JWKS still accepts what the old key signed.
      await jwtVerify(before, createLocalJWKSet(one.jwks()), { audience: 'dinas-a' })
    })
  },
)

/** Serves a signer's JWKS where the demo agency fetches it. */
async function jwksServer(t: Test, signer: AssertionSigner): Promise<string> {
  const app = Fastify()
  app.get('/.well-known/jwks.json', async () => signer.jwks())
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/.well-known/jwks.json`
}

async function demoAgency(t: Test, jwksUrl: string, withOidc = false) {
  const app = await buildDemoAgency({
    logger: silentLogger(),
    gateway: { url: publicUrl, agencyId: 'dinas-contoh', jwksUrl },
    ...(withOidc
      ? {
          oidc: {
            issuer: 'http://127.0.0.1:1',
            clientId: 'x',
            clientSecret: 'y'.repeat(32),
            baseUrl: 'http://127.0.0.1:8081',
          },
        }
      : {}),
  })
  t.teardown(() => app.close())
  return app
}

t.test(
  "SECURITY 21: agency B refuses agency A's assertion (aud) and an expired one (exp); the demo backend shows how",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const signer = await signerFor(db)
      const past = await signerFor(db, () => Date.now() - 120_000)
      const demo = await demoAgency(t, await jwksServer(t, signer))
      const get = (assertion?: string) =>
        demo.inject({ url: '/', headers: assertion === undefined ? {} : { 'x-satupintu-assertion': assertion } })

      const ok = await get(await signer.sign(identity(), agencyB))
      t.equal(ok.statusCode, 200)
      t.match(ok.body, /Halo, Budi Santoso/)
      t.match(ok.body, /urn:satupintu:loa:1/)

      const replayed = await get(await signer.sign(identity(), agencyA))
      t.equal(replayed.statusCode, 401, 'an assertion for agency A is refused by agency B')
      t.match(replayed.body, /instansi lain/)
      t.match(replayed.body, /<code>aud<\/code>/)

      const expired = await get(await past.sign(identity(), agencyB))
      t.equal(expired.statusCode, 401, 'an expired assertion is refused')
      t.match(expired.body, /kedaluwarsa/)
      t.match(expired.body, /<code>exp<\/code>/)

      const good = await signer.sign(identity(), agencyB)
      const [h, p, s] = good.split('.')
      const forgedPayload = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(p ?? '', 'base64url').toString()), sub: 'orang-lain' }),
      ).toString('base64url')
      t.equal((await get(`${h}.${forgedPayload}.${s}`)).statusCode, 401, 'a changed payload fails the signature')
      t.equal(
        (
          await get(
            new UnsecuredJWT({ sub: 'x' })
              .setIssuer(publicUrl)
              .setAudience('dinas-contoh')
              .setIssuedAt()
              .setExpirationTime('1m')
              .encode(),
          )
        ).statusCode,
        401,
        'alg none',
      )
      const stranger = await generateKeyPair('ES256')
      const foreign = await new SignJWT({ acr: 'urn:satupintu:loa:3' })
        .setProtectedHeader({ alg: 'ES256', kid: decodeProtectedHeader(good).kid ?? '', typ: assertionType })
        .setIssuer(publicUrl)
        .setAudience('dinas-contoh')
        .setSubject('x')
        .setJti('j')
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(stranger.privateKey)
      t.equal((await get(foreign)).statusCode, 401, 'signed with a key the gateway does not publish')
      t.ok(await exportJWK(stranger.publicKey))
      t.equal((await get('')).statusCode, 401, 'empty (nobody signed in at the gateway)')
      t.equal((await get()).statusCode, 401, 'no header at all')
      t.equal(
        (
          await demo.inject({
            url: '/permohonan',
            method: 'POST',
            payload: 'keperluan=x',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          })
        ).statusCode,
        401,
      )
      t.equal((await demo.inject('/info')).statusCode, 200, '/info is public')
    })
  },
)

t.test('the demo agency sends a direct visitor (no assertion header) to its OIDC page', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const signer = await signerFor(db)
    const demo = await demoAgency(t, await jwksServer(t, signer), true)
    const res = await demo.inject('/')
    t.equal(res.statusCode, 303)
    t.equal(res.headers.location, '/oidc-langsung/')
    const page = await demo.inject('/oidc-langsung/')
    t.equal(page.statusCode, 200)
    t.match(page.body, /href="\/masuk"/)
  })
})

t.test(
  'through the gateway, the demo agency greets the citizen and takes a form; without sign-in it is never reached',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const signer = await signerFor(db)
      const demo = await demoAgency(t, await jwksServer(t, signer))
      await demo.listen({ host: '127.0.0.1', port: 0 })
      const demoUrl = `http://127.0.0.1:${(demo.server.address() as AddressInfo).port}`
      const table = agencyTable([
        {
          id: 'dinas-contoh',
          upstream: demoUrl,
          services: [
            { path: '/info', access: 'public' },
            { path: '/', access: 'signed_in', scopes: ['openid', 'profile'], minAcr: 'urn:satupintu:loa:1' },
          ],
        },
      ])
      const gw = await startGateway(t, table, {
        auth: new FakeAuth({ tok: identity() }),
        signer,
        overrides: { gateway: { publicUrl } },
      })
      const home = await request(`${gw.at('dinas-contoh')}/`, {
        headers: { authorization: 'Bearer tok', accept: 'text/html' },
      })
      t.equal(home.status, 200)
      t.match(home.body, /Halo, Budi Santoso/)
      const sent = await request(`${gw.at('dinas-contoh')}/permohonan`, {
        method: 'POST',
        headers: { authorization: 'Bearer tok', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'keperluan=Surat+domisili',
      })
      t.equal(sent.status, 200)
      t.match(sent.body, /Keperluan: Surat domisili/)
      const info = await request(`${gw.at('dinas-contoh')}/info`)
      t.equal(info.status, 200)
      const anon = await request(`${gw.at('dinas-contoh')}/`, { headers: { accept: 'application/json' } })
      t.equal(anon.status, 401, 'the gateway challenges; the agency never sees the request')
      // A valid assertion captured earlier and replayed by a client through the gateway: removed.
      const replayed = await request(`${gw.at('dinas-contoh')}/`, {
        headers: { 'x-satupintu-assertion': await signer.sign(identity(), agencyB), accept: 'application/json' },
      })
      t.equal(replayed.status, 401, 'a client-sent assertion does not get anyone in')
    })
  },
)
