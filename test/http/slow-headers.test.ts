/**
 * Issue 12 part 1: connections that send their request headers slowly (slowloris) are
 * closed after http.headersTimeoutMs. Measured on main before: 20 such connections were
 * never closed in 38 s (Node checks its timeouts every 30 s by default, and its
 * headersTimeout is 60 s).
 */
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createBaseApp } from '../../src/http/app.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'

const HEADERS_TIMEOUT = 1500

t.test('20 slowloris connections are all closed within headersTimeout, and the server keeps answering', async (t) => {
  const app = createBaseApp({
    config: testConfig({ http: { headersTimeoutMs: HEADERS_TIMEOUT } }),
    logger: silentLogger(),
  })
  app.get('/ok', async () => ({ ok: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port

  const started = Date.now()
  const closedAfter: number[] = []
  const sockets: net.Socket[] = []
  const drips: NodeJS.Timeout[] = []
  t.teardown(() => {
    for (const d of drips) clearInterval(d)
    for (const s of sockets) s.destroy()
  })
  const allClosed = Promise.all(
    Array.from({ length: 20 }, (_, i) => {
      return new Promise<void>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.write('GET /ok HTTP/1.1\r\nHost: x\r\n')
          // Half of them trickle one header byte every 200 ms, never finishing; the other
          // half send nothing more.
          if (i % 2 === 0) {
            let n = 0
            drips.push(setInterval(() => s.writable && s.write(n++ % 2 === 0 ? 'X' : '-'), 200))
          }
        })
        sockets.push(s)
        s.on('data', () => {})
        s.on('error', () => {})
        s.on('close', () => {
          closedAfter.push(Date.now() - started)
          resolve()
        })
      })
    }),
  )
  // While they hang: an ordinary request is answered.
  const res = await fetch(`http://127.0.0.1:${port}/ok`)
  t.equal(res.status, 200, 'an ordinary client is served meanwhile')

  const limit = HEADERS_TIMEOUT + 1000 + 1500 // the timeout, one check interval, slack for a busy machine
  const outcome = await Promise.race([
    allClosed.then(() => 'closed'),
    new Promise((r) => setTimeout(() => r('timeout'), limit + 2000)),
  ])
  t.equal(outcome, 'closed', 'every slow connection was closed')
  const slowest = Math.max(...closedAfter)
  t.equal(closedAfter.length, 20)
  t.ok(
    closedAfter.length === 20 && slowest <= limit,
    `the last one after ${slowest} ms (headersTimeout ${HEADERS_TIMEOUT} ms)`,
  )
  t.ok(Math.min(...closedAfter) >= HEADERS_TIMEOUT - 100, 'none before its time')
  t.comment(
    `figures: 20 slowloris sockets closed between ${Math.min(...closedAfter)} and ${slowest} ms (headersTimeout ${HEADERS_TIMEOUT} ms)`,
  )
})
