/**
 * Document consent for agencies that integrate as OIDC relying parties (not behind the
 * gateway): the idp's question page, the grant it records, the answer back to the agency,
 * and the links the agency then lists and fetches with its own tokens.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { listGrants } from '../../src/documents/grants.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { uploadDocument } from '../../src/documents/vault.ts'
import { applyClientsFile } from '../../src/idp/oidc/clients-file.ts'
import {
  ClientError,
  documentServicesOf,
  findClient,
  prepareClient,
  upsertClient,
  type ClientInput,
  type DocumentServiceInput,
} from '../../src/idp/oidc/clients.ts'
import { answerUrl } from '../../src/idp/documents/consent.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import {
  testGatewayResource,
  Browser,
  codeFlowTokens,
  csrfFrom,
  formAction,
  registerClient,
  signInAt,
  startIdp,
} from '../helpers/idp.ts'
import { jpeg, tempDir } from '../documents/fixtures.ts'

const redirectUri = 'http://127.0.0.1:9/dokumen-kembali?dari=satupintu'

const izinUsaha = {
  id: 'izin-usaha',
  name: { id: 'Izin usaha mikro', en: 'Micro business permit' },
  documents: ['ktp', 'kk'],
  purpose: { id: 'Memeriksa identitas pemohon izin usaha', en: "To check the applicant's identity" },
}

interface Listing {
  documents: { type: string; url: string; sha256: string; media_type: string; verified: boolean; expires_at: number }[]
  not_granted: string[]
  missing: string[]
}

async function setup(t: Test, db: TestDatabase) {
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir })
  const citizen = await addCitizen(db.db, budi)
  const storage = createLocalStorage(path.join(dir, 'documents'))
  const rp = await registerClient(db, {
    clientId: 'dinas-uji-web',
    name: 'Dinas Perizinan Uji',
    agencyId: 'dinas-uji',
    redirectUris: [redirectUri, 'http://127.0.0.1:9/oidc/callback'],
    documentServices: [izinUsaha],
  })
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
  const upload = async (type: string) => {
    const data = jpeg()
    const up = await uploadDocument(
      db.db,
      storage,
      { citizenId: citizen.id, type, stream: Readable.from([data]), originalName: `${type}.jpg` },
      idp.config.documents,
    )
    return { data, up }
  }
  const ask = (params: Record<string, string> = {}) =>
    `${idp.issuer}/izin-dokumen?${new URLSearchParams({ client_id: rp.clientId, layanan: 'izin-usaha', redirect_uri: redirectUri, state: 'st-42', ...params }).toString()}`
  return { ...idp, citizen, storage, rp, backend, otherBackend, upload, ask }
}

async function answer(
  browser: Browser,
  issuer: string,
  html: string,
  decision: 'izinkan' | 'tolak',
): Promise<Response> {
  const fields = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
      m[1] as string,
      (m[2] as string).replace(/&amp;/g, '&'),
    ]),
  )
  return browser.request(new URL(formAction(html, '/izin-dokumen'), issuer).toString(), {
    form: { ...fields, keputusan: decision },
  })
}

async function clientCredentials(
  issuer: string,
  client: { clientId: string; secret?: string | undefined },
  resource?: string,
): Promise<Response> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' })
  if (resource !== undefined) body.set('resource', resource)
  return fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  })
}

async function tokenOf(res: Response): Promise<string> {
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { access_token: string }).access_token
}

t.test(
  'an agency outside the gateway asks through the idp: sign-in, consent in plain words, the answer back, then links it fetches with its own token',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const ktp = await s.upload('ktp')
      await s.upload('kk')
      const browser = new Browser()

      const first = await browser.request(s.ask())
      t.equal(first.status, 303, 'no session: sign in first')
      t.match(first.headers.get('location') ?? '', `${s.issuer}/auth?`)
      const page = await signInAt(browser, s.ask(), s.issuer, budi)
      t.equal(page.res.status, 200, 'after sign-in the question itself')
      t.match(page.url, '/izin-dokumen?')
      t.match(
        page.html,
        'Dinas Perizinan Uji meminta akses ke Kartu Tanda Penduduk (KTP) dan Kartu Keluarga (KK) Anda untuk layanan Izin usaha mikro. Izinkan?',
      )
      t.match(page.html, 'Memeriksa identitas pemohon izin usaha', "the purpose from the client's registration")
      t.match(page.html, budi.name, 'who is answering')
      t.equal(page.res.headers.get('cache-control'), 'no-store')
      t.match(
        page.res.headers.get('content-security-policy') ?? '',
        /form-action 'self' http:\/\/127\.0\.0\.1:9[; ]/,
        "the answer may go to the agency's origin only",
      )
      t.notMatch(page.html, '<script', 'no JavaScript needed')

      const allowed = await answer(browser, s.issuer, page.html, 'izinkan')
      t.equal(allowed.status, 303)
      t.equal(
        allowed.headers.get('location'),
        `${redirectUri}&izin_dokumen=diberikan&state=st-42`,
        'back to the registered URI, its own query kept, with the state',
      )
      const grants = await listGrants(db.db, s.citizen.id)
      t.same(
        grants.map((g) => [g.agencyId, g.serviceId, [...g.documentTypes].sort(), g.purpose, g.status]),
        [['dinas-uji', 'izin-usaha', ['kk', 'ktp'], 'Memeriksa identitas pemohon izin usaha', 'active']],
      )
      t.same(
        [grants[0]?.agencyName, grants[0]?.serviceName],
        ['Dinas Perizinan Uji', 'Izin usaha mikro'],
        'the names the citizen read are kept with the grant',
      )
      const listed0 = await (await browser.request(`${s.issuer}/akun/dokumen/izin`)).text()
      t.match(listed0, /<td>Izin usaha mikro<\/td>/, 'the grants page names the service, not its id')
      t.match(listed0, '<h2>Dinas Perizinan Uji</h2>')
      const lifetime = ((grants[0]?.expiresAt.getTime() ?? 0) - Date.now()) / 86_400_000
      t.ok(
        Math.abs(lifetime - s.config.documents.grantDays) < 0.01,
        `the grant lasts documents.grantDays (${lifetime.toFixed(3)} days)`,
      )
      const again = await browser.request(s.ask({ state: 'st-43' }))
      t.equal(again.status, 303, 'asked again while the grant stands: no second question')
      t.equal(again.headers.get('location'), `${redirectUri}&izin_dokumen=diberikan&state=st-43`)

      // The agency's relying party lists links with the citizen's access token…
      const token = (
        await codeFlowTokens(s.issuer, s.rp, browser, {
          redirectUri: 'http://127.0.0.1:9/oidc/callback',
          credentials: { username: budi.nik, password: budi.password },
        })
      ).access_token
      const listed = await fetch(`${s.issuer}/api/dokumen?layanan=izin-usaha`, {
        headers: { authorization: `Bearer ${token}` },
      })
      t.equal(listed.status, 200)
      const listing = (await listed.json()) as Listing
      t.same(listing.documents.map((d) => d.type).sort(), ['kk', 'ktp'])
      const link = listing.documents.find((d) => d.type === 'ktp')
      t.ok(link)

      // …and its backend fetches one with a client-credentials token for the documents API.
      const resource = `${s.issuer}/api/dokumen`
      const cc = await tokenOf(await clientCredentials(s.issuer, s.backend, resource))
      t.notMatch(cc, /\./, 'an opaque token, looked up on every use')
      const fetched = await fetch(link?.url ?? '', { headers: { authorization: `Bearer ${cc}` } })
      t.equal(fetched.status, 200)
      const bytes = Buffer.from(await fetched.arrayBuffer())
      t.same(bytes, ktp.data)
      t.equal(createHash('sha256').update(bytes).digest('hex'), link?.sha256)
      t.equal(fetched.headers.get('content-type'), 'image/jpeg')
      t.match(fetched.headers.get('content-disposition') ?? '', /^attachment;/)

      // Another agency's token for the same API, and this agency's token for the gateway, fetch nothing.
      const otherCc = await tokenOf(await clientCredentials(s.issuer, s.otherBackend, resource))
      const replay = await fetch(link?.url ?? '', { headers: { authorization: `Bearer ${otherCc}` } })
      t.equal(replay.status, 403)
      t.equal(((await replay.json()) as { details?: { reason?: string } }).details?.reason, 'wrong_agency')
      const forGateway = await tokenOf(await clientCredentials(s.issuer, s.backend))
      t.equal(
        (await fetch(link?.url ?? '', { headers: { authorization: `Bearer ${forGateway}` } })).status,
        401,
        'a token for another audience is refused',
      )
      const accesses = await db.db.selectFrom('document_accesses').select(['agency_id', 'version_id']).execute()
      t.same(accesses, [{ agency_id: 'dinas-uji', version_id: ktp.up.version.id }], 'one recorded fetch')
    })
  },
)

t.test('a citizen who says no: back to the agency with access_denied, and no grant', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    const browser = new Browser()
    const page = await signInAt(browser, s.ask(), s.issuer, budi)
    const denied = await answer(browser, s.issuer, page.html, 'tolak')
    t.equal(denied.status, 303)
    t.equal(denied.headers.get('location'), `${redirectUri}&error=access_denied&state=st-42`)
    t.same(await listGrants(db.db, s.citizen.id), [])
  })
})

t.test(
  'a document not uploaded yet: the question says so up front, leads to its upload and back, and asks "Izinkan?" only once it is there',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await s.upload('ktp')
      const browser = new Browser()
      const page = await signInAt(browser, s.ask(), s.issuer, budi)
      t.equal(page.res.status, 200)
      const html = page.html
      t.match(
        html,
        'Dinas Perizinan Uji meminta akses ke Kartu Tanda Penduduk (KTP) dan Kartu Keluarga (KK) Anda untuk layanan Izin usaha mikro.',
        'what is asked for',
      )
      t.notMatch(html, 'Izinkan?', 'not asked to allow yet')
      t.notMatch(html, 'value="izinkan"', 'no way to allow what is not there')
      t.match(html, 'Kartu Keluarga (KK) belum Anda unggah', 'the missing one named in the same page')
      t.match(
        html,
        /Sudah ada di akun Anda:<\/p>\s*<ul class="check-list">\s*<li>Kartu Tanda Penduduk \(KTP\)<\/li>\s*<\/ul>/,
        'the one already there listed as such',
      )
      const upload = /href="(\/akun\/dokumen\/unggah\/kk\?kembali=[^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&')
      t.ok(upload, 'an upload link for the missing type')
      t.notMatch(html, '/akun/dokumen/unggah/ktp', 'none for the one already there')
      const kembali = new URL(upload ?? '', s.issuer).searchParams.get('kembali') ?? ''
      t.equal(kembali, new URL(page.url).pathname + new URL(page.url).search, 'which comes back to the question')
      t.match(html, 'value="tolak"', 'saying no is possible')
      const uploadPage = await browser.request(new URL(upload ?? '', s.issuer).href)
      t.equal(uploadPage.status, 200, 'the upload page takes the way back')
      t.match(await uploadPage.text(), 'kembali=%2Fizin-dokumen')

      // An "Izinkan" sent anyway (an old form, a crafted post) grants nothing while the KK is missing.
      const forced = await answer(browser, s.issuer, html, 'izinkan')
      t.equal(forced.status, 303)
      t.equal(forced.headers.get('location'), kembali, 'back to the question')
      t.same(await listGrants(db.db, s.citizen.id), [], 'no grant for a document that is not there')

      await s.upload('kk')
      const asked = await browser.request(new URL(kembali, s.issuer).href)
      t.equal(asked.status, 200)
      const question = await asked.text()
      t.match(
        question,
        'meminta akses ke Kartu Tanda Penduduk (KTP) dan Kartu Keluarga (KK) Anda untuk layanan Izin usaha mikro. Izinkan?',
        'now the question',
      )
      t.notMatch(question, 'belum Anda unggah')
      const allowed = await answer(browser, s.issuer, question, 'izinkan')
      t.equal(allowed.status, 303)
      t.equal(allowed.headers.get('location'), `${redirectUri}&izin_dokumen=diberikan&state=st-42`)
      t.equal((await listGrants(db.db, s.citizen.id)).length, 1, 'granted')
    })
  },
)

t.test(
  'a document deleted after the grant: the grant stands, the page leads to the upload or back to the agency, saying so',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await s.upload('ktp')
      const kk = await s.upload('kk')
      const browser = new Browser()
      const page = await signInAt(browser, s.ask(), s.issuer, budi)
      const allowed = await answer(browser, s.issuer, page.html, 'izinkan')
      t.equal(allowed.headers.get('location'), `${redirectUri}&izin_dokumen=diberikan&state=st-42`)
      await db.db.updateTable('documents').set({ deleted_at: new Date() }).where('id', '=', kk.up.document.id).execute()
      const again = await browser.request(s.ask())
      t.equal(again.status, 200)
      const html = await again.text()
      t.match(html, 'memerlukan Kartu Keluarga (KK), yang belum Anda unggah')
      t.match(html, /href="\/akun\/dokumen\/unggah\/kk\?kembali=/, 'an upload link')
      t.match(
        html,
        `href="${answerUrl(redirectUri, { izin_dokumen: 'belum_lengkap', state: 'st-42' }).replace(/&/g, '&amp;')}"`,
        'or back to the agency, saying so',
      )
    })
  },
)

t.test(
  'bad questions: an unknown client or redirect URI gets a page and no redirect; an unknown service goes back as invalid_request',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const browser = new Browser()
      await signInAt(browser, s.ask(), s.issuer, budi)
      const page = async (url: string) => {
        const res = await browser.request(url)
        return { status: res.status, location: res.headers.get('location'), html: await res.text() }
      }
      for (const [what, params] of [
        ['an unknown client', { client_id: 'tidak-ada' }],
        ['an unregistered redirect URI', { redirect_uri: 'https://penipu.example/cb' }],
        ['a redirect URI that only starts like a registered one', { redirect_uri: `${redirectUri}&x=1` }],
        ['the redirect URI of another client', { client_id: s.backend.clientId }],
      ] as const) {
        const res = await page(s.ask(params))
        t.equal(res.status, 400, what)
        t.equal(res.location, null, `${what}: never redirected`)
        t.match(res.html, 'lang="id"')
        t.notMatch(res.html, /at .*\.ts:\d+/, 'no stack trace')
      }
      const unknownService = await page(s.ask({ layanan: 'layanan-lain' }))
      t.equal(unknownService.status, 303)
      const back = new URL(unknownService.location ?? '')
      t.equal(`${back.origin}${back.pathname}`, 'http://127.0.0.1:9/dokumen-kembali')
      t.equal(back.searchParams.get('error'), 'invalid_request')
      t.equal(back.searchParams.get('state'), 'st-42')
      t.match(back.searchParams.get('error_description') ?? '', 'layanan-lain')

      const noService = await page(s.ask({ layanan: '' }))
      t.equal(noService.status, 400, 'an empty service id is malformed')
      const withoutService = await browser.request(
        `${s.issuer}/izin-dokumen?${new URLSearchParams({ client_id: s.rp.clientId, redirect_uri: redirectUri }).toString()}`,
      )
      t.equal(withoutService.status, 200, "without layanan the client's only service is asked about")
      for (const state of ['dua kata', 'a\u0000b', 'x'.repeat(257)]) {
        t.equal((await page(s.ask({ state }))).status, 400, `state ${JSON.stringify(state.slice(0, 10))} refused`)
      }
      t.equal(
        (await page(s.ask({ redirect_uri: `http://127.0.0.1:9/${'a'.repeat(1100)}` }))).status,
        400,
        'an overlong redirect URI',
      )

      // The answer needs the page's CSRF token and a known decision.
      const html = (await page(s.ask())).html
      const fields = {
        client_id: s.rp.clientId,
        layanan: 'izin-usaha',
        redirect_uri: redirectUri,
        state: 'st-42',
        pertanyaan: /name="pertanyaan" value="([^"]+)"/.exec(html)?.[1] ?? '',
      }
      const noCsrf = await browser.request(`${s.issuer}/izin-dokumen`, { form: { ...fields, keputusan: 'izinkan' } })
      t.equal(noCsrf.status, 400, 'no CSRF token field')
      const wrongCsrf = await browser.request(`${s.issuer}/izin-dokumen`, {
        form: { ...fields, _csrf: 'x', keputusan: 'izinkan' },
      })
      t.equal(wrongCsrf.status, 403, 'a wrong CSRF token')
      const odd = await browser.request(`${s.issuer}/izin-dokumen`, {
        form: { ...fields, _csrf: csrfFrom(html), keputusan: 'mungkin' },
      })
      t.equal(odd.status, 400, 'an unknown decision')
      const forged = await browser.request(`${s.issuer}/izin-dokumen`, {
        form: { ...fields, _csrf: csrfFrom(html), redirect_uri: 'https://penipu.example/cb', keputusan: 'izinkan' },
      })
      t.equal(forged.status, 400, 'a changed redirect URI in the answer')
      t.equal(forged.headers.get('location'), null)
      t.same(await listGrants(db.db, s.citizen.id), [], 'no grant from any of these')
    })
  },
)

t.test('document services are validated when a client is registered, and a clients file carries them', async (t) => {
  const base: ClientInput = {
    name: 'Dinas Uji',
    agencyId: 'dinas-uji',
    redirectUris: ['https://dinas.example/cb'],
    authMethod: 'client_secret_basic',
  }
  const policy = { allowLoopbackHttp: false, documentTypes: ['ktp', 'kk'] }
  const refused = (documentServices: unknown, field: string | RegExp) => {
    t.throws(() => prepareClient({ ...base, documentServices: documentServices as DocumentServiceInput[] }, policy), {
      name: 'ClientError',
      message: field,
    })
  }
  refused(
    [{ ...izinUsaha, documents: ['ktp', 'npwp-tidak-ada'] }],
    /document_services\[0\]\.documents: unknown document type npwp-tidak-ada/,
  )
  refused([{ ...izinUsaha, documents: [] }], /document_services\[0\]\.documents: at least one/)
  refused([izinUsaha, izinUsaha], /document_services\[1\]\.id: izin-usaha is listed twice/)
  refused([{ ...izinUsaha, id: 'Izin Usaha' }], /document_services\[0\]\.id/)
  refused([{ ...izinUsaha, purpose: { id: '' } }], /document_services\[0\]\.purpose\.id: must be 5 to 1000/)
  refused([{ ...izinUsaha, name: { id: 'baris\nbaru' } }], /document_services\[0\]\.name\.id/)
  t.throws(
    () =>
      prepareClient(
        { ...base, redirectUris: [], grantTypes: ['client_credentials'], documentServices: [izinUsaha] },
        policy,
      ),
    new ClientError('document_services', 'need the authorization_code grant: the citizen answers in the browser'),
  )
  const ok = prepareClient(
    {
      ...base,
      documentServices: [{ ...izinUsaha, name: { id: 'Izin usaha' }, purpose: { id: 'Memeriksa identitas' } }],
    },
    policy,
  )
  t.same(
    documentServicesOf(ok.metadata),
    [
      {
        id: 'izin-usaha',
        name: { id: 'Izin usaha', en: 'Izin usaha' },
        documents: ['ktp', 'kk'],
        purpose: { id: 'Memeriksa identitas', en: 'Memeriksa identitas' },
      },
    ],
    'English falls back to the Indonesian text',
  )

  await eachDatabase(t, async (t, db) => {
    const dir = tempDir(t)
    const file = path.join(dir, 'clients.yaml')
    fs.writeFileSync(
      file,
      [
        'clients:',
        '  - client_id: dinas-berkas-web',
        '    name: Dinas Berkas',
        '    agency: dinas-berkas',
        '    redirect_uris: [https://berkas.example/cb]',
        '    document_services:',
        '      - id: akta',
        '        name: { id: Akta kelahiran anak, en: Child birth certificate }',
        '        documents: [kk]',
        '        purpose: { id: Menerbitkan akta kelahiran anak Anda }',
        '',
      ].join('\n'),
    )
    await applyClientsFile(db.db, file, policy)
    const row = await findClient(db.db, 'dinas-berkas-web')
    t.same(
      documentServicesOf(row?.metadata ?? {}).map((x) => [x.id, x.documents, x.purpose.id]),
      [['akta', ['kk'], 'Menerbitkan akta kelahiran anak Anda']],
    )
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('documents: [kk]', 'documents: [paspor]'))
    await t.rejects(applyClientsFile(db.db, file, policy), {
      message: /clients\[0\]\.document_services\[0\]\.documents: unknown document type paspor/,
    })
  })
})

/** Re-registers the test's relying party with other document services (as `clients apply` would). */
async function reRegister(db: TestDatabase, services: DocumentServiceInput[], extra: Partial<ClientInput> = {}) {
  const prepared = prepareClient(
    {
      clientId: 'dinas-uji-web',
      name: 'Dinas Perizinan Uji',
      agencyId: 'dinas-uji',
      redirectUris: [redirectUri, 'http://127.0.0.1:9/oidc/callback'],
      authMethod: 'client_secret_basic',
      scopes: ['openid', 'profile'],
      documentServices: services,
      ...extra,
    },
    { allowLoopbackHttp: true },
  )
  await upsertClient(db.db, { ...prepared, secret: undefined }, 'file')
}

function hidden(html: string, name: string): string {
  return (new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '').replace(/&amp;/g, '&')
}

t.test(
  'an answer counts only for the citizen who read the question, and only for the question they read',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const sitiRow = await addCitizen(db.db, siti)
      const budiBrowser = new Browser()
      const budiPage = await signInAt(budiBrowser, s.ask(), s.issuer, budi)
      t.equal(budiPage.res.status, 200)

      // Siti, on the same kiosk after Budi: Budi's question form, answered in Siti's session.
      // Her documents are uploaded: "Izinkan" is offered only for documents that are there.
      for (const type of ['ktp', 'kk']) {
        await uploadDocument(
          db.db,
          s.storage,
          { citizenId: sitiRow.id, type, stream: Readable.from([jpeg()]), originalName: `${type}.jpg` },
          s.config.documents,
        )
      }
      const sitiBrowser = new Browser()
      const sitiPage = await signInAt(sitiBrowser, s.ask(), s.issuer, siti)
      const replayed = await sitiBrowser.request(`${s.issuer}/izin-dokumen`, {
        form: {
          _csrf: csrfFrom(sitiPage.html),
          client_id: s.rp.clientId,
          layanan: 'izin-usaha',
          redirect_uri: redirectUri,
          state: 'st-42',
          pertanyaan: hidden(budiPage.html, 'pertanyaan'),
          keputusan: 'izinkan',
        },
      })
      t.equal(replayed.status, 409, 'not counted: the question is shown again')
      const again = await replayed.text()
      t.match(again, 'Pertanyaan ini sudah berubah, atau Anda sekarang masuk dengan akun lain')
      t.match(again, siti.name, 'to the citizen signed in now')
      t.same(await listGrants(db.db, sitiRow.id), [], 'no grant for a question Siti never saw')
      t.equal(
        (await answer(sitiBrowser, s.issuer, again, 'izinkan')).status,
        303,
        'her own answer to the question shown again counts',
      )
      t.equal((await listGrants(db.db, sitiRow.id)).length, 1)

      // The registration changes between the question and the answer: ask again.
      await reRegister(db, [{ ...izinUsaha, documents: ['ktp', 'kk', 'npwp'] }])
      const changed = await answer(budiBrowser, s.issuer, budiPage.html, 'izinkan')
      t.equal(changed.status, 409)
      t.match(await changed.text(), 'Kartu NPWP', 'now asking for what the registration asks for')
      t.same(await listGrants(db.db, s.citizen.id), [])
    })
  },
)

t.test(
  'a purpose changed since the grant is asked about again; a type no longer configured goes back as invalid_request',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await s.upload('ktp')
      await s.upload('kk')
      const browser = new Browser()
      const page = await signInAt(browser, s.ask(), s.issuer, budi)
      t.equal((await answer(browser, s.issuer, page.html, 'izinkan')).status, 303)
      t.equal((await browser.request(s.ask())).status, 303, 'granted: not asked again')

      await reRegister(db, [
        {
          ...izinUsaha,
          purpose: { id: 'Memeriksa identitas dan menagih retribusi', en: 'To check identity and bill fees' },
        },
      ])
      const asked = await browser.request(s.ask())
      t.equal(asked.status, 200, 'a new purpose: asked again')
      t.match(await asked.text(), 'Memeriksa identitas dan menagih retribusi')

      // Registered while `paspor` was configured; since removed from documents.types.
      await reRegister(db, [{ ...izinUsaha, documents: ['ktp', 'paspor'] }])
      const gone = await browser.request(s.ask())
      t.equal(gone.status, 303)
      const back = new URL(gone.headers.get('location') ?? '')
      t.equal(back.searchParams.get('error'), 'invalid_request')
      t.match(back.searchParams.get('error_description') ?? '', 'paspor')
    })
  },
)

t.test('id_token_hint: the question is put only to the citizen the agency signed in', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    await addCitizen(db.db, siti)
    const budiBrowser = new Browser()
    const tokens = await codeFlowTokens(s.issuer, s.rp, budiBrowser, {
      redirectUri: 'http://127.0.0.1:9/oidc/callback',
      credentials: { username: budi.nik, password: budi.password },
    })
    const hint = tokens.id_token ?? ''
    const withHint = await budiBrowser.request(s.ask({ id_token_hint: hint }))
    t.equal(withHint.status, 200, 'the hint names the citizen signed in: asked')
    const html = await withHint.text()
    t.equal(hidden(html, 'id_token_hint'), hint, 'and the hint rides along to the answer')
    t.equal((await answer(budiBrowser, s.issuer, html, 'tolak')).status, 303)

    const sitiBrowser = new Browser()
    await signInAt(sitiBrowser, s.ask(), s.issuer, siti)
    const other = await sitiBrowser.request(s.ask({ id_token_hint: hint }))
    t.equal(other.status, 303)
    t.equal(
      new URL(other.headers.get('location') ?? '').searchParams.get('error'),
      'login_required',
      'another citizen signed in here: not asked',
    )

    const stranger = await registerClient(db, {
      clientId: 'dinas-asing-web',
      agencyId: 'dinas-asing',
      redirectUris: ['http://127.0.0.1:9/oidc/callback'],
    })
    const foreign =
      (
        await codeFlowTokens(s.issuer, stranger, new Browser(), {
          redirectUri: 'http://127.0.0.1:9/oidc/callback',
          credentials: { username: budi.nik, password: budi.password },
        })
      ).id_token ?? ''
    for (const [what, bad] of [
      ['an ID token of another client', foreign],
      ['a token with its signature changed', `${hint.slice(0, -4)}AAAA`],
    ] as const) {
      const res = await budiBrowser.request(s.ask({ id_token_hint: bad }))
      t.equal(res.status, 303, what)
      t.equal(new URL(res.headers.get('location') ?? '').searchParams.get('error'), 'invalid_request', what)
    }
    t.equal(
      (await budiBrowser.request(s.ask({ id_token_hint: 'not-a-jwt' }))).status,
      400,
      'not even JWT-shaped: a page',
    )
  })
})

t.test('a redirect URI of a thousand characters survives the sign-in on the way to the question', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    const long = `http://127.0.0.1:9/dokumen-kembali/${'panjang-'.repeat(120)}?dari=satupintu&x=%C3%A9`
    t.ok(long.length > 990 && long.length <= 1024)
    await reRegister(db, [izinUsaha], { redirectUris: [long, 'http://127.0.0.1:9/oidc/callback'] })
    const browser = new Browser()
    const page = await signInAt(
      browser,
      s.ask({ redirect_uri: long, state: '%7B%22a%22%3A1%7D'.repeat(10) }),
      s.issuer,
      budi,
    )
    t.equal(page.res.status, 200, 'back at the question after signing in')
    t.match(page.url, '/izin-dokumen?')
  })
})
