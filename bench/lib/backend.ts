/**
 * The tiny agency backend every gateway scenario proxies to: Node's own `http`, a 1 KiB
 * body, keep-alive. Run as its own process: `node bench/lib/backend.ts <port>`.
 *
 *  - any GET: 200 with the same 1,024-byte body
 *  - a path ending in /__headers: the request headers it received, as JSON (the bench
 *    checks that each proxy really added, stripped and injected what it should)
 *  - a request with a body: the body is read and thrown away, the answer is its size (the
 *    streamed upload of bench/memory.ts)
 *  - a path containing /__download?bytes=N: N bytes streamed (the download of bench/memory.ts)
 */
import http from 'node:http'

const port = Number(process.argv[2] ?? process.env.PORT ?? 0)
const skeleton = JSON.stringify({ layanan: 'bench', pesan: '' })
const body = Buffer.from(JSON.stringify({ layanan: 'bench', pesan: 'x'.repeat(1024 - skeleton.length) }))
if (body.length !== 1024) throw new Error(`backend body is ${body.length} bytes`)

const server = http.createServer((req, res) => {
  if (req.url !== undefined && req.url.endsWith('/__headers')) {
    const text = JSON.stringify({ url: req.url, headers: req.headers })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
    return
  }
  if (req.url !== undefined && req.url.includes('/__download')) {
    // A large download, streamed in 64 KiB chunks with backpressure.
    const total = Math.min(1 << 30, Number(new URL(req.url, 'http://x').searchParams.get('bytes') ?? 0))
    const chunk = Buffer.alloc(65536, 120)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
    let sent = 0
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent)
        sent += n
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
    return
  }
  if (req.method === 'POST' || req.method === 'PUT') {
    let bytes = 0
    req.on('data', (c: Buffer) => (bytes += c.length))
    req.on('end', () => {
      const text = JSON.stringify({ bytes })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 75_000
server.listen(port, '127.0.0.1', () => {
  const a = server.address()
  process.stdout.write(`backend listening on ${typeof a === 'object' && a !== null ? a.port : port}\n`)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
