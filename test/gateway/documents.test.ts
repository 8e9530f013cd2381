/**
 * The gateway's side of the document vault (issue 5, "Grants and links"): links on
 * proxied requests (assertion claim and `Link` header), consent asked at the idp (the
 * gateway only sends the citizen there and takes the answer back), and
 * `GET /dokumen/<token>` for the agency's backend. Real proxy, real upstream, real
 * database; authentication is the harness's FakeAuth (tokens name identities).
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import { Readable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { decodeJwt } from 'jose'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { DatabaseHandle } from '../../src/db/create.ts'
import type { Database } from '../../src/db/database.ts'
import { createGrant, revokeGrant } from '../../src/documents/grants.ts'
import { createLink, type DocumentLinkClaim } from '../../src/documents/links.ts'
import { deleteDocument, uploadDocument } from '../../src/documents/vault.ts'
import { buildAgencyTable } from '../../src/gateway/agencies.ts'
import { callbackPath, logoutPath } from '../../src/gateway/auth/authenticate.ts'
import { consentReturnPath, gatewayLinkKeyring, registerGatewayDocuments } from '../../src/gateway/proxy/documents.ts'
import { createSites, guardSites } from '../../src/gateway/sites.ts'
import { gatewayMessages } from '../../src/gateway/messages.ts'
import { registerProxy } from '../../src/gateway/proxy/proxy.ts'
import { createBaseApp } from '../../src/http/app.ts'
import { registerPages } from '../../src/http/pages.ts'
import { createKeyEncryption } from '../../src/keys/encryption.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { jpeg, png, vaultFixture } from '../documents/fixtures.ts'
import { agencyOrigin, FakeAuth, identity, request, startUpstream, testSigner } from './harness.ts'

const templatesDir = fileURLToPath(new URL('../../src/gateway/templates/', import.meta.url))
const kek = createKeyEncryption('test-key-encryption-secret-0123456789abcdef')
const keyring = gatewayLinkKeyring(kek)
const publicUrl = 'https://layanan.sukamaju.go.id'
const DAY = 86_400_000

async function setup(
  t: Test,
  db: Kysely<Database>,
  opts: { listen?: DatabaseHandle['listen']; fixture?: Awaited<ReturnType<typeof vaultFixture>> } = {},
) {
  const f = opts.fixture ?? (await vaultFixture(t, db))
  const upstream = await startUpstream(t)
  const table = buildAgencyTable(
    {
      agencies: [
        {
          id: 'dinas-a',
          name: { id: 'Dinas Perizinan', en: 'Permit Agency' },
          upstream: upstream.url,
          clients: ['a-backend'],
          appClients: ['aplikasi-uji'],
          services: [
            {
              id: 'izin-usaha',
              name: { id: 'Izin usaha mikro', en: 'Micro business permit' },
              path: '/izin',
              access: 'signed_in',
              documents: ['ktp'],
              purpose: { id: 'Memeriksa identitas pemohon', en: 'To check the applicant' },
            },
            { id: 'info', name: { id: 'Informasi', en: 'Information' }, path: '/info', access: 'public' },
            { id: 'beranda', name: { id: 'Beranda', en: 'Home' }, path: '/', access: 'signed_in' },
          ],
        },
        {
          id: 'dinas-b',
          name: { id: 'Dinas Lain', en: 'Other Agency' },
          upstream: upstream.url,
          clients: ['b-backend'],
          services: [{ id: 'beranda', name: { id: 'Beranda', en: 'Home' }, path: '/', access: 'signed_in' }],
        },
      ],
    },
    { timeoutMs: 5000, maxBodyBytes: 1024 * 1024, publicUrl: 'https://layanan.sukamaju.go.id' },
  )
  const config = testConfig({ gateway: { publicUrl } })
  const citizen = identity({ via: 'session', sub: f.a.id, sessionId: 'sess-hash-1', clientId: undefined })
  const auth = new FakeAuth({
    citizen,
    api: identity({ via: 'bearer', sub: f.a.id, clientId: 'aplikasi-uji' }),
    'a-backend': identity({
      via: 'client',
      sub: 'a-backend',
      clientId: 'a-backend',
      scopes: ['gateway'],
      claims: {},
      audience: [publicUrl],
    }),
    'b-backend': identity({
      via: 'client',
      sub: 'b-backend',
      clientId: 'b-backend',
      scopes: ['gateway'],
      claims: {},
      audience: [publicUrl],
    }),
    // agency A's backend holding a token for an agency's origin, not for the gateway's resource
    'a-backend-for-a': identity({
      via: 'client',
      sub: 'a-backend',
      clientId: 'a-backend',
      scopes: ['gateway'],
      claims: {},
      audience: [agencyOrigin('dinas-a')],
    }),
    'a-backend-for-b': identity({
      via: 'client',
      sub: 'a-backend',
      clientId: 'a-backend',
      scopes: ['gateway'],
      claims: {},
      audience: [agencyOrigin('dinas-b')],
    }),
  })
  const logger = silentLogger()
  const sites = createSites(config, table, { own: [callbackPath, logoutPath, consentReturnPath] })
  const app = createBaseApp({ config, logger, rewriteUrl: (raw) => sites.rewriteUrl(raw) })
  await registerPages(app, { config, templateDirs: [templatesDir], messages: gatewayMessages })
  guardSites(app, { sites, table })
  const extras = await registerGatewayDocuments(app, {
    config,
    db,
    table,
    auth,
    kek,
    storage: f.storage,
    keyring,
    sites,
    ...(opts.listen ? { listen: opts.listen } : {}),
  })
  const { signer } = await testSigner(config)
  await registerProxy(app, { config, table, auth, signer, logger, extras, sites })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port
  /** The portal's host, reached on this port (harness request() sends the Host). */
  const url = `http://layanan.sukamaju.go.id:${port}`
  const at = (id: string) => `http://${id}.layanan.sukamaju.go.id:${port}`
  /** A citizen's browser on agency A's own origin. */
  const browserGet = (path: string) =>
    request(`${at('dinas-a')}${path}`, { headers: { authorization: 'Bearer citizen', accept: 'text/html' } })
  const fetchLink = (link: string, token?: string) =>
    request(`${url}${new URL(link).pathname}`, {
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    })
  const grants = () => db.selectFrom('document_grants').selectAll().execute()
  const accesses = () => db.selectFrom('document_accesses').selectAll().execute()
  return { ...f, fixture: f, upstream, url, at, config, browserGet, fetchLink, grants, accesses }
}

async function grant(
  db: Kysely<Database>,
  s: Awaited<ReturnType<typeof setup>>,
  types: string[],
  agencyId = 'dinas-a',
  serviceId: string | null = 'izin-usaha',
) {
  return createGrant(db, s.config.documents, {
    citizenId: s.a.id,
    agencyId,
    serviceId,
    documentTypes: types,
    purpose: 'Memeriksa identitas pemohon',
    expiresAt: new Date(Date.now() + 30 * DAY),
  })
}

async function upload(db: Kysely<Database>, s: Awaited<ReturnType<typeof setup>>, type: string, bytes: Buffer) {
  return uploadDocument(
    db,
    s.storage,
    { citizenId: s.a.id, type, stream: Readable.from([bytes]), originalName: `${type}.jpg` },
    s.config.documents,
  )
}

/** The links the upstream received on its last request: from the assertion and from `Link`. */
function lastLinks(s: Awaited<ReturnType<typeof setup>>): {
  claim: DocumentLinkClaim[] | undefined
  header: string | undefined
} {
  const seen = s.upstream.seen.at(-1)
  const assertion = seen?.headers['x-satupintu-assertion']
  const claim =
    typeof assertion === 'string' && assertion !== ''
      ? (decodeJwt(assertion).documents as DocumentLinkClaim[] | undefined)
      : undefined
  const link = seen?.headers.link
  return { claim, header: Array.isArray(link) ? link.join(', ') : link }
}

t.test(
  "SECURITY 32: no grant — a browser is sent to the idp's consent page; the question is never asked on the agency's origin",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const s = await setup(t, db)
      const res = await s.browserGet('/izin?langkah=1')
      t.equal(res.status, 303)
      const to = new URL(res.headers.location ?? '')
      t.equal(
        `${to.origin}${to.pathname}`,
        `${s.config.idp.issuer.replace(/\/+$/, '')}/izin-dokumen`,
        "the idp's one consent page",
      )
      t.same(
        Object.fromEntries(to.searchParams),
        {
          client_id: s.config.gateway.clientId,
          instansi: 'dinas-a',
          layanan: 'izin-usaha',
          redirect_uri: 'https://dinas-a.layanan.sukamaju.go.id/oidc/izin-dokumen',
          state: '/izin?langkah=1',
          ui_locales: 'id',
        },
        'the service is named, never worded: the idp words it from the registration',
      )
      t.notMatch(res.body, /<form/, "no form on the agency's origin")
      t.match(res.headers['cache-control'] ?? '', 'no-store')
      t.equal(s.upstream.seen.length, 0)
      // The gateway has no consent form of its own to answer, on any host.
      const portalPost = await request(`${s.url}/izin-dokumen`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer citizen',
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'instansi=dinas-a&layanan=izin-usaha&keputusan=izinkan',
      })
      t.equal(portalPost.status, 404)
      t.same(await s.grants(), [], 'nothing granted')
    })
  },
)

t.test(
  "SECURITY 32: the idp's answer comes back on the agency's host and leads back to the service, on that host only",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const s = await setup(t, db)
      const back = await request(
        `${s.at('dinas-a')}${consentReturnPath}?izin_dokumen=diberikan&state=${encodeURIComponent('/izin?langkah=1')}`,
      )
      t.equal(back.status, 303)
      t.equal(back.headers.location, 'https://dinas-a.layanan.sukamaju.go.id/izin?langkah=1')
      for (const state of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
        const r = await request(
          `${s.at('dinas-a')}${consentReturnPath}?izin_dokumen=diberikan&state=${encodeURIComponent(state)}`,
        )
        t.equal(
          r.headers.location,
          'https://dinas-a.layanan.sukamaju.go.id/',
          `${state}: the agency's home, nowhere else`,
        )
      }
      const denied = await request(`${s.at('dinas-a')}${consentReturnPath}?error=access_denied&state=%2Fizin`, {
        headers: { accept: 'text/html' },
      })
      t.equal(denied.status, 403)
      t.match(denied.body, /<html/)
      const notYet = await request(`${s.at('dinas-a')}${consentReturnPath}?izin_dokumen=belum_lengkap&state=%2Fizin`, {
        headers: { accept: 'application/json' },
      })
      t.equal(notYet.status, 403, 'documents still missing: said, not looped back to the service')
      const onPortal = await request(`${s.url}${consentReturnPath}?izin_dokumen=diberikan&state=%2F`, {
        headers: { accept: 'application/json' },
      })
      t.equal(onPortal.status, 404, 'only agency hosts take the answer')
      t.equal(s.upstream.seen.length, 0)
    })
  },
)

t.test('an API caller without a grant gets 403 JSON: document grant required', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const s = await setup(t, db)
    const res = await request(`${s.at('dinas-a')}/izin`, {
      headers: { authorization: 'Bearer api', accept: 'application/json' },
    })
    t.equal(res.status, 403)
    const body = JSON.parse(res.body) as { error: string; message: string; details: { documents: string[] } }
    t.equal(body.error, 'forbidden')
    t.equal(body.message, 'document grant required')
    t.same(body.details.documents, ['ktp'])
    t.equal(s.upstream.seen.length, 0)
  })
})

t.test(
  "granted but not uploaded: a browser goes to the idp's page (which leads to the upload); an API caller gets 403 document required",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const s = await setup(t, db)
      await grant(db, s, ['ktp'])
      const missing = await s.browserGet('/izin')
      t.equal(missing.status, 303)
      t.match(missing.headers.location ?? '', /\/izin-dokumen\?client_id=/)
      t.equal(s.upstream.seen.length, 0)
      const api = await request(`${s.at('dinas-a')}/izin`, {
        headers: { authorization: 'Bearer api', accept: 'application/json' },
      })
      t.equal(api.status, 403)
      t.equal((JSON.parse(api.body) as { message: string }).message, 'document required')
    })
  },
)

t.test(
  'links ride in the assertion and the Link header, only for granted types, never on a public service',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const s = await setup(t, db)
      const ktp = await upload(db, s, 'ktp', jpeg())
      await upload(db, s, 'kk', png())
      await grant(db, s, ['ktp'])
      await grant(db, s, ['kk'], 'dinas-b', null)

      const res = await s.browserGet('/izin')
      t.equal(res.status, 200)
      const { claim, header } = lastLinks(s)
      t.equal(claim?.length, 1)
      const link = claim?.[0] as DocumentLinkClaim
      t.equal(link.type, 'ktp')
      t.equal(link.sha256, ktp.version.sha256)
      t.equal(link.media_type, 'image/jpeg')
      t.equal(link.verified, false)
      t.ok(link.url.startsWith(`${publicUrl}/dokumen/v1.`))
      t.ok(link.expires_at * 1000 <= Date.now() + 15 * 60_000 + 1000, 'expires within 15 minutes')
      t.equal(header, `<${link.url}>; rel="satupintu-document"; type="image/jpeg"; title="ktp"`)

      // A second request gets a fresh link (and a fresh assertion): nothing cached.
      await s.browserGet('/izin')
      t.not(lastLinks(s).claim?.[0]?.url, link.url)

      await request(`${s.at('dinas-a')}/info`, { headers: { authorization: 'Bearer citizen', accept: 'text/html' } })
      const pub = lastLinks(s)
      t.equal(pub.claim, undefined, 'no assertion with documents on a public service')
      t.equal(pub.header, undefined, 'no Link header on a public service')

      await s.browserGet('/')
      t.equal(lastLinks(s).claim, undefined, 'no documents for a service that asks for none')
      t.equal(lastLinks(s).header, undefined)
    })
  },
)

t.test(
  'GET /dokumen/<token>: the right agency streams the bytes; others, no token, revoked, deleted, tampered, expired are refused',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const s = await setup(t, db)
      const bytes = jpeg({ comment: 'ktp budi' })
      const up = await upload(db, s, 'ktp', bytes)
      const g = await grant(db, s, ['ktp'])
      await s.browserGet('/izin')
      const link = lastLinks(s).claim?.[0] as DocumentLinkClaim

      const ok = await s.fetchLink(link.url, 'a-backend')
      t.equal(ok.status, 200)
      t.equal(ok.headers['content-type'], 'image/jpeg')
      t.equal(ok.headers['content-length'], String(bytes.length))
      t.match(ok.headers['content-disposition'] ?? '', /^attachment; filename="?ktp\.jpg"?(;|$)/)
      t.equal(ok.headers['x-content-type-options'], 'nosniff')
      t.match(ok.headers['content-security-policy'] ?? '', 'sandbox')
      t.match(ok.headers['cache-control'] ?? '', 'no-store')
      t.equal(ok.headers['repr-digest'], `sha-256=:${Buffer.from(up.version.sha256, 'hex').toString('base64')}:`)
      // The bytes as bytes (the portal's host, reached on the test's port).
      const got = await new Promise<Buffer>((resolve, reject) => {
        http
          .get(
            {
              host: '127.0.0.1',
              port: new URL(s.url).port,
              path: new URL(link.url).pathname,
              headers: { host: 'layanan.sukamaju.go.id', authorization: 'Bearer a-backend' },
            },
            (res) => {
              const chunks: Buffer[] = []
              res.on('data', (c: Buffer) => chunks.push(c))
              res.on('end', () => resolve(Buffer.concat(chunks)))
            },
          )
          .on('error', reject)
      })
      t.ok(got.equals(bytes), 'the very bytes uploaded')
      t.equal(createHash('sha256').update(got).digest('hex'), link.sha256, 'matching the claim')
      const rows = await s.accesses()
      t.equal(rows.length, 2)
      t.equal(rows[0]?.agency_id, 'dinas-a')
      t.equal(rows[0]?.service_id, 'izin-usaha')
      t.equal(rows[0]?.citizen_id, s.a.id)

      const other = await s.fetchLink(link.url, 'b-backend')
      t.equal(other.status, 403, "another agency's client is refused")
      t.equal((JSON.parse(other.body) as { details: { reason: string } }).details.reason, 'wrong_agency')
      const none = await s.fetchLink(link.url)
      t.equal(none.status, 401, 'no token')
      t.match(none.headers['www-authenticate'] ?? '', /^Bearer/)
      const citizen = await s.fetchLink(link.url, 'citizen')
      t.equal(citizen.status, 403, "a citizen's session is not an agency")
      const appToken = await s.fetchLink(link.url, 'api')
      t.equal(appToken.status, 403, "a citizen's access token is not an agency's client-credentials token")

      const token = new URL(link.url).pathname.slice('/dokumen/'.length)
      const last = token.at(-1) === 'A' ? 'B' : 'A'
      const tampered = await s.fetchLink(`${publicUrl}/dokumen/${token.slice(0, -1)}${last}`, 'a-backend')
      t.equal(tampered.status, 404, 'one changed character')
      const old = createLink(keyring, s.config.documents, {
        versionId: up.version.id,
        agencyId: 'dinas-a',
        serviceId: 'izin-usaha',
        now: new Date(Date.now() - 16 * 60_000),
      })
      const expired = await s.fetchLink(`${publicUrl}${old.path}`, 'a-backend')
      t.equal(expired.status, 410, 'expired')
      t.equal(s.upstream.seen.length, 1, 'link fetches never reach the agency upstream')

      t.ok(await revokeGrant(db, s.a.id, g.id))
      const revoked = await s.fetchLink(link.url, 'a-backend')
      t.equal(revoked.status, 403, 'after the grant is revoked')
      t.equal((JSON.parse(revoked.body) as { details: { reason: string } }).details.reason, 'revoked')
      const again = await s.browserGet('/izin')
      t.match(
        again.headers.location ?? '',
        /\/izin-dokumen\?/,
        'after revocation the citizen is asked again (at the idp)',
      )

      await grant(db, s, ['ktp'])
      await s.browserGet('/izin')
      const fresh = lastLinks(s).claim?.[0] as DocumentLinkClaim
      t.equal((await s.fetchLink(fresh.url, 'a-backend')).status, 200)
      t.ok(await deleteDocument(db, s.a.id, up.document.id))
      const deleted = await s.fetchLink(fresh.url, 'a-backend')
      t.equal(deleted.status, 410, 'after the document is deleted')
      t.equal((await s.accesses()).length, 3, 'an access row per successful fetch only')
    })
  },
)

t.test(
  "SECURITY 33: a link fetch needs a token whose audience is the gateway's resource; one for an agency's origin is refused",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const s = await setup(t, db)
      await upload(db, s, 'ktp', jpeg({ comment: 'ktp budi' }))
      await grant(db, s, ['ktp'])
      await s.browserGet('/izin')
      const link = lastLinks(s).claim?.[0] as DocumentLinkClaim
      for (const token of ['a-backend-for-a', 'a-backend-for-b']) {
        const res = await s.fetchLink(link.url, token)
        t.equal(res.status, 401, `${token}: refused`)
        t.match(res.headers['www-authenticate'] ?? '', /invalid_token/)
      }
      t.equal(
        (await s.fetchLink(link.url, 'a-backend')).status,
        200,
        'the same client with a token for the gateway gets the document',
      )
    })
  },
)

t.test(
  'two gateways keeping grants in memory: a grant withdrawn, a document replaced or deleted through the database reaches the other instance at once (issue 18)',
  async (t) => {
    await eachDatabase(t, async (t, handle) => {
      const { db } = handle
      const listen: DatabaseHandle['listen'] = (c, l) => handle.listen(c, l)
      const one = await setup(t, db, { listen })
      const two = await setup(t, db, { listen, fixture: one.fixture })
      const up = await upload(db, one, 'ktp', jpeg({ comment: 'ktp 1' }))
      const g = await grant(db, one, ['ktp'])
      const linkOf = async (s: typeof one) => {
        const res = await s.browserGet('/izin')
        return res.status === 200 ? (lastLinks(s).claim?.[0]?.sha256 ?? 'none') : `${res.status}`
      }
      /** What `s` answers within `ms`, polled: the bound a change takes to reach it. */
      const within = async (s: typeof one, want: (v: string) => boolean, ms = 1000) => {
        const end = Date.now() + ms
        let v = await linkOf(s)
        while (!want(v) && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 20))
          v = await linkOf(s)
        }
        return v
      }
      t.equal(await linkOf(one), up.version.sha256)
      t.equal(await linkOf(two), up.version.sha256, 'both attach the link, and keep what it is made from')
      t.equal(await linkOf(two), up.version.sha256)

      const replaced = await upload(db, one, 'ktp', jpeg({ comment: 'ktp 2' }))
      t.equal(
        await within(two, (v) => v === replaced.version.sha256),
        replaced.version.sha256,
        'a new version reaches the other instance',
      )
      t.ok(await revokeGrant(db, one.a.id, g.id))
      t.equal(await within(two, (v) => v === '303'), '303', 'a withdrawn grant: no more links, consent asked again')
      t.equal(await linkOf(one), '303')

      await grant(db, one, ['ktp'])
      t.equal(await within(two, (v) => v === replaced.version.sha256), replaced.version.sha256, 'granted again')
      t.ok(await deleteDocument(db, one.a.id, replaced.document.id))
      t.equal(await within(two, (v) => v === '303'), '303', 'a deleted document: no link to it')
    })
  },
)
