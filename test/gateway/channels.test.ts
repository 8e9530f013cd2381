/**
 * A service may keep itself off some channels (issue 16): `channels:` in agencies.yaml
 * lists where it is offered (web, app, kiosk; all by default). A kiosk's token says so
 * (`channel: "kiosk"`, from the idp), and a service without `kiosk` in its list answers
 * 403 with a plain reason, before anything reaches the agency.
 */
import { randomUUID } from 'node:crypto'
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose'
import t from 'tap'
import { buildAgencyTable } from '../../src/gateway/agencies.ts'
import { createAccessTokenVerifier } from '../../src/gateway/auth/bearer.ts'
import { channelOf } from '../../src/gateway/auth/identity.ts'
import {
  agencyTable,
  echo,
  FakeAuth,
  identity,
  json,
  request,
  startGateway,
  startUpstream,
  testAppClient,
  testPublicUrl,
} from './harness.ts'

const kioskId = '0b6f5c1e-7a52-4c1d-9d0e-1f2a3b4c5d6e'
const atKiosk = identity({ channel: 'kiosk', kioskId, clientId: 'kiosk-0123456789ab' })
const inApp = identity()
const inBrowser = identity({ via: 'session', clientId: undefined, audience: [], sessionId: 'sesi-1' })

t.test('channels: defaults to all three; only web, app and kiosk, at least one', async (t) => {
  const table = agencyTable([
    {
      id: 'dinas-a',
      upstream: 'http://127.0.0.1:9',
      services: [
        { path: '/', access: 'signed_in' },
        { path: '/surat', access: 'signed_in', channels: ['web', 'app'] },
      ],
    },
  ])
  const [surat, root] = table.agencies[0]?.services ?? []
  t.same(root?.channels, ['web', 'app', 'kiosk'], 'all channels unless the agency says otherwise')
  t.same(surat?.channels, ['web', 'app'])
  const file = (channels: unknown) => ({
    agencies: [
      {
        id: 'dinas-a',
        name: { id: 'Dinas A', en: 'Agency A' },
        upstream: 'http://127.0.0.1:9',
        services: [{ id: 'layanan', name: { id: 'Layanan', en: 'Service' }, path: '/', access: 'signed_in', channels }],
      },
    ],
  })
  const defaults = { timeoutMs: 5000, maxBodyBytes: 1024, publicUrl: testPublicUrl }
  t.throws(() => buildAgencyTable(file(['kios']), defaults), /channels.*must be web, app or kiosk/)
  t.throws(() => buildAgencyTable(file([]), defaults), /channels.*at least one channel/)
  t.doesNotThrow(() => buildAgencyTable(file(['kiosk']), defaults))
})

t.test('the channel of an identity: kiosk from the token, else web for a session and app for a token', async (t) => {
  t.equal(channelOf(atKiosk), 'kiosk')
  t.equal(channelOf(inApp), 'app')
  t.equal(channelOf(inBrowser), 'web')
})

t.test("a kiosk's token says so: the gateway reads channel and kiosk_id from the idp's claims", async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
  const issuer = 'https://id.sukamaju.go.id'
  const verifier = createAccessTokenVerifier({
    keys: async () => ({ issuer, jwks: createLocalJWKSet({ keys: [jwk] }) }),
    audience: testPublicUrl,
  })
  const token = (extra: Record<string, unknown>) =>
    new SignJWT({ client_id: 'kiosk-0123456789ab', acr: 'urn:satupintu:acr:pwd', auth_time: 1, ...extra })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(testPublicUrl)
      .setSubject('sub-budi')
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey)
  const kiosk = await verifier.verify(await token({ channel: 'kiosk', kiosk_id: kioskId }))
  t.equal(kiosk.identity.channel, 'kiosk')
  t.equal(kiosk.identity.kioskId, kioskId)
  t.equal(channelOf(kiosk.identity), 'kiosk')
  const app = await verifier.verify(await token({ channel: 'something-else' }))
  t.equal(app.identity.channel, undefined, 'only the one channel the idp writes is taken')
  t.equal(channelOf(app.identity), 'app')
})

t.test('a service off the kiosk channel refuses a kiosk with 403 and says why; others pass', async (t) => {
  const up = await startUpstream(t, echo)
  const table = agencyTable([
    {
      id: 'dinas-a',
      upstream: up.url,
      // The kiosk's client is one the agency takes tokens from: the channel is a question apart.
      appClients: [testAppClient, 'kiosk-0123456789ab'],
      services: [
        { path: '/bebas', access: 'signed_in' },
        { path: '/surat', access: 'signed_in', channels: ['web', 'app'] },
        { path: '/khusus-kiosk', access: 'signed_in', channels: ['kiosk'] },
        { path: '/info', access: 'public', channels: ['web'] },
      ],
    },
  ])
  const gw = await startGateway(t, table, { auth: new FakeAuth({ kiosk: atKiosk, app: inApp }) })
  const call = (path: string, token: string) =>
    request(`${gw.at('dinas-a')}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } })

  const before = up.seen.length
  const refused = await call('/surat/formulir', 'kiosk')
  t.equal(refused.status, 403)
  const body = json<{ error: string; message: string; details?: Record<string, unknown> }>(refused.body)
  t.equal(body.error, 'forbidden')
  t.match(body.message, /not offered at a self-service kiosk/)
  t.equal(up.seen.length, before, 'nothing reached the agency')

  t.equal((await call('/bebas', 'kiosk')).status, 200, 'a service with no channels: list takes kiosks')
  t.equal((await call('/khusus-kiosk', 'kiosk')).status, 200)
  t.equal((await call('/surat', 'app')).status, 200, 'the app still reaches the service kept off kiosks')
  const appAtKiosk = await call('/khusus-kiosk', 'app')
  t.equal(appAtKiosk.status, 403, 'a kiosk-only service refuses an app')
  t.match(json<{ message: string }>(appAtKiosk.body).message, /not offered to apps/)
  t.equal((await request(`${gw.at('dinas-a')}/info`)).status, 200, 'a public service is not a channel question')
})
