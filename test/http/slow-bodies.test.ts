/**
 * Slow request bodies: a document upload from a phone on a poor connection may take long
 * as long as it keeps moving; every other body, and any pause, is held to
 * http.requestTimeoutMs (408, connection closed), so slow senders cannot hold sockets.
 */
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { createBaseApp } from '../../src/http/app.ts'
import { errorHandling } from '../../src/http/errors.ts'
import { memoryLogger, testConfig } from '../helpers/config.ts'

const LIMIT = 600
const LONG = 2500

async function start(t: Test) {
  const logger = memoryLogger()
  const app = createBaseApp({
    config: testConfig({ http: { requestTimeoutMs: LIMIT } }),
    logger: logger.logger,
    longBodyMs: LONG,
  })
  await app.register(errorHandling)
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
  const received: number[] = []
  app.post('/formulir', async (req) => {
    received.push((req.body as Buffer).length)
    return { ok: true }
  })
  app.post('/unggah', { config: { longBody: true } }, async (req) => {
    received.push((req.body as Buffer).length)
    return { ok: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  return { port: typeof address === 'object' && address ? address.port : 0, received, logger }
}

/** Sends `pieces` bytes at `everyMs` over a raw socket; resolves with what came back and when. */
async function trickle(
  port: number,
  path: string,
  pieces: number,
  everyMs: number,
): Promise<{ status: number; text: string; closed: boolean; ms: number }> {
  const socket = net.connect(port, '127.0.0.1')
  const began = Date.now()
  let text = ''
  let closed = false
  socket.on('data', (d) => (text += d.toString('latin1')))
  const done = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true
      resolve()
    }),
  )
  socket.on('error', () => {})
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${pieces * 10}\r\n\r\n`,
  )
  for (let i = 0; i < pieces && !closed; i++) {
    socket.write('0123456789')
    if (i < pieces - 1) await sleep(everyMs)
  }
  // Wait for the answer (and a close, when the server closes).
  await Promise.race([done, sleep(1500)])
  const ms = Date.now() - began
  socket.destroy()
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, closed, ms }
}

t.test('an upload that keeps moving may take longer than http.requestTimeoutMs', async (t) => {
  const s = await start(t)
  // Ten pieces at 250 ms: 2.25 s in all, about four times the limit, no pause over it.
  const res = await trickle(s.port, '/unggah', 10, 250)
  t.equal(res.status, 200, res.text.split('\r\n')[0] ?? '')
  t.same(s.received, [100], 'the whole body reached the handler')
})

t.test('an ordinary form body is held to http.requestTimeoutMs in all: 408 and the connection closed', async (t) => {
  const s = await start(t)
  const res = await trickle(s.port, '/formulir', 10, 250)
  t.equal(res.status, 408)
  t.match(res.text, '"error":"request_timeout"')
  t.match(res.text, /x-request-id: \S+/i)
  t.ok(res.closed, 'the server closed the connection')
  t.same(s.received, [], 'the handler never ran')
})

t.test('an upload that pauses longer than http.requestTimeoutMs ends with 408', async (t) => {
  const s = await start(t)
  const res = await trickle(s.port, '/unggah', 3, 900)
  t.equal(res.status, 408)
  t.ok(res.closed)
  t.same(s.received, [])
})

t.test('an upload that keeps moving but exceeds the upload allowance in all ends with 408', async (t) => {
  const s = await start(t)
  // 500 ms pauses (under the limit) for 3.5 s: past the 2.5 s allowance.
  const res = await trickle(s.port, '/unggah', 8, 500)
  t.equal(res.status, 408)
  t.ok(res.ms >= LONG && res.ms < LONG + 1500, `ended after ${res.ms} ms`)
  t.same(s.received, [])
})
