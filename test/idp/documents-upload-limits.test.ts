/**
 * Issue 20, uploads: beside every file field, the type's own limit and formats in words a
 * citizen acts on (what to do with a phone photo or a scan that is larger), and the same
 * numbers as data attributes for the page's script; all derived from documents.types,
 * never written twice. A body too large is answered as soon as that is known (by its
 * Content-Length, or at the byte past the limit) and no more of it is read. The upload
 * pages, and only they, allow our own script file.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { documentPageAssets } from '../../src/idp/documents/pages.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, signInAt, startIdp } from '../helpers/idp.ts'
import { countRows, filesUnder, png, tempDir } from '../documents/fixtures.ts'

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
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir, documents: { types } })
  await addCitizen(db.db, budi)
  const browser = new Browser()
  await signInAt(browser, `${idp.issuer}/akun/dokumen`, idp.issuer, budi)
  return { ...idp, browser, files: () => filesUnder(path.join(dir, 'documents')) }
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

    // The list: the limit beside each of its fields, what to do once above them.
    const list = await html(s.browser, `${s.issuer}/akun/dokumen`)
    t.equal(field(list, 'ktp').hint, 'Foto (JPG atau PNG) atau PDF, paling besar 3 MB.')
    t.equal(field(list, 'ijazah').hint, 'PDF, paling besar 7 MB.')
    t.equal(field(list, 'pas-foto').input, photo.input, 'the same limit for the script')
    t.match(list, 'Foto yang lebih besar dari batasnya: perkecil dulu di aplikasi galeri')

    const en = field(await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp?lang=en`), 'ktp')
    t.match(en.hint, /^A photo \(JPG or PNG\) or PDF, at most 3 MB\. Phone photos are often larger than that/)
    t.match(en.input, 'data-size="3 MB"')
  })
})

const boundary = '----satupintuLimitBoundary61c0'

/** The start of a multipart upload as a browser sends it: the token, then the file part's headers. */
function multipartHead(csrf: string): Buffer {
  return Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrf}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="berkas"; filename="ktp.png"\r\nContent-Type: image/png\r\n\r\n`,
  )
}

/** A raw connection to the idp that records what it sent and everything that came back. */
async function rawConnection(issuer: string) {
  const url = new URL(issuer)
  const socket = net.connect(Number(url.port), url.hostname)
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const state = { text: '', sent: 0, sentAtAnswer: -1, closed: false, writeFailed: false }
  socket.on('data', (d) => {
    if (state.sentAtAnswer < 0) state.sentAtAnswer = state.sent
    state.text += d.toString('latin1')
  })
  socket.on('error', () => {
    state.writeFailed = true
  })
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      state.closed = true
      resolve()
    }),
  )
  const write = (b: Buffer | string) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) return resolve()
      const n = typeof b === 'string' ? Buffer.byteLength(b) : b.length
      socket.write(b, (err) => {
        if (!err) state.sent += n
        resolve()
      })
    })
  const status = () => Number(/^HTTP\/1\.1 (\d{3})/.exec(state.text)?.[1] ?? 0)
  const answered = () => /\r\n\r\n[\s\S]*<\/html>/.test(state.text)
  return { socket, state, closed, write, status, answered }
}

t.test(
  "SECURITY 20: an upload whose Content-Length is over its type's limit gets the clear 413 page before the file is sent, and the connection ends",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const page = await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`)
      const c = await rawConnection(s.issuer)
      const target = new URL(`${s.issuer}/akun/dokumen/unggah/ktp`)
      const declared = 200 * MiB
      await c.write(
        `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/html\r\n` +
          `Cookie: ${s.browser.cookieHeader(target)}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Content-Length: ${declared}\r\n\r\n`,
      )
      // The token and the first bytes of the photo; the other 199.9 MB are never sent.
      await c.write(multipartHead(csrfFrom(page)))
      await c.write(png({ text: 'x'.repeat(16 * 1024) }).subarray(0, 8 * 1024))
      const deadline = Date.now() + 5000
      while (!c.answered() && Date.now() < deadline) await sleep(20)
      t.equal(c.status(), 413, 'answered with 413')
      t.ok(c.state.sentAtAnswer < 64 * 1024, `after ${c.state.sentAtAnswer} of ${declared} bytes`)
      t.match(c.state.text, /\r\nconnection: close\r\n/i, 'and the connection is to end')
      t.match(c.state.text, 'Ukuran berkas melebihi 3 MB.', 'the reason in plain words')
      t.match(c.state.text, 'role="alert"')
      t.match(c.state.text, 'action="/akun/dokumen/unggah/ktp"', 'the form again, to choose a smaller file')
      await Promise.race([c.closed, sleep(3000)])
      t.ok(c.state.closed, 'the server closed the connection without waiting for the body')
      c.socket.destroy()
      t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 }, 'no row')
      t.same(s.files(), [], 'no file')

      // Just under the cut (limit + allowance) the bytes decide, as before: a file within the
      // limit is stored.
      const ok = await fetch(target, {
        method: 'POST',
        headers: {
          accept: 'text/html',
          cookie: s.browser.cookieHeader(target),
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
        body: Buffer.concat([
          multipartHead(csrfFrom(await html(s.browser, target.href))),
          png({ text: 'x'.repeat(3 * MiB - 200) }),
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]),
        redirect: 'manual',
      })
      t.equal(ok.status, 303, 'a file just under the limit is stored')
    })
  },
)

t.test(
  'SECURITY 20: an upload without a length is answered at the byte past the limit, without waiting for the rest, and the connection ends',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const page = await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp`)
      const c = await rawConnection(s.issuer)
      const target = new URL(`${s.issuer}/akun/dokumen/unggah/ktp`)
      await c.write(
        `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nAccept: text/html\r\n` +
          `Cookie: ${s.browser.cookieHeader(target)}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          'Transfer-Encoding: chunked\r\n\r\n',
      )
      const body = Buffer.concat([multipartHead(csrfFrom(page)), png({ text: 'x'.repeat(40 * MiB) })])
      // The limit and 64 KiB more, then nothing: the answer must not wait for the rest (a
      // client that wrote on after the server closed would get a reset, and Node's socket
      // drops what it had not read yet; Chromium reads it, see the browser test).
      const piece = 64 * 1024
      for (let at = 0; at < 3 * MiB + piece && c.state.text === ''; at += piece) {
        const part = body.subarray(at, at + piece)
        await c.write(Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]))
      }
      const deadline = Date.now() + 5000
      while (!c.answered() && Date.now() < deadline) await sleep(20)
      t.equal(c.status(), 413, 'answered with 413')
      t.match(c.state.text, 'Ukuran berkas melebihi 3 MB.')
      await Promise.race([c.closed, sleep(3000)])
      t.ok(c.state.closed, 'the connection ended')
      t.ok(c.state.sent < body.length / 10, `answered after ${c.state.sent} bytes of ${body.length}`)
      c.socket.destroy()
      t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 }, 'no row')
      for (let i = 0; i < 30 && s.files().length > 0; i++) await sleep(100)
      t.same(s.files(), [], 'no file')
    })
  },
)

t.test(
  "the upload pages, and only they, allow script: our own file, served with its type; the script's sentences are on the page",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      for (const p of ['/akun/dokumen/unggah/ktp', '/akun/dokumen', '/akun/dokumen/unggah/ktp?lang=en']) {
        const res = await s.browser.request(`${s.issuer}${p}`)
        const body = await res.text()
        const csp = res.headers.get('content-security-policy') ?? ''
        t.match(csp, /^default-src 'none'; script-src 'self'; /, `${p}: script-src 'self'`)
        t.notMatch(csp, /unsafe-inline|unsafe-eval|data:[^;]*script|script-src[^;]*http/, `${p}: nothing looser`)
        const scripts = body.match(/<script\b[^>]*>/g) ?? []
        t.same(scripts, ['<script src="/assets/unggah.js" defer>'], `${p}: one script tag, a file, no inline script`)
        t.match(body, /<div id="unggah-teks" hidden [^>]*data-shrink="(Perkecil foto|Make the photo smaller)"/)
      }
      t.match(
        await html(s.browser, `${s.issuer}/akun/dokumen/unggah/ktp?lang=id`),
        'data-photo-too-large="Foto ini {fileSize}, lebih besar dari batas {size}.',
        'placeholders the script fills in',
      )
      for (const p of ['/akun', '/akun/dokumen/izin', '/akun/keamanan']) {
        const res = await s.browser.request(`${s.issuer}${p}`)
        const body = await res.text()
        t.equal(res.status, 200, p)
        t.notMatch(res.headers.get('content-security-policy') ?? '', 'script-src', `${p}: no script allowed`)
        t.notMatch(body, '<script', `${p}: no script`)
      }
      const js = await fetch(`${s.issuer}/assets/unggah.js`)
      t.equal(js.status, 200)
      t.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8')
      t.equal(js.headers.get('x-content-type-options'), 'nosniff')
      t.equal(await js.text(), fs.readFileSync(documentPageAssets['unggah.js'].path, 'utf8'))
      t.equal((await fetch(`${s.issuer}/assets/..%2Funggah.js`)).status, 404)
    })
  },
)
