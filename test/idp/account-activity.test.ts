/**
 * "Akun Saya → Aktivitas" and a document's history in the names a citizen knows: the
 * document type's name, the agency's registered name (one name for one agency) and the
 * service's name, never their ids; grouped by day in the regency's time zone; filtered by
 * who accessed (agencies, officers).
 */
import path from 'node:path'
import t, { type Test } from 'tap'
import { recordAudit } from '../../src/audit/audit.ts'
import { createGrant } from '../../src/documents/grants.ts'
import { createLink, createLinkKeyring, resolveLink } from '../../src/documents/links.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { uploadDocument } from '../../src/documents/vault.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, startIdp } from '../helpers/idp.ts'
import { jpeg, tempDir } from '../documents/fixtures.ts'

const DAY = 86_400_000

async function signInToAccount(browser: Browser, issuer: string): Promise<void> {
  const step = await browser.follow(`${issuer}/akun`, issuer)
  const login = await step.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
  })
  await (await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)).res.text()
}

/** A citizen whose KTP Dinas Contoh fetched for "Izin usaha mikro", behind the gateway and as a direct client. */
async function setup(t: Test, db: TestDatabase) {
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir })
  const citizen = await addCitizen(db.db, budi)
  // The gateway's client registers the agencies behind it with their names (agencies file) ...
  await registerClient(db, {
    clientId: 'portal-uji',
    name: 'Portal Layanan Uji',
    agencyId: 'satupintu',
    redirectUris: ['http://127.0.0.1:9/cb'],
    documentServices: [
      {
        id: 'izin-usaha',
        agency: {
          id: 'dinas-contoh',
          name: { id: 'Dinas Contoh', en: 'Example Agency' },
          origin: 'http://dinas-contoh.localhost:9',
        },
        name: { id: 'Izin usaha mikro', en: 'Micro business permit' },
        documents: ['ktp'],
        purpose: { id: 'Memeriksa identitas pemohon', en: 'To check the applicant' },
      },
    ],
  })
  // ... and the same agency's own app has a client of its own, under another name.
  await registerClient(db, {
    clientId: 'dinas-contoh-web',
    name: 'Dinas Contoh (aplikasi web)',
    agencyId: 'dinas-contoh',
    redirectUris: ['http://127.0.0.1:9/cb2'],
  })
  const storage = createLocalStorage(path.join(dir, 'documents'))
  const uploaded = await uploadDocument(
    db.db,
    storage,
    {
      citizenId: citizen.id,
      type: 'ktp',
      stream: (await import('node:stream')).Readable.from([jpeg()]),
      originalName: 'ktp.jpg',
      declaredMediaType: 'image/jpeg',
    },
    idp.config.documents,
    { actor: `citizen:${citizen.id}` },
  )
  // The name the direct client showed at consent is stored with the grant: the registered one wins.
  await createGrant(db.db, idp.config.documents, {
    citizenId: citizen.id,
    agencyId: 'dinas-contoh',
    serviceId: 'izin-usaha',
    documentTypes: ['ktp'],
    purpose: 'Memeriksa identitas pemohon',
    agencyName: 'Dinas Contoh (aplikasi web)',
    serviceName: 'Izin usaha mikro',
    expiresAt: new Date(Date.now() + DAY),
  })
  const keyring = createLinkKeyring(['k'.repeat(40)])
  const link = createLink(keyring, idp.config.documents, {
    versionId: uploaded.version.id,
    agencyId: 'dinas-contoh',
    serviceId: 'izin-usaha',
  })
  const fetched = await resolveLink(db.db, keyring, link.token, { agencyId: 'dinas-contoh', ip: '10.1.2.3' })
  if (!fetched.ok) throw new Error('the link did not resolve')
  const browser = new Browser()
  await signInToAccount(browser, idp.issuer)
  return { ...idp, citizen, browser, documentId: uploaded.document.id }
}

async function page(browser: Browser, url: string): Promise<string> {
  const res = await browser.request(url)
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`)
  return res.text()
}

t.test(
  'the activity record says "KTP diambil oleh Dinas Contoh untuk Izin usaha mikro", never the ids, in both languages',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const html = await page(s.browser, `${s.issuer}/akun/aktivitas`)
      t.match(html, '<strong>Kartu Tanda Penduduk (KTP) diambil oleh Dinas Contoh untuk Izin usaha mikro</strong>')
      t.match(
        html,
        '<strong>Dinas Contoh diizinkan mengambil Kartu Tanda Penduduk (KTP) untuk Izin usaha mikro</strong>',
        'the grant, by the same name',
      )
      t.match(html, '<strong>Kartu Tanda Penduduk (KTP) diunggah</strong>')
      t.match(
        html,
        /diambil oleh Dinas Contoh untuk Izin usaha mikro<\/strong><br><span class="hint">\d{2}\.\d{2} WIB · alamat IP 10\.1\.2\.3<\/span>/,
        'the agency is named once, in the sentence',
      )
      t.notMatch(html, 'dinas-contoh', 'no agency id')
      t.notMatch(html, 'izin-usaha', 'no service id')
      t.notMatch(html, 'aplikasi web', 'one agency, one name')
      t.notMatch(html, /Dokumen diambil|Layanan:/)

      const en = await page(s.browser, `${s.issuer}/akun/aktivitas?lang=en`)
      t.match(en, '<strong>Identity card (KTP) fetched by Example Agency for Micro business permit</strong>')
      t.match(en, 'Access by agencies')
      t.notMatch(en, 'dinas-contoh')
    })
  },
)

t.test("the activity record is grouped by day in the regency's time zone, with a readable date heading", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    // 20.30 UTC on 12 January is 03.30 on 13 January in Jakarta (UTC+7).
    await db.db
      .insertInto('audit_events')
      .values({
        at: new Date('2026-01-12T20:30:00Z'),
        event: 'auth.login.succeeded',
        actor: `citizen:${s.citizen.id}`,
        subject_id: s.citizen.id,
        data: '{}',
      })
      .execute()
    const html = await page(s.browser, `${s.issuer}/akun/aktivitas`)
    const today = new Intl.DateTimeFormat('id-ID', {
      timeZone: 'Asia/Jakarta',
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
    }).format(new Date())
    t.match(html, `<h2 class="day-heading">${today}</h2>`, "today's entries under today's date")
    t.match(
      html,
      /<h2 class="day-heading">Selasa, 13 Januari 2026<\/h2>\s*<ul class="item-list">\s*<li>\s*<p><strong>Masuk ke akun<\/strong><br><span class="hint">03\.30 WIB · oleh Anda<\/span>/,
    )
    t.equal(html.match(/class="day-heading"/g)?.length, 2, 'one heading per day')
    t.ok(html.indexOf(today) < html.indexOf('13 Januari 2026'), 'newest day first')
    const en = await page(s.browser, `${s.issuer}/akun/aktivitas?lang=en`)
    t.match(en, '<h2 class="day-heading">Tuesday, 13 January 2026</h2>')
  })
})

t.test('another regency time zone: days and times follow regency.timeZone (WITA)', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const dir = tempDir(t)
    const { issuer } = await startIdp(t, db, { dataDir: dir, regency: { name: 'Sukamaju', timeZone: 'Asia/Makassar' } })
    const citizen = await addCitizen(db.db, budi)
    // 16.30 UTC on 12 January is 00.30 on 13 January in Makassar (UTC+8), still the 12th in Jakarta.
    await db.db
      .insertInto('audit_events')
      .values({
        at: new Date('2026-01-12T16:30:00Z'),
        event: 'auth.login.succeeded',
        actor: `citizen:${citizen.id}`,
        subject_id: citizen.id,
        data: '{}',
      })
      .execute()
    const browser = new Browser()
    await signInToAccount(browser, issuer)
    const html = await page(browser, `${issuer}/akun/aktivitas`)
    t.match(
      html,
      /<h2 class="day-heading">Selasa, 13 Januari 2026<\/h2>\s*<ul class="item-list">\s*<li>\s*<p><strong>Masuk ke akun<\/strong><br><span class="hint">00\.30 WITA · oleh Anda/,
    )
  })
})

t.test(
  'the filter shows only access by agencies, or only access by officers, and works without script (links)',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const officerId = '6f1c1a8e-2b7a-4a57-9a8e-1d2c3b4a5f60'
      await recordAudit(db.db, {
        event: 'citizen.looked_up',
        actor: `officer:${officerId}`,
        subjectId: s.citizen.id,
        data: { reason: 'pelayanan loket' },
      })
      const all = await page(s.browser, `${s.issuer}/akun/aktivitas`)
      t.match(all, '<a href="/akun/aktivitas" aria-current="page">Semua aktivitas</a>')
      t.match(all, '<a href="/akun/aktivitas?oleh=instansi">Akses oleh instansi</a>')
      t.match(all, '<a href="/akun/aktivitas?oleh=petugas">Akses oleh petugas</a>')
      t.match(all, 'Masuk ke akun')

      const agencies = await page(s.browser, `${s.issuer}/akun/aktivitas?oleh=instansi`)
      t.match(agencies, '<a href="/akun/aktivitas?oleh=instansi" aria-current="page">Akses oleh instansi</a>')
      t.match(agencies, 'diambil oleh Dinas Contoh untuk Izin usaha mikro')
      t.notMatch(agencies, 'Masuk ke akun', "the citizen's own sign-in is not an agency's access")
      t.notMatch(agencies, 'dilihat petugas')
      t.notMatch(agencies, 'diizinkan mengambil', 'the citizen gave the grant: not an access by the agency')

      const officers = await page(s.browser, `${s.issuer}/akun/aktivitas?oleh=petugas`)
      t.match(officers, '<strong>Data Anda dilihat petugas</strong>')
      t.match(officers, 'oleh petugas')
      t.notMatch(officers, 'diambil oleh')
      t.notMatch(officers, 'Masuk ke akun')

      // Older pages keep the filter.
      for (let i = 0; i < 31; i++)
        await recordAudit(db.db, { event: 'citizen.looked_up', actor: `officer:${officerId}`, subjectId: s.citizen.id })
      const first = await page(s.browser, `${s.issuer}/akun/aktivitas?oleh=petugas`)
      const older =
        /<a href="(\/akun\/aktivitas\?oleh=petugas&amp;sebelum=[^"]+)">Lihat aktivitas yang lebih lama<\/a>/.exec(
          first,
        )?.[1]
      t.ok(older, 'the older page link keeps oleh=petugas')
      const second = await page(s.browser, `${s.issuer}${(older ?? '').replace(/&amp;/g, '&')}`)
      t.match(second, 'dilihat petugas')
      t.notMatch(second, 'Masuk ke akun')
      t.match(second, '<a href="/akun/aktivitas?oleh=petugas">Kembali ke yang terbaru</a>')

      t.equal(
        (await s.browser.request(`${s.issuer}/akun/aktivitas?oleh=semua`)).status,
        400,
        'an unknown filter is refused',
      )
    })
  },
)

t.test('a filter with nothing to show says so in plain words', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db, budi)
    const browser = new Browser()
    await signInToAccount(browser, issuer)
    t.match(
      await page(browser, `${issuer}/akun/aktivitas?oleh=petugas`),
      'Belum ada petugas yang mengakses data atau dokumen Anda.',
    )
    t.match(
      await page(browser, `${issuer}/akun/aktivitas?oleh=instansi&lang=en`),
      'No agency has accessed your data or documents yet.',
    )
  })
})

t.test("a document's history names the agency and the service, grouped by day", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    const html = await page(s.browser, `${s.issuer}/akun/dokumen/${s.documentId}`)
    const today = new Intl.DateTimeFormat('id-ID', {
      timeZone: 'Asia/Jakarta',
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
    }).format(new Date())
    t.match(
      html,
      new RegExp(
        `<h3 class="day-heading">${today}</h3>\\s*<ul class="item-list">\\s*<li><p><strong>Kartu Tanda Penduduk \\(KTP\\) diambil oleh Dinas Contoh untuk Izin usaha mikro</strong><br><span class="hint">\\d{2}\\.\\d{2} WIB · Versi 1</span>`,
      ),
    )
    t.notMatch(html, 'dinas-contoh')
    t.notMatch(html, 'izin-usaha')
    const en = await page(s.browser, `${s.issuer}/akun/dokumen/${s.documentId}?lang=en`)
    t.match(en, 'Identity card (KTP) fetched by Example Agency for Micro business permit')
    const grants = await page(s.browser, `${s.issuer}/akun/dokumen/izin?lang=id`)
    t.match(grants, '<h2>Dinas Contoh</h2>')
    t.notMatch(grants, 'aplikasi web', 'the grants page uses the same name')
  })
})
