/**
 * SECURITY 29: SIGTERM under load. The quick-start process (idp, gateway and demo agency
 * in one process) is stopped while clients keep sending requests to all three. Every
 * request sent before the signal finishes with a real answer, nothing answers 5xx, and
 * the process exits 0. Requests sent after the signal may be refused at the socket (a
 * load balancer has stopped sending by then; /readyz told it to), never answered 5xx.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { exited, spawnCli, waitForOk, quickStartEnv } from '../helpers/process.ts'

interface Outcome {
  readonly sentAt: number
  readonly status: number | undefined
  readonly error: string | undefined
  readonly path: string
}

t.test(
  'SECURITY 29: SIGTERM under load lets every request sent before it finish, answers no 5xx, and exits 0',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-sigterm-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const { env, ports } = await quickStartEnv(dir, 'warn')
    const run = spawnCli(['start', '--demo'], env)
    t.teardown(() => {
      run.child.kill('SIGKILL')
    })
    for (const p of Object.values(ports))
      t.ok(await waitForOk(`http://127.0.0.1:${p}/readyz`, 120_000), `port ${p} ready`)

    // What each kind of route costs: a discovery document, a page, a token request that
    // authenticates a client (a database read and a refusal), the portal, the demo agency.
    const targets: { origin: string; path: string; method: 'GET' | 'POST'; body?: string }[] = [
      { origin: `http://localhost:${ports.IDP_PORT}`, path: '/.well-known/openid-configuration', method: 'GET' },
      { origin: `http://localhost:${ports.IDP_PORT}`, path: '/daftar', method: 'GET' },
      {
        origin: `http://localhost:${ports.IDP_PORT}`,
        path: '/token',
        method: 'POST',
        body: 'grant_type=client_credentials&client_id=no-such-client&client_secret=x',
      },
      { origin: `http://localhost:${ports.GATEWAY_PORT}`, path: '/', method: 'GET' },
      { origin: `http://localhost:${ports.DEMO_AGENCY_PORT}`, path: '/', method: 'GET' },
    ]
    // Each service on its configured host (ISSUER, GATEWAY_URL: "localhost"), which the
    // services check (another Host is 421), connected to the loopback address they listen on.
    const agent = new Agent({
      connections: 32,
      keepAliveTimeout: 10_000,
      connect: {
        lookup: (_host, options, callback) =>
          (options as { all?: boolean }).all
            ? (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
                { address: '127.0.0.1', family: 4 },
              ])
            : (callback as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4),
      },
    })
    t.teardown(() => agent.close())
    const outcomes: Outcome[] = []
    let signalledAt = Number.POSITIVE_INFINITY
    let stopLoops = false

    async function loop(i: number): Promise<void> {
      for (let n = 0; !stopLoops; n++) {
        const target = targets[(i + n) % targets.length]
        if (target === undefined) return
        const sentAt = Date.now()
        try {
          const res = await request(`${target.origin}${target.path}`, {
            method: target.method,
            dispatcher: agent,
            headers: target.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' },
            ...(target.body === undefined ? {} : { body: target.body }),
            headersTimeout: 15_000,
            bodyTimeout: 15_000,
          })
          await res.body.text()
          outcomes.push({ sentAt, status: res.statusCode, error: undefined, path: target.path })
        } catch (err) {
          outcomes.push({
            sentAt,
            status: undefined,
            error: (err as NodeJS.ErrnoException).code ?? (err as Error).message,
            path: target.path,
          })
          // Refused at the socket: the process is going away. Stop this client after the signal.
          if (sentAt >= signalledAt) return
        }
      }
    }

    const loops = Array.from({ length: 16 }, (_, i) => loop(i))
    // Load for a while, then the signal in the middle of it.
    await new Promise((r) => setTimeout(r, 2000))
    signalledAt = Date.now()
    run.child.kill('SIGTERM')
    const exit = await exited(run.child, 20_000)
    stopLoops = true
    await Promise.all(loops)

    const before = outcomes.filter((o) => o.sentAt < signalledAt)
    const after = outcomes.filter((o) => o.sentAt >= signalledAt)
    t.ok(before.length > 50, `load before the signal (${before.length} requests)`)
    t.same(
      before.filter((o) => o.status === undefined).map((o) => `${o.path}: ${o.error}`),
      [],
      'every request sent before SIGTERM got an answer',
    )
    t.same(
      before.filter((o) => o.status !== undefined && o.status >= 500).map((o) => `${o.path}: ${o.status}`),
      [],
      'no request sent before the signal was answered 5xx',
    )
    // After it, a draining process may say 503 (its readiness already does, so a balancer
    // has stopped sending); nothing else.
    t.same(
      after
        .filter((o) => o.status !== undefined && o.status >= 500 && o.status !== 503)
        .map((o) => `${o.path}: ${o.status}`),
      [],
      'after the signal, nothing but 503 while draining',
    )
    t.same(exit, { code: 0, signal: null }, 'the process exits 0')
    if (!t.passing()) t.comment(run.output().slice(-3000))
    t.comment(
      `requests: ${before.length} before the signal, ${after.length} after (${after.filter((o) => o.status !== undefined).length} answered)`,
    )
  },
)
