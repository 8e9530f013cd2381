/**
 * A document upload from a phone on a poor connection: slower in all than
 * http.requestTimeoutMs but moving, it is stored; stalled for longer than that, it ends
 * with 408 and leaves no row and no file behind.
 */
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, signInAt, startIdp } from '../helpers/idp.ts'
import { countRows, filesUnder, png, tempDir } from '../documents/fixtures.ts'

const LIMIT = 800
const boundary = '----satupintuSlowBoundary93b2'

async function setup(t: Test, db: TestDatabase) {
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir, http: { requestTimeoutMs: LIMIT } })
  await addCitizen(db.db, budi)
  const browser = new Browser()
  const { html } = await signInAt(browser, `${idp.issuer}/akun/dokumen/unggah/ktp`, idp.issuer, budi)
  const action = new URL(formAction(html, '/akun/dokumen/unggah/ktp'), idp.issuer)
  return { ...idp, browser, html, action, root: path.join(dir, 'documents') }
}

/** Sends a multipart upload over a raw socket in `pieces`, pausing `pauseMs` between them. */
async function slowUpload(
  s: Awaited<ReturnType<typeof setup>>,
  pieces: number,
  pauseMs: number,
): Promise<{ status: number; head: string }> {
  const file = png({ text: 'x'.repeat(4000) })
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrfFrom(s.html)}\r\n`),
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="berkas"; filename="ktp.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
  const socket = net.connect(Number(s.action.port), '127.0.0.1')
  let text = ''
  let closed = false
  socket.on('data', (d) => (text += d.toString('latin1')))
  socket.on('error', () => {})
  const done = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true
      resolve()
    }),
  )
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(
    `POST ${s.action.pathname}${s.action.search} HTTP/1.1\r\nHost: ${s.action.host}\r\nAccept: text/html\r\n` +
      `Cookie: ${s.browser.cookieHeader(s.action)}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`,
  )
  const size = Math.ceil(body.length / pieces)
  for (let i = 0; i < pieces && !closed; i++) {
    socket.write(body.subarray(i * size, (i + 1) * size))
    if (i < pieces - 1) await sleep(pauseMs)
  }
  await Promise.race([done, sleep(2000)])
  socket.destroy()
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), head: text.split('\r\n\r\n')[0] ?? '' }
}

t.test('a slow upload that keeps moving is stored; one that stalls ends with 408 and leaves nothing', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)
    // Eight pieces 400 ms apart: 2.8 s in all, 3.5 times http.requestTimeoutMs.
    const slow = await slowUpload(s, 8, 400)
    t.equal(slow.status, 303, 'stored')
    t.equal((await countRows(db.db)).versions, 1)
    const filesAfterFirst = filesUnder(s.root).length

    const stalled = await slowUpload(s, 2, LIMIT + 700)
    t.equal(stalled.status, 408, 'stalled longer than http.requestTimeoutMs')
    // The server cleans up as the aborted stream unwinds: give it a moment.
    for (let i = 0; i < 30 && filesUnder(s.root).length !== filesAfterFirst; i++) await sleep(100)
    t.same(await countRows(db.db), { documents: 1, versions: 1, accesses: 0 }, 'no row from the stalled upload')
    t.equal(filesUnder(s.root).length, filesAfterFirst, `and no file (${filesUnder(s.root).join(', ')})`)
  })
})
