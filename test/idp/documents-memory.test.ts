/**
 * A 100 MB document through the idp's HTTP pages, in constant memory: uploaded as a
 * browser sends it (multipart, streamed with backpressure) and downloaded back, while
 * this process — the idp and the sending "browser" both — grows by under 50 MB.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, signInAt, startIdp } from '../helpers/idp.ts'
import { generated, tempDir } from '../documents/fixtures.ts'
import { inMeasuringChild, rssSampler } from '../helpers/memory.ts'

const MiB = 1024 * 1024
const TOTAL = 100 * MiB
const boundary = '----satupintuMemoryBoundary7c1e'

/** One HTTP request whose body is streamed from `body`; the response body is streamed to `sink`. */
function send(
  url: URL,
  init: { method: string; headers: Record<string, string | number>; body?: Readable },
  sink?: (chunk: Buffer) => void,
): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers }, (res) => {
      res.on('data', (c: Buffer) => sink?.(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (init.body === undefined) req.end()
    else pipeline(init.body, req).catch(reject)
  })
}

// Measured in a child with a 1 MB semi-space (test/helpers/memory.ts).
if (inMeasuringChild(import.meta.url))
  t.test('a 100 MB upload through the account page and its download run in constant memory', async (t) => {
    await eachDatabase(t, async (t, db) => {
      const dir = tempDir(t)
      const idp = await startIdp(t, db, {
        dataDir: dir,
        documents: {
          maxUploadBytes: TOTAL,
          types: [
            {
              id: 'arsip',
              name: { id: 'Arsip', en: 'Archive' },
              formats: ['pdf'],
              maxBytes: TOTAL,
              verificationExpected: false,
            },
          ],
        },
      })
      await addCitizen(db.db, budi)
      const browser = new Browser()
      const { html } = await signInAt(browser, `${idp.issuer}/akun/dokumen/unggah/arsip`, idp.issuer, budi)
      const action = new URL(formAction(html, '/akun/dokumen/unggah/arsip'), idp.issuer)

      const head = Buffer.from('%PDF-1.7\n')
      const tail = Buffer.from('\n%%EOF\n')
      const expected = createHash('sha256')
      for await (const c of generated(TOTAL, head, tail)) expected.update(c as Buffer)
      const digest = expected.digest('hex')

      const part = (name: string) =>
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\n${csrfFrom(html)}\r\n` +
            `--${boundary}\r\nContent-Disposition: form-data; name="berkas"; filename="${name}"\r\nContent-Type: application/pdf\r\n\r\n`,
        )
      const after = Buffer.from(`\r\n--${boundary}--\r\n`)
      const upload = (name: string, size: number) => {
        const before = part(name)
        async function* body() {
          yield before
          yield* generated(size, head, tail)
          yield after
        }
        return send(action, {
          method: 'POST',
          headers: {
            accept: 'text/html',
            cookie: browser.cookieHeader(action),
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'content-length': before.length + size + after.length,
          },
          body: Readable.from(body(), { objectMode: false }),
        })
      }
      // Warm every code path (multipart, sniffing, storage, the database's statements) once,
      // so that what is measured is the streaming, not code loading or first-use caches.
      t.equal((await upload('kecil.pdf', 256 * 1024)).status, 303, 'a small upload first')

      const start = process.memoryUsage().rss
      const sampler = rssSampler()
      const uploaded = await upload('arsip-besar.pdf', TOTAL)
      t.equal(uploaded.status, 303, 'uploaded')
      const page = new URL(String(uploaded.headers.location), idp.issuer)
      const detail = await (await browser.request(page.href)).text()
      const download = /href="(\/akun\/dokumen\/[^"]+\/unduh\/[^"]+)"/.exec(detail)?.[1]
      t.ok(download, 'the document page offers the download')
      const url = new URL(download ?? '', idp.issuer)
      const back = createHash('sha256')
      let bytes = 0
      const res = await send(url, { method: 'GET', headers: { cookie: browser.cookieHeader(url) } }, (c) => {
        back.update(c)
        bytes += c.length
      })
      const peak = sampler.stop()

      t.equal(res.status, 200)
      t.equal(bytes, TOTAL)
      t.equal(back.digest('hex'), digest, 'the bytes downloaded are the bytes uploaded')
      const row = await db.db
        .selectFrom('document_versions')
        .select(['sha256', 'size'])
        .where('size', '=', TOTAL)
        .executeTakeFirstOrThrow()
      t.same([row.sha256, Number(row.size)], [digest, TOTAL], 'stored with its digest and size')
      const growth = peak - start
      t.ok(
        growth < 50 * MiB,
        `RSS grew by ${(growth / MiB).toFixed(1)} MiB at its peak over upload and download (limit 50)`,
      )
    })
  })
