/**
 * "Akun Saya → Dokumen" over HTTP: uploads through the page (multipart, as a browser
 * without JavaScript sends it), refusals in plain words that leave nothing behind,
 * versions, downloads, deletion, accesses, grants and the way back to the gateway.
 */
import { createHash } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.ts'
import { activeGrantFor, createGrant } from '../../src/documents/grants.ts'
import { createLink, createLinkKeyring, resolveLink } from '../../src/documents/links.ts'
import { continueTarget } from '../../src/idp/documents/pages.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, startIdp } from '../helpers/idp.ts'
import { countRows, filesUnder, jpeg, pdf, png, tempDir } from '../documents/fixtures.ts'

const DAY = 86_400_000
const gatewayUrl = 'http://127.0.0.1:1'

interface FilePart {
  data: Buffer
  name: string
  type?: string
}

async function signInToAccount(
  browser: Browser,
  issuer: string,
  who: { nik: string; password: string } = budi,
): Promise<void> {
  const step = await browser.follow(`${issuer}/akun`, issuer)
  const login = await step.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: who.nik, password: who.password },
  })
  const done = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
  if (done.res.status !== 200) throw new Error(`sign-in ended with ${done.res.status}`)
  await done.res.text()
}

/** Posts a multipart form the way a browser does (fields in order, the file with its name and type). */
async function postMultipart(
  browser: Browser,
  url: string,
  fields: readonly (readonly [string, string | FilePart])[],
): Promise<Response> {
  const fd = new FormData()
  for (const [name, v] of fields) {
    if (typeof v === 'string') fd.append(name, v)
    else fd.append(name, new Blob([new Uint8Array(v.data)], { type: v.type ?? 'application/octet-stream' }), v.name)
  }
  const u = new URL(url)
  const res = await fetch(u, {
    method: 'POST',
    body: fd,
    headers: { accept: 'text/html', cookie: browser.cookieHeader(u) },
    redirect: 'manual',
  })
  browser.store(res)
  return res
}

/** A multipart body built by hand, byte for byte as a browser sends it (FormData leaves out `filename=""`). */
async function postRawMultipart(
  browser: Browser,
  url: string,
  parts: readonly { headers: string; body: Buffer | string }[],
): Promise<Response> {
  const boundary = '----satupintuTestBoundary4f8a'
  const chunks: Buffer[] = []
  for (const p of parts)
    chunks.push(Buffer.from(`--${boundary}\r\n${p.headers}\r\n\r\n`), Buffer.from(p.body), Buffer.from('\r\n'))
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  const u = new URL(url)
  const res = await fetch(u, {
    method: 'POST',
    body: Buffer.concat(chunks),
    headers: {
      accept: 'text/html',
      cookie: browser.cookieHeader(u),
      'content-type': `multipart/form-data; boundary=${boundary}`,
    },
    redirect: 'manual',
  })
  browser.store(res)
  return res
}

/** Opens `pagePath`, finds the upload form of `typeId` on it and sends `file` through it. */
async function uploadVia(
  browser: Browser,
  issuer: string,
  pagePath: string,
  typeId: string,
  file: FilePart,
): Promise<Response> {
  const html = await (await browser.request(`${issuer}${pagePath}`)).text()
  const action = formAction(html, `/akun/dokumen/unggah/${typeId}`)
  return postMultipart(browser, new URL(action, issuer).toString(), [
    ['_csrf', csrfFrom(html)],
    ['berkas', file],
  ])
}

async function setup(t: Test, db: TestDatabase) {
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir })
  const citizen = await addCitizen(db.db, budi)
  const browser = new Browser()
  await signInToAccount(browser, idp.issuer)
  const root = path.join(dir, 'documents')
  return { ...idp, citizen, browser, root, files: () => filesUnder(root) }
}

async function get(browser: Browser, url: string): Promise<{ status: number; html: string; res: Response }> {
  const res = await browser.request(url)
  return { status: res.status, html: await res.text(), res }
}

async function onlyDocument(db: Kysely<Database>) {
  const doc = await db.selectFrom('documents').selectAll().executeTakeFirstOrThrow()
  const versions = await db
    .selectFrom('document_versions')
    .selectAll()
    .where('document_id', '=', doc.id)
    .orderBy('version')
    .execute()
  return { doc, versions }
}

/** A PNG of exactly `size` bytes (a tEXt chunk pads it). */
function pngOfSize(size: number): Buffer {
  // A tEXt chunk costs 12 bytes of framing and 8 of its keyword ("Comment\0").
  const b = png({ text: 'x'.repeat(size - png().length - 20) })
  if (b.length !== size) throw new Error(`png of ${b.length} bytes, wanted ${size}`)
  return b
}

t.test(
  'without a session the document pages send the browser to sign in, and an upload without a CSRF token is refused',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const dir = tempDir(t)
      const { issuer } = await startIdp(t, db, { dataDir: dir })
      const browser = new Browser()
      for (const p of ['/akun/dokumen', '/akun/dokumen/izin', '/akun/dokumen/unggah/ktp']) {
        const res = await browser.request(`${issuer}${p}`)
        t.equal(res.status, 303, p)
        const to = new URL(res.headers.get('location') ?? '')
        t.equal(to.pathname, '/auth')
        t.equal(to.searchParams.get('state'), p)
      }
      const res = await postMultipart(browser, `${issuer}/akun/dokumen/unggah/ktp`, [
        ['_csrf', 'x'],
        ['berkas', { data: jpeg(), name: 'ktp.jpg', type: 'image/jpeg' }],
      ])
      t.equal(res.status, 403)
      t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 })
      t.same(filesUnder(path.join(dir, 'documents')), [])
    })
  },
)

t.test(
  'a citizen uploads a KTP photo on the page: listed with date, size, type and "Belum diverifikasi"; the bytes sit under their digest',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const profile = await get(s.browser, `${s.issuer}/akun`)
      t.match(profile.html, 'href="/akun/dokumen"', 'Akun Saya links to the documents')

      const list = await get(s.browser, `${s.issuer}/akun/dokumen`)
      t.equal(list.status, 200)
      t.match(list.html, 'Dokumen saya')
      for (const type of s.config.documents.types) t.match(list.html, type.name.id, type.id)
      const form =
        /<form method="post" action="\/akun\/dokumen\/unggah\/ktp" enctype="multipart\/form-data"[\s\S]*?<\/form>/.exec(
          list.html,
        )?.[0] ?? ''
      t.ok(form, 'a multipart form per type')
      t.ok(form.indexOf('name="_csrf"') < form.indexOf('type="file"'), 'the CSRF token comes before the file')
      t.match(form, 'accept="application/pdf,.pdf,image/jpeg,.jpg,.jpeg,image/png,.png"')
      t.match(form, 'Foto (JPG atau PNG) atau PDF, paling besar 5 MB.')
      t.match(list.html, 'Foto yang lebih besar dari batasnya: perkecil dulu di aplikasi galeri', 'what to do, once')
      t.match(list.html, /accept="image\/jpeg,\.jpg,\.jpeg,image\/png,\.png"/, 'pas foto: images only')

      const data = jpeg()
      const res = await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'ktp', {
        data,
        name: 'ktp budi.jpg',
        type: 'image/jpeg',
      })
      t.equal(res.status, 303)
      const location = res.headers.get('location') ?? ''
      t.match(location, /^\/akun\/dokumen\/[A-Za-z0-9_-]{22}\?pesan=diunggah$/)

      const { doc, versions } = await onlyDocument(db.db)
      t.equal(doc.citizen_id, s.citizen.id)
      t.equal(doc.type, 'ktp')
      t.equal(versions.length, 1)
      const sha = createHash('sha256').update(data).digest('hex')
      t.equal(versions[0]?.sha256, sha)
      t.equal(versions[0]?.media_type, 'image/jpeg')
      t.equal(versions[0]?.original_name_encoded, 'ktp%20budi.jpg')
      t.same(s.files(), [path.join(sha.slice(0, 2), sha.slice(2, 4), sha)], 'one file, under its digest')
      const audit = await db.db
        .selectFrom('audit_events')
        .selectAll()
        .where('event', '=', 'document.uploaded')
        .executeTakeFirstOrThrow()
      t.equal(audit.subject_id, s.citizen.id)
      t.notMatch(JSON.stringify(audit.data), 'budi', 'no file name in the audit trail')

      const detail = await get(s.browser, `${s.issuer}${location}`)
      t.equal(detail.status, 200)
      t.match(detail.html, 'Dokumen sudah diunggah.')
      t.match(detail.html, 'Kartu Tanda Penduduk (KTP)')
      t.match(detail.html, 'Belum diverifikasi')
      t.match(detail.html, 'ktp budi.jpg')
      t.match(detail.html, /\d+ byte/)
      t.match(detail.html, 'JPG')
      t.match(detail.html, / WIB/)
      t.match(detail.html, 'Belum ada instansi yang mengambil dokumen ini.')
      t.notMatch(detail.html, 'Lanjutkan', 'no way back offered without kembali')

      const after = await get(s.browser, `${s.issuer}/akun/dokumen`)
      t.match(after.html, `href="/akun/dokumen/${doc.id}"`)
      t.match(after.html, 'Belum diverifikasi')
      t.notMatch(
        after.html,
        'action="/akun/dokumen/unggah/ktp"',
        'no second upload form for an uploaded type on the list',
      )

      const en = await get(s.browser, `${s.issuer}${location}&lang=en`)
      t.match(en.html, 'Not verified yet')
    })
  },
)

t.test(
  'SECURITY 25: over HTTP, each refused upload shows the upload page again with the reason, and leaves no row and no file',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const cases: { what: string; type: string; file: FilePart; status: number; text: string }[] = [
        {
          what: 'a 0-byte file',
          type: 'ktp',
          file: { data: Buffer.alloc(0), name: 'kosong.jpg', type: 'image/jpeg' },
          status: 400,
          text: 'Berkas kosong',
        },
        {
          what: 'an HTML file named .jpg',
          type: 'ktp',
          file: {
            data: Buffer.from('<!doctype html><script>alert(document.cookie)</script>'),
            name: 'ktp.jpg',
            type: 'image/jpeg',
          },
          status: 415,
          text: 'Berkas harus PDF, JPG, atau PNG.',
        },
        {
          what: 'a PNG with a PDF appended',
          type: 'ktp',
          file: { data: Buffer.concat([png(), pdf()]), name: 'ktp.png', type: 'image/png' },
          status: 400,
          text: 'berisi data lain',
        },
        {
          what: 'a file one byte over the 5 MB limit',
          type: 'ktp',
          file: { data: pngOfSize(5 * 1024 * 1024 + 1), name: 'ktp.png', type: 'image/png' },
          status: 413,
          text: 'Ukuran berkas melebihi 5 MB',
        },
        {
          what: 'a PDF as pas foto',
          type: 'pas-foto',
          file: { data: pdf(), name: 'foto.pdf', type: 'application/pdf' },
          status: 415,
          text: 'Berkas harus JPG atau PNG.',
        },
        {
          what: 'a PNG declared as SVG',
          type: 'ktp',
          file: { data: png(), name: 'ktp.svg', type: 'image/svg+xml' },
          status: 415,
          text: 'Berkas harus PDF, JPG, atau PNG.',
        },
        {
          what: 'a broken JPEG',
          type: 'ktp',
          file: { data: jpeg().subarray(0, 20), name: 'ktp.jpg', type: 'image/jpeg' },
          status: 400,
          text: 'Berkas rusak atau tidak lengkap',
        },
      ]
      for (const c of cases) {
        const res = await uploadVia(s.browser, s.issuer, `/akun/dokumen/unggah/${c.type}`, c.type, c.file)
        t.equal(res.status, c.status, `${c.what}: ${c.status}`)
        const html = await res.text()
        t.match(html, c.text, `${c.what}: the reason in plain words`)
        t.match(html, 'role="alert"', `${c.what}: announced`)
        t.match(html, `action="/akun/dokumen/unggah/${c.type}"`, `${c.what}: the form again`)
        t.match(html, 'aria-invalid="true"')
        t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 }, `${c.what}: no row`)
        t.same(s.files(), [], `${c.what}: no file, not even a temporary one`)
      }
      // What a browser sends when the citizen pressed "Unggah" without choosing a file.
      const html = (await get(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`)).html
      const none = await postRawMultipart(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`, [
        { headers: 'Content-Disposition: form-data; name="_csrf"', body: csrfFrom(html) },
        {
          headers:
            'Content-Disposition: form-data; name="berkas"; filename=""\r\nContent-Type: application/octet-stream',
          body: '',
        },
      ])
      t.equal(none.status, 400, 'no file chosen: 400')
      t.match(await none.text(), 'Pilih berkas yang akan diunggah.')
      t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 })
      const limit = pngOfSize(5 * 1024 * 1024)
      const ok = await uploadVia(s.browser, s.issuer, '/akun/dokumen/unggah/ktp', 'ktp', {
        data: limit,
        name: 'ktp.png',
        type: 'image/png',
      })
      t.equal(ok.status, 303, 'exactly 5 MB is accepted')
      const en = await uploadVia(s.browser, s.issuer, '/akun/dokumen/unggah/kk?lang=en', 'kk', {
        data: Buffer.alloc(0),
        name: 'kk.jpg',
        type: 'image/jpeg',
      })
      t.match(await en.text(), 'The file is empty.', 'in English too')
      const unknown = await s.browser.request(`${s.issuer}/akun/dokumen/unggah/sim-a`)
      t.equal(unknown.status, 404, 'an unknown type')
    })
  },
)

t.test('a file sent before the CSRF token is refused before anything is stored', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    const html = (await get(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`)).html
    const res = await postMultipart(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`, [
      ['berkas', { data: jpeg(), name: 'ktp.jpg', type: 'image/jpeg' }],
      ['_csrf', csrfFrom(html)],
    ])
    t.equal(res.status, 403)
    t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 })
    t.same(s.files(), [])
    const json = await s.browser.request(`${s.issuer}/akun/dokumen/unggah/ktp`, { form: { _csrf: csrfFrom(html) } })
    t.equal(json.status, 415, 'a form that is not multipart is refused')
  })
})

t.test('an upload cut off halfway leaves no row and no file', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    const html = (await get(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`)).html
    const boundary = 'satupintuBoundary7MA4YWxkTrZu0gW'
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrfFrom(html)}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="berkas"; filename="ktp.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n`,
    )
    const url = new URL(`${s.issuer}/akun/dokumen/unggah/ktp`)
    const socket = net.connect(Number(url.port), url.hostname)
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    socket.write(
      `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nCookie: ${s.browser.cookieHeader(url)}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`,
    )
    socket.write(head)
    socket.write(Buffer.alloc(1024 * 1024, 0x61))
    // Wait until the server has started writing the file, then cut the connection.
    const deadline = Date.now() + 5000
    while (s.files().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    t.ok(
      s.files().some((f) => f.startsWith('.incoming-')),
      'the upload was being written',
    )
    socket.destroy()
    const end = Date.now() + 5000
    while (s.files().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    t.same(s.files(), [], 'no file, not even a temporary one')
    t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 }, 'no row')
    const page = await s.browser.request(`${s.issuer}/akun/dokumen`)
    t.equal(page.status, 200, 'the server carries on')
  })
})

t.test(
  "SECURITY 23: citizen B asking for citizen A's document, version, delete page or delete gets 404, as for a made-up id",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'ktp', {
        data: jpeg(),
        name: 'ktp.jpg',
        type: 'image/jpeg',
      })
      const { doc, versions } = await onlyDocument(db.db)
      const versionId = versions[0]?.id ?? ''
      await addCitizen(db.db, siti)
      const other = new Browser()
      await signInToAccount(other, s.issuer, siti)
      const own = await get(other, `${s.issuer}/akun/dokumen`)
      t.notMatch(own.html, doc.id, "B's list does not show A's document")
      const made = 'AAAAAAAAAAAAAAAAAAAAAA'
      for (const p of [
        `/akun/dokumen/${doc.id}`,
        `/akun/dokumen/${doc.id}/unduh/${versionId}`,
        `/akun/dokumen/${doc.id}/hapus`,
        `/akun/dokumen/${made}`,
        `/akun/dokumen/${made}/unduh/${versionId}`,
        '/akun/dokumen/x%00y',
      ]) {
        const res = await get(other, `${s.issuer}${p}`)
        t.equal(res.status, 404, p)
        t.notMatch(res.html, 'ktp.jpg')
      }
      const res = await other.request(`${s.issuer}/akun/dokumen/${doc.id}/hapus`, {
        form: { _csrf: csrfFrom(own.html) },
      })
      t.equal(res.status, 404, 'B cannot delete it')
      const still = await db.db
        .selectFrom('documents')
        .select('deleted_at')
        .where('id', '=', doc.id)
        .executeTakeFirstOrThrow()
      t.equal(still.deleted_at, null)
      const mine = await s.browser.request(`${s.issuer}/akun/dokumen/${doc.id}`)
      t.equal(mine.status, 200, 'A still sees it')
    })
  },
)

t.test(
  'SECURITY 25: a download is an attachment with the RFC 6266 name, nosniff and a sandboxing CSP; hostile names come out harmless',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const data = jpeg()
      await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'ktp', {
        data,
        name: 'KTP Śantoso.jpg',
        type: 'image/jpeg',
      })
      const { doc, versions } = await onlyDocument(db.db)
      const res = await s.browser.request(`${s.issuer}/akun/dokumen/${doc.id}/unduh/${versions[0]?.id ?? ''}`)
      t.equal(res.status, 200)
      t.same(Buffer.from(await res.arrayBuffer()), data, 'the bytes as uploaded')
      t.equal(res.headers.get('content-type'), 'image/jpeg')
      t.equal(
        res.headers.get('content-disposition'),
        `attachment; filename="KTP Santoso.jpg"; filename*=UTF-8''KTP%20%C5%9Aantoso.jpg`,
      )
      t.equal(res.headers.get('x-content-type-options'), 'nosniff')
      t.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; sandbox/)
      t.equal(res.headers.get('cache-control'), 'private, no-store')
      t.equal(res.headers.get('repr-digest'), `sha-256=:${createHash('sha256').update(data).digest('base64')}:`)

      const hostile = '../../etc/x.jpg.php\r\n\u202Egpj.exe' + 'a'.repeat(300)
      await uploadVia(s.browser, s.issuer, `/akun/dokumen/${doc.id}`, 'ktp', {
        data: png(),
        name: hostile,
        type: 'image/png',
      })
      const v2 = await db.db
        .selectFrom('document_versions')
        .selectAll()
        .where('document_id', '=', doc.id)
        .where('version', '=', 2)
        .executeTakeFirstOrThrow()
      t.notMatch(v2.storage_key, /[./\\]/, 'stored under the generated key')
      t.match(v2.original_name_encoded, /^[A-Za-z0-9._~%-]+$/, 'the original name only as encoded metadata')
      const again = await s.browser.request(`${s.issuer}/akun/dokumen/${doc.id}/unduh/${v2.id}`)
      const cd = again.headers.get('content-disposition') ?? ''
      t.match(
        cd,
        /^attachment; filename=("[^"\\/\r\n]+\.png"|[^";\\/\s]+\.png); filename\*=UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+$/,
      )
      t.notMatch(cd, '\u202E')
      t.notMatch(cd, '..')
      const page = await get(s.browser, `${s.issuer}/akun/dokumen/${doc.id}`)
      t.notMatch(page.html, '\u202E', 'no bidi override on the page')
      t.notMatch(page.html, '../', 'no path on the page')
    })
  },
)

t.test(
  'replacing a document adds a version; the old one is listed with its dates and stays downloadable',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'kk', {
        data: jpeg(),
        name: 'kk lama.jpg',
        type: 'image/jpeg',
      })
      const { doc } = await onlyDocument(db.db)
      const detail = await get(s.browser, `${s.issuer}/akun/dokumen/${doc.id}`)
      t.match(detail.html, 'Ganti dengan berkas baru')
      const res = await uploadVia(s.browser, s.issuer, `/akun/dokumen/${doc.id}`, 'kk', {
        data: pdf(),
        name: 'kk baru.pdf',
        type: 'application/pdf',
      })
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), `/akun/dokumen/${doc.id}?pesan=diganti`)
      const { versions } = await onlyDocument(db.db)
      t.same(
        versions.map((v) => [v.version, v.media_type, v.superseded_at === null]),
        [
          [1, 'image/jpeg', false],
          [2, 'application/pdf', true],
        ],
      )
      const page = await get(s.browser, `${s.issuer}/akun/dokumen/${doc.id}?pesan=diganti`)
      t.match(page.html, 'Versi baru sudah diunggah.')
      t.match(page.html, 'Versi terbaru (Versi 2)')
      t.match(page.html, 'Versi sebelumnya')
      t.match(page.html, /Versi 1<\/strong><br>\s*<span class="hint">Diunggah [^<]+WIB · Diganti [^<]+WIB/)
      t.match(page.html, 'disimpan 30 hari setelah diganti')
      const old = await s.browser.request(`${s.issuer}/akun/dokumen/${doc.id}/unduh/${versions[0]?.id ?? ''}`)
      t.equal(old.status, 200)
      t.equal(old.headers.get('content-type'), 'image/jpeg')
      await old.arrayBuffer()
    })
  },
)

t.test(
  'deleting a document asks first, then it is gone from the list, its page and its downloads at once',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'npwp', {
        data: png(),
        name: 'npwp.png',
        type: 'image/png',
      })
      const { doc, versions } = await onlyDocument(db.db)
      const confirm = await get(s.browser, `${s.issuer}/akun/dokumen/${doc.id}/hapus`)
      t.equal(confirm.status, 200)
      t.match(confirm.html, 'Hapus Kartu NPWP?')
      t.match(confirm.html, 'dihapus permanen setelah 30 hari')
      const res = await s.browser.request(new URL(formAction(confirm.html, '/hapus'), s.issuer).toString(), {
        form: { _csrf: csrfFrom(confirm.html) },
      })
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/akun/dokumen?pesan=dihapus')
      const list = await get(s.browser, `${s.issuer}/akun/dokumen?pesan=dihapus`)
      t.match(list.html, 'Dokumen sudah dihapus.')
      t.notMatch(list.html, doc.id)
      t.match(list.html, 'action="/akun/dokumen/unggah/npwp"', 'the type can be uploaded afresh')
      t.equal((await s.browser.request(`${s.issuer}/akun/dokumen/${doc.id}`)).status, 404)
      t.equal(
        (await s.browser.request(`${s.issuer}/akun/dokumen/${doc.id}/unduh/${versions[0]?.id ?? ''}`)).status,
        404,
      )
      const row = await db.db
        .selectFrom('documents')
        .select('deleted_at')
        .where('id', '=', doc.id)
        .executeTakeFirstOrThrow()
      t.ok(row.deleted_at, 'marked deleted; the bytes wait for the retention period')
      t.equal(s.files().length, 1)
    })
  },
)

t.test("every access to a document is listed with the agency's name and the time in WIB", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    await registerClient(db, {
      name: 'Dinas Kependudukan Uji',
      agencyId: 'dinas-uji',
      redirectUris: ['http://127.0.0.1:9/cb'],
    })
    await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'ktp', { data: jpeg(), name: 'ktp.jpg', type: 'image/jpeg' })
    const { doc, versions } = await onlyDocument(db.db)
    const config = testConfig().documents
    for (const agencyId of ['dinas-uji', 'dinas-tanpa-klien']) {
      await createGrant(db.db, config, {
        citizenId: s.citizen.id,
        agencyId,
        serviceId: 'akta-kelahiran-baru',
        documentTypes: ['ktp'],
        purpose: 'Memproses permohonan akta',
        expiresAt: new Date(Date.now() + DAY),
      })
      const keyring = createLinkKeyring(['k'.repeat(40)])
      const link = createLink(keyring, config, {
        versionId: versions[0]?.id ?? '',
        agencyId,
        serviceId: 'akta-kelahiran-baru',
      })
      const r = await resolveLink(db.db, keyring, link.token, { agencyId })
      t.equal(r.ok, true)
    }
    const page = await get(s.browser, `${s.issuer}/akun/dokumen/${doc.id}`)
    t.match(page.html, 'Siapa yang sudah mengambil dokumen ini')
    t.match(
      page.html,
      '<strong>Kartu Tanda Penduduk (KTP) diambil oleh Dinas Kependudukan Uji</strong>',
      'an agency with an OIDC client: its name',
    )
    t.match(page.html, '<strong>Kartu Tanda Penduduk (KTP) diambil oleh dinas-tanpa-klien</strong>', 'otherwise its id')
    t.notMatch(page.html, 'akta-kelahiran-baru', 'a service without a registered name is left out, not shown by its id')
    t.match(page.html, /<span class="hint">\d{2}\.\d{2} WIB · Versi 1<\/span>/)
  })
})

t.test('the grants page lists document grants, and "Cabut izin" withdraws one at once', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    await registerClient(db, {
      name: 'Dinas Kependudukan Uji',
      agencyId: 'dinas-uji',
      redirectUris: ['http://127.0.0.1:9/cb'],
    })
    const config = testConfig().documents
    const grant = await createGrant(db.db, config, {
      citizenId: s.citizen.id,
      agencyId: 'dinas-uji',
      serviceId: 'surat-pindah',
      documentTypes: ['ktp', 'kk'],
      purpose: 'Memproses surat pindah Anda',
      expiresAt: new Date(Date.now() + 30 * DAY),
    })
    const page = await get(s.browser, `${s.issuer}/akun/dokumen/izin`)
    t.equal(page.status, 200)
    t.match(page.html, 'Dinas Kependudukan Uji')
    t.match(page.html, 'surat-pindah')
    t.match(page.html, 'Kartu Tanda Penduduk (KTP) dan Kartu Keluarga (KK)')
    t.match(page.html, 'Memproses surat pindah Anda')
    t.match(page.html, 'Cabut izin')

    // Another citizen cannot withdraw it.
    await addCitizen(db.db, siti)
    const other = new Browser()
    await signInToAccount(other, s.issuer, siti)
    const theirs = await get(other, `${s.issuer}/akun/dokumen/izin`)
    t.match(theirs.html, 'Belum ada instansi yang Anda izinkan mengambil dokumen.')
    const theirList = await get(other, `${s.issuer}/akun/dokumen`)
    const nope = await other.request(`${s.issuer}/akun/dokumen/izin/cabut`, {
      form: { _csrf: csrfFrom(theirList.html), izin: grant.id },
    })
    t.equal(nope.headers.get('location'), '/akun/dokumen/izin')
    t.ok(await activeGrantFor(db.db, s.citizen.id, 'dinas-uji', 'ktp'), 'still active')

    const res = await s.browser.request(`${s.issuer}/akun/dokumen/izin/cabut`, {
      form: { _csrf: csrfFrom(page.html), izin: grant.id },
    })
    t.equal(res.status, 303)
    t.equal(res.headers.get('location'), '/akun/dokumen/izin?pesan=dicabut')
    t.equal(await activeGrantFor(db.db, s.citizen.id, 'dinas-uji', 'ktp'), undefined, 'withdrawn at once')
    const after = await get(s.browser, `${s.issuer}/akun/dokumen/izin?pesan=dicabut`)
    t.match(after.html, 'Izin sudah dicabut.')
    t.match(after.html, 'Izin yang sudah berakhir')
    t.match(after.html, /Dicabut [^<]+WIB/)
    t.notMatch(after.html, 'name="izin"', 'nothing left to withdraw')
  })
})

t.test(
  'after an upload with `kembali`, "Lanjutkan" leads to the gateway or a local path, never elsewhere',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const back = `${gatewayUrl}/layanan/dinas-uji/permohonan?langkah=2`
      const page = await get(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp?kembali=${encodeURIComponent(back)}`)
      t.equal(page.status, 200)
      t.match(page.html, 'Unggah Kartu Tanda Penduduk (KTP)')
      const res = await uploadVia(
        s.browser,
        s.issuer,
        `/akun/dokumen/unggah/ktp?kembali=${encodeURIComponent(back)}`,
        'ktp',
        { data: jpeg(), name: 'ktp.jpg', type: 'image/jpeg' },
      )
      t.equal(res.status, 303)
      const location = res.headers.get('location') ?? ''
      t.match(location, `kembali=${encodeURIComponent(back)}`)
      const detail = await get(s.browser, `${s.issuer}${location}`)
      t.match(detail.html, `<a class="button" href="${back.replace(/&/g, '&amp;')}">Lanjutkan</a>`)

      for (const bad of [
        'https://evil.example/',
        '//evil.example/x',
        `${gatewayUrl}.evil.example/`,
        'http://user@127.0.0.1:1/',
        'javascript:alert(1)',
        'http://127.0.0.1:2/',
      ]) {
        const form = await get(s.browser, `${s.issuer}/akun/dokumen/unggah/kk?kembali=${encodeURIComponent(bad)}`)
        t.match(form.html, 'action="/akun/dokumen/unggah/kk"', `${bad}: not carried into the form`)
        const shown = await get(
          s.browser,
          `${s.issuer}/akun/dokumen/${location.split('?')[0]?.split('/').pop() ?? ''}?pesan=diunggah&kembali=${encodeURIComponent(bad)}`,
        )
        t.notMatch(shown.html, 'Lanjutkan', `${bad}: no way out`)
      }
      const local = await get(
        s.browser,
        `${s.issuer}${location.split('?')[0] ?? ''}?pesan=diunggah&kembali=${encodeURIComponent('/akun/instansi')}`,
      )
      t.match(local.html, '<a class="button" href="/akun/instansi">Lanjutkan</a>')
    })
  },
)

t.test('continueTarget accepts the gateway origin exactly and local paths only', async (t) => {
  const config = testConfig({ gateway: { publicUrl: 'https://portal.sukamaju.go.id', port: 8080 } })
  t.equal(continueTarget(config, 'https://portal.sukamaju.go.id/a?b=1'), 'https://portal.sukamaju.go.id/a?b=1')
  t.equal(continueTarget(config, '/akun/dokumen'), '/akun/dokumen')
  for (const bad of [
    'http://portal.sukamaju.go.id/a',
    'https://portal.sukamaju.go.id:444/a',
    'https://portal.sukamaju.go.id.evil.example/',
    'https://evil.example@portal.sukamaju.go.id/',
    '//portal.sukamaju.go.id/a',
    '/\\evil.example',
    '/a\r\nb',
    'data:text/html,x',
    'x'.repeat(2000),
    undefined,
    '',
  ]) {
    t.equal(continueTarget(config, bad), undefined, String(bad).slice(0, 60))
  }
})

t.test('the data download includes the documents, their versions, grants and accesses', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    await uploadVia(s.browser, s.issuer, '/akun/dokumen', 'ktp', {
      data: jpeg(),
      name: 'ktp saya.jpg',
      type: 'image/jpeg',
    })
    const html = (await get(s.browser, `${s.issuer}/akun/data`)).html
    const res = await s.browser.request(`${s.issuer}/akun/data`, { form: { _csrf: csrfFrom(html) } })
    t.equal(res.status, 200)
    const data = (await res.json()) as {
      documents: {
        documents: { type: string; versions: { originalName: string }[] }[]
        grants: unknown[]
        accesses: unknown[]
      }
    }
    t.equal(data.documents.documents[0]?.type, 'ktp')
    t.equal(data.documents.documents[0]?.versions[0]?.originalName, 'ktp saya.jpg')
    t.same(data.documents.grants, [])
    t.same(data.documents.accesses, [])
  })
})
