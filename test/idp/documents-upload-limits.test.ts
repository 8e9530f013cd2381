/**
 * Issue 20, uploads: beside every file field, the type's own limit and formats in words a
 * citizen acts on (what to do with a phone photo or a scan that is larger), and the same
 * numbers as data attributes for the page's script; all derived from documents.types,
 * never written twice.
 */
import t, { type Test } from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, signInAt, startIdp } from '../helpers/idp.ts'
import { tempDir } from '../documents/fixtures.ts'

const MiB = 1024 * 1024
/** Limits unlike the shipped ones, so a number written into a template or message would show. */
const types = [
  {
    id: 'ktp',
    name: { id: 'Kartu Tanda Penduduk (KTP)', en: 'Identity card (KTP)' },
    formats: ['jpeg', 'png', 'pdf'],
    maxBytes: 3 * MiB,
    verificationExpected: true,
  },
  {
    id: 'pas-foto',
    name: { id: 'Pas foto', en: 'Passport photo' },
    formats: ['jpeg'],
    maxBytes: 1536 * 1024,
    verificationExpected: false,
  },
  {
    id: 'ijazah',
    name: { id: 'Ijazah', en: 'Diploma' },
    formats: ['pdf'],
    maxBytes: 7 * MiB,
    verificationExpected: true,
  },
]

async function setup(t: Test, db: TestDatabase) {
  const idp = await startIdp(t, db, { dataDir: tempDir(t), documents: { types } })
  await addCitizen(db.db, budi)
  const browser = new Browser()
  await signInAt(browser, `${idp.issuer}/akun/dokumen`, idp.issuer, budi)
  return { ...idp, browser }
}

async function html(browser: Browser, url: string): Promise<string> {
  const res = await browser.request(url)
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`)
  return res.text()
}

/** The `<div class="field">` of a type's form, from the upload form's start to its file input. */
function field(page: string, typeId: string): { hint: string; input: string } {
  const form = new RegExp(`action="/akun/dokumen/unggah/${typeId}"[\\s\\S]*?</form>`).exec(page)?.[0] ?? ''
  const hint = /<div class="hint" id="berkas-[a-z-]+-hint">([\s\S]*?)<\/div>/.exec(form)?.[1] ?? ''
  const input = /<input class="file-input"[^>]*>/.exec(form)?.[0] ?? ''
  return {
    hint: hint
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
    input,
  }
}

t.test("each file field says its type's limit and formats, and what to do with a larger photo or scan", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    const ktp = field(await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`), 'ktp')
    t.match(ktp.hint, /^Foto \(JPG atau PNG\) atau PDF, paling besar 3 MB\. /, 'the limit from the configuration')
    t.match(ktp.hint, 'Foto dari ponsel sering lebih besar dari itu: perkecil dulu di aplikasi galeri')
    t.match(ktp.hint, 'atau foto ulang dengan resolusi kamera lebih rendah.')
    t.match(ktp.hint, 'PDF yang terlalu besar: pindai ulang dengan resolusi lebih rendah')
    t.match(ktp.input, `data-max-bytes="${3 * MiB}"`)
    t.match(ktp.input, 'data-formats="pdf,jpeg,png"')
    t.match(ktp.input, 'data-size="3 MB"')
    t.match(ktp.input, 'aria-describedby="berkas-ktp-hint"', 'read out with the field')

    const photo = field(await html(s.browser, `${s.issuer}/akun/dokumen/unggah/pas-foto`), 'pas-foto')
    t.match(photo.hint, /^Foto \(JPG\), paling besar 1,5 MB\./)
    t.notMatch(photo.hint, 'PDF', 'no word of PDFs where none is accepted')
    t.match(photo.input, `data-max-bytes="${1536 * 1024}"`)
    t.match(photo.input, 'data-formats="jpeg"')

    const diploma = field(await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ijazah`), 'ijazah')
    t.match(diploma.hint, /^PDF, paling besar 7 MB\. PDF yang terlalu besar/)
    t.notMatch(diploma.hint, 'Foto', 'no photo advice where photos are not accepted')

    // The list shows the same words beside each type's field.
    const list = await html(s.browser, `${s.issuer}/akun/dokumen`)
    t.equal(field(list, 'ktp').hint, ktp.hint)
    t.equal(field(list, 'pas-foto').input, photo.input)

    const en = field(await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp?lang=en`), 'ktp')
    t.match(en.hint, /^A photo \(JPG or PNG\) or PDF, at most 3 MB\. Phone photos are often larger than that/)
    t.match(en.input, 'data-size="3 MB"')
  })
})
