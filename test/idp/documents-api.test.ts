/**
 * The documents API for agencies that integrate as OIDC relying parties: links for an
 * access token of the agency's client and the citizen's grant, and fetching them with a
 * token of that agency (SECURITY.md lines 23–25).
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { createGrant, revokeGrant } from '../../src/documents/grants.ts'
import { createLink, createLinkKeyring } from '../../src/documents/links.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { deleteDocument, uploadDocument } from '../../src/documents/vault.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { testGatewayResource, Browser, codeFlowTokens, registerClient, startIdp, testKek } from '../helpers/idp.ts'
import { jpeg, tempDir } from '../documents/fixtures.ts'

const DAY = 86_400_000
const redirectUri = 'http://127.0.0.1:9/cb'
/** The idp's link keyring, derived as src/idp/app.ts derives it (the gateway must do the same). */
const keyring = createLinkKeyring([testKek.derive('document links').toString('base64url')])

interface ApiError {
  error: string
  message: string
  request_id: string
  details?: Record<string, unknown>
}

/** An access token the client got for Budi through the ordinary code flow. */
async function accessTokenFor(
  issuer: string,
  client: { clientId: string; secret?: string | undefined },
  browser: Browser,
): Promise<string> {
  return (
    await codeFlowTokens(issuer, client, browser, {
      redirectUri,
      credentials: { username: budi.nik, password: budi.password },
    })
  ).access_token
}

/** A client-credentials access token of `client` (for `resource` when given). */
async function clientCredentialsToken(
  issuer: string,
  client: { clientId: string; secret?: string | undefined },
  resource?: string,
): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' })
  if (resource !== undefined) body.set('resource', resource)
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  })
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}`)
  return ((await res.json()) as { access_token: string }).access_token
}

async function setup(t: Test, db: TestDatabase) {
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir })
  const citizen = await addCitizen(db.db, budi)
  const storage = createLocalStorage(path.join(dir, 'documents'))
  const agency = await registerClient(db, {
    name: 'Dinas Kependudukan Uji',
    agencyId: 'dinas-uji',
    redirectUris: [redirectUri],
  })
  const other = await registerClient(db, { name: 'Dinas Lain', agencyId: 'dinas-lain', redirectUris: [redirectUri] })
  const browser = new Browser()
  const backend = await registerClient(db, {
    clientId: 'dinas-uji-sistem',
    agencyId: 'dinas-uji',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['openid'],
    resources: [testGatewayResource, `${idp.issuer}/api/dokumen`],
  })
  const otherBackend = await registerClient(db, {
    clientId: 'dinas-lain-sistem',
    agencyId: 'dinas-lain',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['openid'],
    resources: [testGatewayResource, `${idp.issuer}/api/dokumen`],
  })
  const fetchToken = await clientCredentialsToken(idp.issuer, backend, `${idp.issuer}/api/dokumen`)
  const otherFetchToken = await clientCredentialsToken(idp.issuer, otherBackend, `${idp.issuer}/api/dokumen`)
  const token = await accessTokenFor(idp.issuer, agency, browser)
  const otherToken = await accessTokenFor(idp.issuer, other, browser)
  const data = jpeg()
  const up = await uploadDocument(
    db.db,
    storage,
    { citizenId: citizen.id, type: 'ktp', stream: Readable.from([data]), originalName: 'ktp.jpg' },
    idp.config.documents,
  )
  const grant = (serviceId: string | null = null, types = ['ktp', 'kk']) =>
    createGrant(db.db, idp.config.documents, {
      citizenId: citizen.id,
      agencyId: 'dinas-uji',
      serviceId,
      documentTypes: types,
      purpose: 'Memproses permohonan Anda',
      expiresAt: new Date(Date.now() + DAY),
    })
  return { ...idp, citizen, storage, agency, other, token, otherToken, fetchToken, otherFetchToken, data, up, grant }
}

async function call(url: string, token?: string): Promise<Response> {
  return fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
}

interface Listing {
  documents: { type: string; url: string; sha256: string; media_type: string; verified: boolean; expires_at: number }[]
  not_granted: string[]
  missing: string[]
}

t.test('the API answers 401 without a token, with a made-up one, and with a JWT for the gateway', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    t.notMatch(s.token, /\./, 'the relying party holds an opaque access token')
    const none = await call(`${s.issuer}/api/dokumen`)
    t.equal(none.status, 401)
    t.equal(none.headers.get('www-authenticate'), 'Bearer realm="satupintu"')
    t.equal(((await none.json()) as ApiError).error, 'unauthorized')
    const bad = await call(`${s.issuer}/api/dokumen`, 'not-a-token')
    t.equal(bad.status, 401)
    t.equal(bad.headers.get('www-authenticate'), 'Bearer realm="satupintu", error="invalid_token"')
    const basic = await fetch(`${s.issuer}/api/dokumen`, { headers: { authorization: 'Basic YTpi' } })
    t.equal(basic.status, 401)

    // A client-credentials token here is a JWT for the gateway's resource: not ours to accept.
    const machine = await registerClient(db, {
      agencyId: 'dinas-uji',
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['openid'],
    })
    const cc = await fetch(`${s.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${machine.clientId}:${machine.secret ?? ''}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'gateway' }),
    })
    t.equal(cc.status, 200)
    const jwt = ((await cc.json()) as { access_token: string }).access_token
    t.equal(jwt.split('.').length, 3)
    await s.grant()
    t.equal((await call(`${s.issuer}/api/dokumen`, jwt)).status, 401, 'the API')
    const listing = (await (await call(`${s.issuer}/api/dokumen`, s.token)).json()) as Listing
    const link = listing.documents[0]?.url ?? ''
    t.equal((await call(link, jwt)).status, 401, 'a link')
    t.equal(
      (await call(link, s.token)).status,
      401,
      "a link is not fetched with the citizen's token, only with the backend's",
    )
    t.equal(
      (await call(`${s.issuer}/api/dokumen`, s.fetchToken)).status,
      401,
      'the listing is not for a client-credentials token',
    )

    // A public client of the agency (a browser or phone app: no secret) lists nothing.
    const spa = await registerClient(db, { agencyId: 'dinas-uji', redirectUris: [redirectUri], authMethod: 'none' })
    const spaToken = await accessTokenFor(s.issuer, spa, new Browser())
    const refused = await call(`${s.issuer}/api/dokumen`, spaToken)
    t.equal(refused.status, 403)
    t.match(((await refused.json()) as ApiError).message, 'confidential client')
  })
})

t.test(
  'SECURITY 23: without a grant the agency gets 403; with one, signed links to the current versions and what is missing',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const before = await call(`${s.issuer}/api/dokumen`, s.token)
      t.equal(before.status, 403)
      t.equal(((await before.json()) as ApiError).error, 'forbidden')
      const asked = await call(`${s.issuer}/api/dokumen?jenis=ktp`, s.token)
      t.equal(asked.status, 403)

      await s.grant()
      const res = await call(`${s.issuer}/api/dokumen`, s.token)
      t.equal(res.status, 200)
      t.equal(res.headers.get('cache-control'), 'no-store')
      const body = (await res.json()) as Listing
      t.same(Object.keys(body).sort(), ['documents', 'missing', 'not_granted'])
      t.equal(body.documents.length, 1)
      const doc = body.documents[0]
      t.equal(doc?.type, 'ktp')
      t.equal(doc?.sha256, s.up.version.sha256)
      t.equal(doc?.media_type, 'image/jpeg')
      t.equal(doc?.verified, false)
      t.ok((doc?.expires_at ?? 0) * 1000 <= Date.now() + 15 * 60 * 1000 + 1000, 'expires in at most 15 minutes')
      t.match(doc?.url, new RegExp(`^${s.issuer}/dokumen/v1\\.`))
      t.same(body.missing, ['kk'], 'granted but not uploaded')
      t.same(body.not_granted, [])

      const some = (await (
        await call(`${s.issuer}/api/dokumen?jenis=ktp&jenis=akta-kelahiran`, s.token)
      ).json()) as Listing
      t.same(
        some.documents.map((d) => d.type),
        ['ktp'],
      )
      t.same(some.not_granted, ['akta-kelahiran'])

      const other = await call(`${s.issuer}/api/dokumen`, s.otherToken)
      t.equal(other.status, 403, "another agency's client gets nothing from this agency's grant")
    })
  },
)

t.test('a grant for one service counts only when the agency names that service', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    await s.grant('surat-pindah', ['ktp'])
    t.equal(
      (await call(`${s.issuer}/api/dokumen`, s.token)).status,
      403,
      'no service named: only agency-wide grants count',
    )
    const res = await call(`${s.issuer}/api/dokumen?layanan=surat-pindah`, s.token)
    t.equal(res.status, 200)
    const body = (await res.json()) as Listing
    t.same(
      body.documents.map((d) => d.type),
      ['ktp'],
    )
    const fetched = await call(body.documents[0]?.url ?? '', s.fetchToken)
    t.equal(fetched.status, 200)
    await fetched.arrayBuffer()
    const access = await db.db.selectFrom('document_accesses').selectAll().executeTakeFirstOrThrow()
    t.equal(access.service_id, 'surat-pindah', 'the access records the service')
    t.equal((await call(`${s.issuer}/api/dokumen?layanan=lain`, s.token)).status, 403)
  })
})

t.test(
  'SECURITY 25: the agency fetches a link with its token: the bytes, as an attachment, nosniff, sandboxed, recorded',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await s.grant()
      const body = (await (await call(`${s.issuer}/api/dokumen`, s.token)).json()) as Listing
      const url = body.documents[0]?.url ?? ''
      const noToken = await call(url)
      t.equal(noToken.status, 401, "a link is not usable without the agency's token")
      const res = await call(url, s.fetchToken)
      t.equal(res.status, 200)
      const bytes = Buffer.from(await res.arrayBuffer())
      t.same(bytes, s.data)
      t.equal(
        createHash('sha256').update(bytes).digest('hex'),
        body.documents[0]?.sha256,
        'the digest in the listing matches',
      )
      t.equal(res.headers.get('content-type'), 'image/jpeg')
      t.equal(res.headers.get('content-disposition'), 'attachment; filename=ktp.jpg')
      t.equal(res.headers.get('x-content-type-options'), 'nosniff')
      t.match(res.headers.get('content-security-policy') ?? '', 'sandbox')
      const accesses = await db.db.selectFrom('document_accesses').selectAll().execute()
      t.same(
        accesses.map((a) => [a.agency_id, a.citizen_id, a.version_id]),
        [['dinas-uji', s.citizen.id, s.up.version.id]],
      )
      const head = await fetch(url, { method: 'HEAD', headers: { authorization: `Bearer ${s.fetchToken}` } })
      t.equal(head.status, 404, 'no HEAD: it would record a fetch without one')
    })
  },
)

t.test(
  'SECURITY 24: a link replayed by another agency, with one changed character, after expiry, after revocation and after deletion is refused',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const grant = await s.grant()
      const body = (await (await call(`${s.issuer}/api/dokumen`, s.token)).json()) as Listing
      const url = body.documents[0]?.url ?? ''
      const refusal = async (u: string, token: string) => {
        const res = await call(u, token)
        const json = (await res.json()) as ApiError
        return [res.status, json.error, json.details?.reason]
      }
      t.same(await refusal(url, s.otherFetchToken), [403, 'forbidden', 'wrong_agency'], 'another agency')
      const last = url.at(-1) === 'A' ? 'B' : 'A'
      t.same(
        await refusal(`${url.slice(0, -1)}${last}`, s.fetchToken),
        [404, 'not_found', 'invalid'],
        'one changed character',
      )
      const old = createLink(keyring, s.config.documents, {
        versionId: s.up.version.id,
        agencyId: 'dinas-uji',
        now: new Date(Date.now() - 16 * 60 * 1000),
      })
      t.same(await refusal(`${s.issuer}${old.path}`, s.fetchToken), [410, 'gone', 'expired'], 'expired')
      await revokeGrant(db.db, s.citizen.id, grant.id)
      t.same(await refusal(url, s.fetchToken), [403, 'forbidden', 'revoked'], 'after revocation')
      t.equal((await call(`${s.issuer}/api/dokumen`, s.token)).status, 403, 'and no new links')
      await s.grant()
      t.equal((await call(url, s.fetchToken)).status, 200, 'a new grant lets the same link work again')
      await deleteDocument(db.db, s.citizen.id, s.up.document.id)
      t.same(await refusal(url, s.fetchToken), [410, 'gone', 'deleted'], 'after deletion')
      const after = (await (await call(`${s.issuer}/api/dokumen`, s.token)).json()) as Listing
      t.same(after.documents, [])
      t.same(after.missing, ['ktp', 'kk'])
      const refused = await db.db
        .selectFrom('audit_events')
        .select('data')
        .where('event', '=', 'document.fetch_refused')
        .execute()
      t.equal(refused.length, 3, "refusals of genuine links are in the citizen's audit trail")
    })
  },
)

t.test("withdrawing the agency's OIDC access ends its token here too", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    await s.grant()
    t.equal((await call(`${s.issuer}/api/dokumen`, s.token)).status, 200)
    await db.db.deleteFrom('oidc_payloads').where('model', '=', 'Grant').execute()
    t.equal((await call(`${s.issuer}/api/dokumen`, s.token)).status, 401)
  })
})
