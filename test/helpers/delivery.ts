/** Real servers for the delivery tests: an HTTP server that records requests, TLS material. */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'

export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

export interface RecordingServer {
  readonly url: string
  readonly requests: RecordedRequest[]
}

/** Answers each request with `answer(req)`; records what arrived, byte for byte. */
export async function recordingServer(
  t: Test,
  answer: (req: RecordedRequest, n: number) => { status: number; body?: unknown; delayMs?: number },
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const rec = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(rec)
      const a = answer(rec, requests.length)
      const reply = () => {
        res.writeHead(a.status, { 'content-type': 'application/json' })
        res.end(a.body === undefined ? '' : JSON.stringify(a.body))
      }
      if (a.delayMs) setTimeout(reply, a.delayMs).unref()
      else reply()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

/** A self-signed certificate for localhost and 127.0.0.1 (openssl), made once per process. */
let cached: { key: string; cert: string } | undefined
export function localCertificate(): { key: string; cert: string } {
  if (cached) return cached
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cert-'))
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    )
    cached = {
      key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    }
    return cached
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
