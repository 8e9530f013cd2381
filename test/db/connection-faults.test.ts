/**
 * Issue 12 part 1, at the database layer: PostgreSQL behind a TCP proxy that cuts,
 * refuses and black-holes connections (test/helpers/fault-proxy.ts). Each fault ends in
 * `database_unavailable` (503 with Retry-After), within its bound, without an uncaught
 * error (tap fails a test on one), and the pool serves again as soon as the database
 * does. PGlite cannot be cut: its error path is the instance going away.
 */
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import pg from 'pg'
import t, { type Test } from 'tap'
import { openDatabase, wrapPglite, type DatabaseHandle } from '../../src/db/create.ts'
import { isDatabaseUnavailable } from '../../src/db/errors.ts'
import { isAppError } from '../../src/errors/app-error.ts'
import { freshDatabase, testDatabaseUrl } from '../helpers/db.ts'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts'

const noPostgres = testDatabaseUrl === undefined ? 'TEST_DATABASE_URL is not set' : false

const bounds = { connectTimeoutMs: 800, statementTimeoutMs: 1000, queryTimeoutMs: 1500 }

async function proxied(
  t: Test,
): Promise<{ handle: DatabaseHandle; proxy: FaultProxy; direct: string; errors: string[] }> {
  const db = await freshDatabase(t, 'postgres')
  const u = new URL(db.url as string)
  const proxy = await startFaultProxy(t, { host: u.hostname, port: Number(u.port || 5432) })
  const errors: string[] = []
  const handle = await openDatabase(
    { url: proxy.via(db.url as string), pgliteDir: '', autoMigrate: false, poolMax: 3, ...bounds },
    { onConnectionError: (_err, where) => errors.push(where) },
  )
  t.teardown(() => handle.close())
  return { handle, proxy, direct: db.url as string, errors }
}

async function failure(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = Date.now()
  try {
    await p
  } catch (err) {
    return { err, ms: Date.now() - started }
  }
  throw new Error('expected a failure')
}

function assertUnavailable(t: Test, err: unknown, what: string): void {
  t.ok(isAppError(err) && err.code === 'database_unavailable', `${what}: database_unavailable`)
  t.equal(isAppError(err) ? err.statusCode : 0, 503, `${what}: 503`)
  t.equal(isAppError(err) ? err.headers['retry-after'] : undefined, '5', `${what}: Retry-After`)
}

async function recovers(handle: DatabaseHandle, withinMs: number): Promise<number> {
  const started = Date.now()
  for (;;) {
    try {
      await handle.ping(500)
      return Date.now() - started
    } catch {
      if (Date.now() - started > withinMs) throw new Error(`not back within ${withinMs} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

t.test(
  'SECURITY 31: a connection cut in the middle of a query fails that query, and the pool serves again at once',
  { skip: noPostgres },
  async (t) => {
    const { handle, proxy, errors } = await proxied(t)
    await handle.ping()
    const running = failure(sql`select pg_sleep(0.8)`.execute(handle.db))
    await new Promise((r) => setTimeout(r, 200))
    const cutAt = Date.now()
    proxy.cut()
    const { err } = await running
    const toFail = Date.now() - cutAt
    assertUnavailable(t, err, 'the query in flight')
    t.ok(toFail < 500, `failed ${toFail} ms after the cut`)
    t.ok(errors.includes('checked-out'), 'the checked-out client reported its error (no crash)')
    const back = await recovers(handle, 1000)
    t.ok(back < 1000, `serves again ${back} ms later`)
    t.comment(`figures: cut mid-query → failure in ${toFail} ms; next query ok after ${back} ms`)
  },
)

t.test(
  'SECURITY 31: a connection cut in the middle of a transaction leaves nothing of it behind',
  { skip: noPostgres },
  async (t) => {
    const { handle, proxy, direct } = await proxied(t)
    const event = `fault-test-${Date.now()}`
    const running = failure(
      handle.db.transaction().execute(async (trx) => {
        await trx.insertInto('audit_events').values({ event, actor: 'system' }).execute()
        await sql`select pg_sleep(0.8)`.execute(trx)
        await trx.insertInto('audit_events').values({ event, actor: 'system' }).execute()
      }),
    )
    await new Promise((r) => setTimeout(r, 250))
    proxy.cut()
    const { err } = await running
    assertUnavailable(t, err, 'the transaction')
    const check = new pg.Client({ connectionString: direct })
    await check.connect()
    t.teardown(() => check.end())
    const rows = await check.query('select count(*)::int as n from audit_events where event = $1', [event])
    t.equal(rows.rows[0].n, 0, 'the first insert was rolled back with the connection')
    await recovers(handle, 1000)
    await handle.db.transaction().execute(async (trx) => {
      await trx.insertInto('audit_events').values({ event, actor: 'system' }).execute()
    })
    const after = await check.query('select count(*)::int as n from audit_events where event = $1', [event])
    t.equal(after.rows[0].n, 1, 'a transaction after the cut commits')
  },
)

t.test(
  'SECURITY 31: idle connections cut: the process keeps running and the next query connects afresh',
  { skip: noPostgres },
  async (t) => {
    const { handle, proxy, errors } = await proxied(t)
    // Three idle clients in the pool.
    await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`.execute(handle.db)))
    t.ok(proxy.open >= 2, `${proxy.open} connections open`)
    proxy.cut()
    await new Promise((r) => setTimeout(r, 100))
    t.ok(errors.filter((e) => e === 'idle').length >= 2, 'each idle client reported its loss to the pool')
    const rows = await sql<{ one: number }>`select 1 as one`.execute(handle.db)
    t.same(rows.rows, [{ one: 1 }], 'the next query works')
  },
)

t.test(
  'SECURITY 28: refused connections fail fast with database_unavailable, and service returns within a second',
  { skip: noPostgres },
  async (t) => {
    const { handle, proxy } = await proxied(t)
    await handle.ping()
    proxy.cut()
    await proxy.refuse()
    const { err, ms } = await failure(sql`select 1`.execute(handle.db))
    assertUnavailable(t, err, 'a query while refused')
    t.ok(ms < bounds.connectTimeoutMs + 300, `failed in ${ms} ms`)
    const ready = await failure(handle.ping(1000))
    t.ok(isDatabaseUnavailable(ready.err) && ready.ms <= 1100, `readiness fails in ${ready.ms} ms`)
    const restoredAt = Date.now()
    await proxy.restore()
    const back = await recovers(handle, 1000)
    t.ok(Date.now() - restoredAt < 1000, `back ${back} ms after the database`)
    t.comment(`figures: refused → failure in ${ms} ms; ping failure in ${ready.ms} ms; recovery ${back} ms`)
  },
)

t.test(
  'SECURITY 28: black hole: queries in flight and new ones fail within their budget, never hang',
  { skip: noPostgres },
  async (t) => {
    const { handle, proxy, errors } = await proxied(t)
    // Two connections in the pool (two queries at once), both idle again.
    await Promise.all([1, 2].map(() => sql`select pg_sleep(0.1)`.execute(handle.db)))
    const inFlight = failure(sql`select pg_sleep(0.3)`.execute(handle.db))
    await new Promise((r) => setTimeout(r, 50))
    proxy.blackhole()
    // An idle pooled connection is taken, then its query meets the partition.
    const onIdle = failure(sql`select 1`.execute(handle.db))
    const [a, b] = await Promise.all([inFlight, onIdle])
    for (const [name, r] of [
      ['in flight', a],
      ['on an idle connection', b],
    ] as const) {
      assertUnavailable(t, r.err, name)
      t.ok(r.ms <= bounds.queryTimeoutMs + 300, `${name}: failed in ${r.ms} ms (deadline ${bounds.queryTimeoutMs} ms)`)
    }
    t.ok(errors.includes('query-deadline'), 'the deadline dropped the connections')
    // New connections: the TCP handshake succeeds, the server never answers.
    const fresh = await failure(sql`select 1`.execute(handle.db))
    assertUnavailable(t, fresh.err, 'a new connection')
    t.ok(
      fresh.ms <= bounds.connectTimeoutMs + 300,
      `a new connection failed in ${fresh.ms} ms (bound ${bounds.connectTimeoutMs} ms)`,
    )
    const ping = await failure(handle.ping(1000))
    t.ok(ping.ms <= 1100, `readiness answers in ${ping.ms} ms`)
    await proxy.restore()
    const back = await recovers(handle, 1500)
    t.ok(back < 1000, `back ${back} ms after the partition ends`)
    t.comment(
      `figures: black hole → in flight ${a.ms} ms, idle ${b.ms} ms, new connection ${fresh.ms} ms, ping ${ping.ms} ms; recovery ${back} ms`,
    )
  },
)

t.test(
  'a query that fails on its own (a constraint) is passed on unchanged, not as an outage',
  { skip: noPostgres },
  async (t) => {
    const { handle } = await proxied(t)
    const err = await failure(sql`select 1/0`.execute(handle.db))
    t.notOk(isDatabaseUnavailable(err.err), 'division by zero is an answer, not an outage')
    t.equal((err.err as { code?: string }).code, '22012')
    t.same(
      (await sql<{ one: number }>`select 1 as one`.execute(handle.db)).rows,
      [{ one: 1 }],
      'the connection is still good',
    )
  },
)

t.test('SECURITY 31: an embedded database that went away answers database_unavailable, not a crash', async (t) => {
  const client = await PGlite.create()
  const handle = wrapPglite(client, 'memory')
  t.teardown(() => handle.close())
  await handle.ping()
  await client.close()
  const { err } = await failure(sql`select 1`.execute(handle.db))
  t.ok(isDatabaseUnavailable(err), 'PGlite is closed → database unavailable')
  const ping = await failure(handle.ping(1000))
  t.ok(isDatabaseUnavailable(ping.err), 'readiness fails')
})
