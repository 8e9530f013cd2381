import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { sql } from 'kysely'
import client from 'prom-client'
import proxyAddr from 'proxy-addr'
import { auditObservers, type AuditEntry } from '../audit/audit.ts'
import type { DatabaseHandle } from '../db/create.ts'

/**
 * What an operator sees (issue 12 §2; docs/operations.md, "Metrics"): one prom-client
 * Registry per service instance, never the library's global one, so two instances in one
 * process (the quick start, the tests) keep their own counts and never register a name twice.
 * It is served on a listener of its own (serveMetrics), never on the public port.
 */
export interface ServiceMetrics {
  readonly service: 'idp' | 'gateway'
  readonly registry: client.Registry
  readonly httpRequests: client.Counter<'method' | 'route' | 'status'>
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status'>
  readonly signIns: client.Counter<'result' | 'method' | 'account'>
  readonly throttleLocks: client.Counter<'account' | 'scope'>
  readonly tokenGrants: client.Counter<'grant_type'>
  readonly upstreamDuration: client.Histogram<'agency' | 'status'>
  readonly upstreamErrors: client.Counter<'agency' | 'reason'>
  /** Counts what an audit entry says happened (sign-ins, locks); see instrumentApp. */
  observeAudit(entry: AuditEntry): void
}

const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** A scrape never waits on a database that does not answer for longer than this. */
const scrapeQueryMs = 1000

export function createServiceMetrics(opts: { service: 'idp' | 'gateway'; database?: DatabaseHandle }): ServiceMetrics {
  const registry = new client.Registry()
  registry.setDefaultLabels({ service: opts.service })
  // Process metrics (CPU, memory, heap, event loop lag, GC, handles), in this registry only.
  client.collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const httpRequests = new client.Counter({
    name: 'satupintu_http_requests_total',
    help: 'Requests answered, by method, route (the route pattern, never the raw path) and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  })
  const httpDuration = new client.Histogram({
    name: 'satupintu_http_request_duration_seconds',
    help: 'Time from the request to the end of its response, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: latencyBuckets,
    registers,
  })
  const signIns = new client.Counter({
    name: 'satupintu_sign_ins_total',
    help: 'Sign-in attempts by result (succeeded, failed, throttled), method and account kind.',
    labelNames: ['result', 'method', 'account'] as const,
    registers,
  })
  const throttleLocks = new client.Counter({
    name: 'satupintu_throttle_locks_total',
    help: 'Sign-in attempts refused because the throttle locked the account or address, by account kind and scope.',
    labelNames: ['account', 'scope'] as const,
    registers,
  })
  const tokenGrants = new client.Counter({
    name: 'satupintu_token_grants_total',
    help: 'Tokens issued at the token endpoint, by grant type.',
    labelNames: ['grant_type'] as const,
    registers,
  })
  const upstreamDuration = new client.Histogram({
    name: 'satupintu_upstream_request_duration_seconds',
    help: 'Gateway: time from a request on an agency route to the end of its answer, by agency and status.',
    labelNames: ['agency', 'status'] as const,
    buckets: latencyBuckets,
    registers,
  })
  const upstreamErrors = new client.Counter({
    name: 'satupintu_upstream_errors_total',
    help: 'Gateway: agency requests that got no usable answer from the agency, by agency and reason (unavailable 502, timeout 504).',
    labelNames: ['agency', 'reason'] as const,
    registers,
  })

  const database = opts.database
  if (database !== undefined) {
    new client.Gauge({
      name: 'satupintu_db_pool_connections',
      help: 'Database pool connections by state: total open, idle, and requests waiting for one (PostgreSQL only).',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const stats = database.poolStats?.()
        if (stats === undefined) return
        this.set({ state: 'total' }, stats.total)
        this.set({ state: 'idle' }, stats.idle)
        this.set({ state: 'waiting' }, stats.waiting)
      },
    })
    let errorsSeen = 0
    new client.Counter({
      name: 'satupintu_db_connection_errors_total',
      help: 'Database connections lost (idle, checked out, or past the client-side query deadline) since the process started.',
      registers,
      collect() {
        const now = database.poolStats?.().errors ?? 0
        if (now > errorsSeen) this.inc(now - errorsSeen)
        errorsSeen = now
      },
    })
    const within = <T>(p: Promise<T>): Promise<T> =>
      Promise.race([
        p,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('metrics query deadline')), scrapeQueryMs).unref(),
        ),
      ])
    const keyAge = new client.Gauge({
      name: 'satupintu_signing_key_age_seconds',
      help: 'Age of the newest signing key in force, by purpose (oidc, cookie, gateway): alert when rotation is overdue.',
      labelNames: ['purpose'] as const,
      registers,
      collect: () => refresh(),
    })
    const outbox = new client.Gauge({
      name: 'satupintu_outbox_messages',
      help: 'Outbox rows not yet sent, by status (queued, sending, failed = waiting for a retry, dead = given up): the queue depth is queued + failed.',
      labelNames: ['status'] as const,
      registers,
      collect: () => refresh(),
    })
    const outboxOldest = new client.Gauge({
      name: 'satupintu_outbox_oldest_due_seconds',
      help: 'How long the oldest queued or failed outbox row has been due (0 when none is): delivery is stuck when this grows.',
      registers,
      collect: () => refresh(),
    })
    const dbUp = new client.Gauge({
      name: 'satupintu_db_up',
      help: "1 when the database answered this scrape's queries within a second, else 0.",
      registers,
      collect: () => refresh(),
    })
    // One query set for the database-backed gauges: prom-client collects the metrics of a
    // scrape concurrently, so each of them waits for the same refresh.
    let inflight: Promise<void> | undefined
    const refresh = (): Promise<void> => (inflight ??= ask().finally(() => (inflight = undefined)))
    const ask = async () => {
      try {
        const keys = await within(
          sql<{
            purpose: string
            age: number
          }>`select purpose, extract(epoch from now() - max(created_at))::float8 as age
                 from signing_keys where activates_at <= now() and (expires_at is null or expires_at > now())
                group by purpose`.execute(database.db),
        )
        keyAge.reset()
        for (const r of keys.rows) keyAge.set({ purpose: r.purpose }, Number(r.age))
        if (opts.service === 'idp') {
          const rows = await within(
            sql<{ status: string; n: number; oldest: number | null }>`select status, count(*)::int as n,
                   extract(epoch from now() - min(next_attempt_at) filter (where status in ('queued', 'failed') and next_attempt_at <= now()))::float8 as oldest
                   from outbox where status <> 'sent' group by status`.execute(database.db),
          )
          outbox.reset()
          for (const s of ['queued', 'sending', 'failed', 'dead']) outbox.set({ status: s }, 0)
          let oldest = 0
          for (const r of rows.rows) {
            outbox.set({ status: r.status }, Number(r.n))
            if (r.oldest !== null) oldest = Math.max(oldest, Number(r.oldest))
          }
          outboxOldest.set(oldest)
        }
        dbUp.set(1)
      } catch {
        dbUp.set(0)
      }
    }
  }

  return {
    service: opts.service,
    registry,
    httpRequests,
    httpDuration,
    signIns,
    throttleLocks,
    tokenGrants,
    upstreamDuration,
    upstreamErrors,
    observeAudit(entry) {
      const data = (entry.data ?? {}) as Record<string, unknown>
      const account = typeof data.accountKind === 'string' ? data.accountKind : 'citizen'
      const result =
        entry.event === 'auth.login.succeeded'
          ? 'succeeded'
          : entry.event === 'auth.login.failed'
            ? 'failed'
            : entry.event === 'auth.login.throttled'
              ? 'throttled'
              : undefined
      if (result === undefined) return
      const method = typeof data.method === 'string' ? data.method : 'password'
      signIns.inc({ result, method, account })
      if (result === 'throttled')
        throttleLocks.inc({ account, scope: typeof data.scope === 'string' ? data.scope : 'unknown' })
    },
  }
}

export interface InstrumentOptions {
  /** The route label of a request Fastify did not route itself (the idp's provider paths). */
  routeOf?: (req: FastifyRequest) => string | undefined
  /** Gateway: the agency whose route answered, for the upstream metrics. */
  agencyOf?: (route: string) => string | undefined
}

/**
 * Counts every answer of the app (also those written to the raw response, as
 * oidc-provider's are) and lets the audit entries its requests write reach this instance's
 * counters. Register it first, before the other hooks.
 */
export function instrumentApp(app: FastifyInstance, metrics: ServiceMetrics, opts: InstrumentOptions = {}): void {
  app.decorate('metrics', metrics)
  app.addHook('onRequest', (req, reply, done) => {
    const started = process.hrtime.bigint()
    let counted = false
    const count = () => {
      if (counted) return
      counted = true
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const route = req.routeOptions.url ?? opts.routeOf?.(req) ?? 'unmatched'
      const status = String(reply.raw.statusCode)
      const labels = { method: req.method, route, status }
      metrics.httpRequests.inc(labels)
      metrics.httpDuration.observe(labels, seconds)
      const agency = opts.agencyOf?.(route)
      if (agency !== undefined) {
        metrics.upstreamDuration.observe({ agency, status }, seconds)
        if (status === '502') metrics.upstreamErrors.inc({ agency, reason: 'unavailable' })
        if (status === '504') metrics.upstreamErrors.inc({ agency, reason: 'timeout' })
      }
    }
    reply.raw.once('finish', count)
    reply.raw.once('close', count)
    // Everything after this hook (routes, oidc-provider) runs with this instance's observer.
    auditObservers.run(metrics.observeAudit, done)
  })
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's metrics (src/http/metrics.ts), served by serveMetrics. */
    metrics: ServiceMetrics
  }
}

export interface MetricsListener {
  readonly url: string
  close(): Promise<void>
}

/**
 * `/metrics` on a listener of its own (metrics.host, a port per service), answered only to
 * the addresses in `allow` (403 to anyone else): never on the public port.
 */
export async function serveMetrics(
  registry: client.Registry,
  opts: { host: string; port: number; allow: readonly string[] },
): Promise<MetricsListener> {
  const allowed = proxyAddr.compile([...opts.allow])
  const server = http.createServer((req, res) => {
    const peer = req.socket.remoteAddress ?? ''
    if (!allowed(peer, 0)) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('forbidden\n')
      return
    }
    if ((req.url ?? '').split('?', 1)[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
      return
    }
    registry.metrics().then(
      (text) =>
        res
          .writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' })
          .end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
    )
  })
  server.headersTimeout = 5000
  server.requestTimeout = 10000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => resolve())
  })
  const addr = server.address() as AddressInfo
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    url: `http://${shownHost}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
