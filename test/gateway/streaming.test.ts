import { createHash } from 'node:crypto'
import { fork } from 'node:child_process'
import http from 'node:http'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import {
  agencyTable,
  json,
  type AgencySpec,
  rawExchange,
  rawStatus,
  request,
  startGateway,
  startUpstream,
} from './harness.ts'

const MB = 1024 * 1024

/** `total` bytes made on the fly from one 64 KiB block: nothing the size of the body is ever held. */
function generated(total: number): Readable {
  const block = Buffer.alloc(64 * 1024)
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff
  let sent = 0
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null)
        return
      }
      const n = Math.min(block.length, total - sent)
      sent += n
      this.push(n === block.length ? block : block.subarray(0, n))
    },
  })
}

function digestOf(total: number): string {
  const h = createHash('sha256')
  const block = Buffer.alloc(64 * 1024)
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff
  for (let sent = 0; sent < total; sent += block.length)
    h.update(sent + block.length <= total ? block : block.subarray(0, total - sent))
  return h.digest('hex')
}

/** An upstream that hashes the body as it streams in and answers with its length and digest. */
async function hashingUpstream(t: Test) {
  return startUpstream(t, undefined, {
    streaming: (req, res) => {
      const h = createHash('sha256')
      let bytes = 0
      req.on('data', (c: Buffer) => {
        bytes += c.length
        h.update(c)
      })
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ bytes, sha256: h.digest('hex') }))
      })
    },
  })
}

const agencyHost = 'dinas-a.layanan.sukamaju.go.id'

function upload(
  url: string,
  total: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    // The agency's own host (sites.ts), as a browser would name it.
    const req = http.request(
      {
        host: /^[0-9.]+$/.test(u.hostname) ? u.hostname : '127.0.0.1',
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: { host: agencyHost, 'content-type': 'application/octet-stream', ...headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      },
    )
    req.on('error', reject)
    generated(total).pipe(req)
  })
}

/** The gateway in a child process (fixtures/gateway-process.ts): its memory is the gateway's alone. */
async function gatewayProcess(t: Test, specs: AgencySpec[]) {
  const child = fork(
    fileURLToPath(new URL('./fixtures/gateway-process.ts', import.meta.url)),
    [JSON.stringify(specs)],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // A plain Node process, as the gateway runs: not the test runner's loaders and coverage hooks.
      execArgv: [],
    },
  )
  t.teardown(() => {
    child.kill()
  })
  const next = <T>() =>
    new Promise<T>((resolve, reject) => {
      child.once('message', (m) => resolve(m as T))
      child.once('exit', (code) => reject(new Error(`gateway process exited with ${code}`)))
    })
  const { port } = await next<{ port: number }>()
  return {
    url: `http://127.0.0.1:${port}`,
    /** Where to send a request for the agency (with Host: agencyHost). */
    at: (_id: string) => `http://127.0.0.1:${port}`,
    async reset() {
      const ack = next<{ reset: boolean }>()
      child.send('reset')
      await ack
    },
    async memory() {
      const m = next<{ baseline: number; peak: number }>()
      child.send('peak')
      return m
    },
  }
}

t.test('a 200 MB upload streams through the gateway with the gateway process growing less than 50 MB', async (t) => {
  const up = await hashingUpstream(t)
  const gw = await gatewayProcess(t, [
    {
      id: 'dinas-a',
      upstream: up.url,
      services: [{ path: '/', access: 'public', maxBodyBytes: 300 * MB, timeoutMs: 60_000 }],
    },
  ])
  // Warm up (JIT, connection pool, buffers), then measure from a settled baseline.
  await upload(`${gw.at('dinas-a')}/unggah`, 32 * MB)
  await gw.reset()
  const total = 200 * MB
  const res = await upload(`${gw.at('dinas-a')}/unggah`, total, { 'transfer-encoding': 'chunked' })
  const { baseline, peak } = await gw.memory()
  t.equal(res.status, 200)
  t.same(json(res.body), { bytes: total, sha256: digestOf(total) }, 'every byte arrived, in order')
  const growth = (peak - baseline) / MB
  t.ok(growth < 50, `gateway RSS grew ${growth.toFixed(1)} MB (baseline ${(baseline / MB).toFixed(0)} MB)`)
})

t.test(
  'a 200 MB download streams back through the gateway with the gateway process growing less than 50 MB',
  async (t) => {
    const total = 200 * MB
    const up = await startUpstream(t, undefined, {
      streaming: (req, res) => {
        req.resume()
        const size = req.url === '/pemanasan' ? 32 * MB : total
        res.setHeader('content-type', 'application/octet-stream')
        res.setHeader('content-length', String(size))
        generated(size).pipe(res)
      },
    })
    const gw = await gatewayProcess(t, [
      { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] },
    ])
    const download = (path: string) =>
      new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
        http
          .get(`${gw.at('dinas-a')}${path}`, { agent: false, headers: { host: agencyHost } }, (res) => {
            const h = createHash('sha256')
            let n = 0
            res.on('data', (c: Buffer) => {
              n += c.length
              h.update(c)
            })
            res.on('end', () => resolve({ bytes: n, sha256: h.digest('hex') }))
            res.on('error', reject)
          })
          .on('error', reject)
      })
    await download('/pemanasan')
    await gw.reset()
    const { bytes, sha256 } = await download('/unduh')
    const { baseline, peak } = await gw.memory()
    t.equal(bytes, total)
    t.equal(sha256, digestOf(total), 'every byte arrived, in order')
    const growth = (peak - baseline) / MB
    t.ok(growth < 50, `gateway RSS grew ${growth.toFixed(1)} MB (baseline ${(baseline / MB).toFixed(0)} MB)`)
  },
)

t.test('SECURITY 20: a body announced above the limit is 413 before it is read or forwarded', async (t) => {
  const up = await hashingUpstream(t)
  const table = agencyTable([
    { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public', maxBodyBytes: 1 * MB }] },
  ])
  const gw = await startGateway(t, table)
  // The client announces 10 GB and sends only the headers: the answer comes anyway.
  const res = await rawExchange(
    gw.port,
    'POST /unggah HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nAccept: application/json\r\nContent-Type: application/pdf\r\nContent-Length: 10737418240\r\n\r\n',
  )
  t.equal(rawStatus(res), 413)
  t.match(res, /"error":"payload_too_large"/)
  t.match(res, /connection: close/i, 'the unread body is not waited for')
  t.equal(up.seen.length, 0, 'nothing was forwarded')
})

t.test('SECURITY 20: a chunked body that grows past the limit is cut at the limit with 413', async (t) => {
  let upstreamAborted = false
  const up = await startUpstream(t, undefined, {
    streaming: (req, res) => {
      req.on('data', () => {})
      req.on('aborted', () => {
        upstreamAborted = true
      })
      req.on('close', () => {
        if (!req.complete) upstreamAborted = true
      })
      req.on('end', () => res.end('complete'))
    },
  })
  const table = agencyTable([
    { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public', maxBodyBytes: 1 * MB }] },
  ])
  const gw = await startGateway(t, table)
  const res = await upload(`${gw.at('dinas-a')}/unggah`, 50 * MB, {
    'transfer-encoding': 'chunked',
    accept: 'application/json',
  }).catch((err: Error) => ({ status: -1, body: err.message }))
  t.equal(res.status, 413)
  t.equal(json(res.body).error, 'payload_too_large')
  await new Promise((r) => setTimeout(r, 100))
  t.ok(upstreamAborted, 'the agency never receives a complete request')
})

t.test('SECURITY 20: 64 KB of headers is 431 before any gateway code runs', async (t) => {
  const up = await hashingUpstream(t)
  const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
  const gw = await startGateway(t, table)
  const res = await rawExchange(
    gw.port,
    `GET / HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nX-Isi: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
  )
  t.equal(rawStatus(res), 431)
  t.equal(up.seen.length, 0)
})

t.test('SECURITY 20: a client that stops sending its body is cut off at the service timeout', async (t) => {
  let upstreamSawEnd = false
  const up = await startUpstream(t, undefined, {
    streaming: (req, res) => {
      req.on('data', () => {})
      req.on('end', () => {
        upstreamSawEnd = true
        res.end('complete')
      })
    },
  })
  const table = agencyTable([
    { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public', timeoutMs: 500 }] },
  ])
  const gw = await startGateway(t, table)
  const started = Date.now()
  // 1,000 bytes announced, 10 sent, then silence.
  const res = await rawExchange(
    gw.port,
    'POST /unggah HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nAccept: application/json\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n0123456789',
    5000,
  )
  const elapsed = Date.now() - started
  t.equal(rawStatus(res), 504)
  t.ok(elapsed < 3000, `answered after ${elapsed} ms, not at the end of the client's patience`)
  t.notOk(upstreamSawEnd, 'the agency never sees a complete request')
})

t.test('a slowly trickling upload that keeps making progress is not cut off', async (t) => {
  const up = await hashingUpstream(t)
  const table = agencyTable([
    { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public', timeoutMs: 400 }] },
  ])
  const gw = await startGateway(t, table)
  const chunks = 8
  const body = new Readable({
    read() {},
  })
  let i = 0
  const timer = setInterval(() => {
    body.push(Buffer.from('x'.repeat(100)))
    if (++i === chunks) {
      clearInterval(timer)
      body.push(null)
    }
  }, 150)
  const u = new URL(gw.url)
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: u.port,
        path: '/pelan',
        method: 'POST',
        headers: { host: 'dinas-a.layanan.sukamaju.go.id', 'content-type': 'text/plain' },
        agent: false,
      },
      (r) => {
        const c: Buffer[] = []
        r.on('data', (d: Buffer) => c.push(d))
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(c).toString() }))
      },
    )
    req.on('error', reject)
    body.pipe(req)
  })
  t.equal(res.status, 200, 'an upload of 1.2 s passes a 400 ms timeout because it keeps moving')
  t.equal(json(res.body).bytes, chunks * 100)
})
