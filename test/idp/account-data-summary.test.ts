/**
 * "Unduh data saya" beside the JSON: a readable summary page (profile, documents,
 * grants, agencies, recent activity) in plain words, for the signed-in citizen only,
 * never cached, and styled to print as a PDF.
 */
import path from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { createGrant } from '../../src/documents/grants.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { uploadDocument } from '../../src/documents/vault.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, startIdp } from '../helpers/idp.ts'
import { jpeg, tempDir } from '../documents/fixtures.ts'

async function signInToAccount(
  browser: Browser,
  issuer: string,
  who: { nik: string; password: string },
): Promise<void> {
  const step = await browser.follow(`${issuer}/akun`, issuer)
  const login = await step.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: who.nik, password: who.password },
  })
  await (await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)).res.text()
}

t.test(
  "the readable summary shows the citizen's own data, documents, grants and activity, uncached, in both languages",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const dir = tempDir(t)
      const { issuer, config } = await startIdp(t, db, { dataDir: dir })
      const citizen = await addCitizen(db.db, budi)
      await addCitizen(db.db, siti)
      await uploadDocument(
        db.db,
        createLocalStorage(path.join(dir, 'documents')),
        {
          citizenId: citizen.id,
          type: 'ktp',
          stream: Readable.from([jpeg()]),
          originalName: 'ktp.jpg',
          declaredMediaType: 'image/jpeg',
        },
        config.documents,
        { actor: `citizen:${citizen.id}` },
      )
      await createGrant(db.db, config.documents, {
        citizenId: citizen.id,
        agencyId: 'dinas-uji',
        serviceId: 'izin-usaha',
        documentTypes: ['ktp'],
        purpose: 'Memeriksa identitas pemohon',
        agencyName: 'Dinas Uji',
        serviceName: 'Izin usaha mikro',
        expiresAt: new Date(Date.now() + 86_400_000),
      })

      const anonymous = await new Browser().request(`${issuer}/akun/data/ringkasan`)
      t.equal(anonymous.status, 303, 'nobody signed in: sent to sign in')
      t.equal(new URL(anonymous.headers.get('location') ?? '').pathname, '/auth')

      const browser = new Browser()
      await signInToAccount(browser, issuer, budi)
      const data = await (await browser.request(`${issuer}/akun/data`)).text()
      t.match(
        data,
        '<a href="/akun/data/ringkasan">Lihat ringkasan yang mudah dibaca',
        'linked beside the JSON download',
      )
      t.match(data, 'Unduh data saya (JSON)')

      const res = await browser.request(`${issuer}/akun/data/ringkasan`)
      t.equal(res.status, 200)
      t.equal(res.headers.get('cache-control'), 'no-store')
      t.match(res.headers.get('content-type'), /^text\/html/)
      const html = await res.text()
      t.match(html, '<h1>Ringkasan data saya</h1>')
      t.match(html, `<td class="break">${budi.nik}</td>`, "the full NIK: it is the citizen's own copy")
      t.match(html, budi.name)
      t.match(html, '12 Januari 1990')
      t.match(html, '<strong>Kartu Tanda Penduduk (KTP)</strong><br><span class="hint">Versi 1, diunggah ')
      t.match(html, 'Belum diperiksa petugas')
      t.match(
        html,
        '<strong>Dinas Uji diizinkan mengambil Kartu Tanda Penduduk (KTP) untuk Izin usaha mikro</strong><br><span class="hint">Berlaku sampai ',
      )
      t.match(html, '<strong>Masuk ke akun</strong>')
      t.match(html, /<h3 class="day-heading">[A-Z][a-z]+, \d{1,2} [A-Z][a-z]+ \d{4}<\/h3>/)
      t.match(html, 'class="no-print"', 'the way back and the print hint stay off paper')
      t.notMatch(html, /<form/, 'a page to read and print, nothing to submit')
      t.notMatch(html, /izin-usaha|dinas-uji/, 'no ids')

      const en = await (await browser.request(`${issuer}/akun/data/ringkasan?lang=en`)).text()
      t.match(en, '<h1>Summary of my data</h1>')
      t.match(en, 'Identity card (KTP)')
      t.match(en, 'Signed in')

      // Another citizen, signed in on another browser, sees only their own.
      const other = new Browser()
      await signInToAccount(other, issuer, siti)
      const theirs = await (await other.request(`${issuer}/akun/data/ringkasan?lang=id`)).text()
      t.match(theirs, siti.nik)
      t.notMatch(theirs, budi.nik)
      t.notMatch(theirs, 'Kartu Tanda Penduduk (KTP)</strong>')

      const audit = await db.db
        .selectFrom('audit_events')
        .select(['actor', 'data'])
        .where('subject_id', '=', citizen.id)
        .where('event', '=', 'data.exported')
        .execute()
      t.same(
        audit.map((a) => [a.actor, (a.data as { format?: string }).format]),
        [
          [`citizen:${citizen.id}`, 'summary'],
          [`citizen:${citizen.id}`, 'summary'],
        ],
        'each view is in the trail',
      )
    })
  },
)
