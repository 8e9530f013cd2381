/**
 * Issue 10 §1: a request body that dies (bad chunked encoding, a client that resets or
 * goes away mid-body) on a route that answers without forwarding it must not take the
 * process down. Before the fix, the body meter re-emitted the request stream's error with
 * no listener, and Node ended the process (here: tap reports an uncaught exception).
 */
import net from 'node:net'
import t from 'tap'
import { memoryLogger } from '../helpers/config.ts'
import { agencyTable, rawExchange, rawStatus, request, startGateway, startUpstream } from './harness.ts'

function sendThenReset(port: number, bytes: string, afterMs = 50): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(bytes)
      setTimeout(() => {
        socket.resetAndDestroy()
        resolve()
      }, afterMs)
    })
    socket.on('error', () => resolve())
  })
}

t.test(
  'SECURITY 31: a signed-in route answering a challenge survives bodies that break, reset or stop half-way',
  async (t) => {
    const up = await startUpstream(t)
    const table = agencyTable([
      {
        id: 'dinas-a',
        upstream: up.url,
        services: [
          { path: '/ajukan', access: 'signed_in' },
          { path: '/info', access: 'public' },
        ],
      },
    ])
    const log = memoryLogger('debug')
    const gw = await startGateway(t, table, { logger: log.logger })
    // On the agency's own host (issue 10 §2), as a browser sends it.
    const host = new URL(gw.at('dinas-a')).host
    const head = (extra: string) => `POST /ajukan HTTP/1.1\r\nHost: ${host}\r\nAccept: text/html\r\n${extra}\r\n`

    // Bad chunk size: the challenge (a redirect) is sent before the body is read; the body's
    // parse error arrives afterwards on a stream no one else reads.
    const bad = await rawExchange(gw.port, `${head('Transfer-Encoding: chunked\r\n')}zz\r\nhello\r\n0\r\n\r\n`, 1000)
    t.ok([303, 400].includes(rawStatus(bad)), `bad chunked encoding is answered (${rawStatus(bad)})`)
    // Chunked, then reset mid-body.
    await sendThenReset(gw.port, `${head('Transfer-Encoding: chunked\r\n')}400\r\n${'a'.repeat(100)}`)
    // Content-Length promised, half sent, then reset; and half sent, then a clean close.
    await sendThenReset(gw.port, `${head('Content-Length: 100000\r\n')}${'b'.repeat(5000)}`)
    await rawExchange(gw.port, `${head('Content-Length: 100000\r\n')}${'c'.repeat(5000)}`, 300)
    // The same on a public route, which forwards the body to the agency.
    await sendThenReset(
      gw.port,
      `POST /info HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n${'d'.repeat(5000)}`,
    )
    await new Promise((r) => setTimeout(r, 300))

    const after = await request(`${gw.at('dinas-a')}/info`)
    t.equal(after.status, 200, 'the gateway still serves')
    const debugLines = log.lines().filter((l) => l.msg === 'request body ended early')
    // On the agency's own host the challenge may come before the body is parsed, so not
    // every broken body reaches the meter; whatever does is noted at debug only.
    t.ok(
      debugLines.every((l) => l.level === 20),
      'only at debug',
    )
    const errors = log.lines().filter((l) => Number(l.level) >= 50)
    t.same(errors, [], 'nothing logged as an error')
  },
)
