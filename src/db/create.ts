import fs from 'node:fs'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { Config } from '../config/schema.ts'
import type { Database } from './database.ts'
import { acquireDirLock, type DirLock } from './dir-lock.ts'
import { gatedPgliteDialect, SessionGate } from './pglite-gate.ts'
import { servedPglite } from './pglite-served.ts'
import { isAppError } from '../errors/app-error.ts'
import { GuardedPool, type ConnectionErrorListener } from './guarded-pool.ts'
import { listenPglite, listenPostgres, type NotificationListener, type Subscription } from './notifications.ts'

export type DatabaseKind = 'postgres' | 'pglite'

/** An open database: the Kysely instance plus what the process needs to manage it. */
export interface DatabaseHandle {
  readonly db: Kysely<Database>
  readonly kind: DatabaseKind
  /** Where it lives, for messages: host:port/name, or the PGlite folder. Never a password. */
  readonly location: string
  /** The embedded database itself, in the process that owns it (to serve it to others). */
  readonly pglite?: { readonly client: PGlite; readonly gate: SessionGate }
  /** The pool's connections and the lost ones so far (PostgreSQL; metrics). */
  poolStats?(): { total: number; idle: number; waiting: number; errors: number }
  /** Resolves when the database answers a trivial query within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<void>
  /** LISTEN on `channel` (notifications.ts): on a connection of its own, or the embedded session. */
  listen(channel: string, listener: NotificationListener): Promise<Subscription>
  close(): Promise<void>
}

/** The database could not be opened. The message is one line, fit for an operator. */
export class DatabaseOpenError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'DatabaseOpenError'
  }
}

/**
 * Opens the configured database: a `pg` pool when `database.url` is set, otherwise the
 * embedded PGlite database in `database.pgliteDir`. Verifies that it answers before
 * returning, so a server never starts against a database it cannot reach.
 */
export async function openDatabase(config: Config['database'], options: OpenOptions = {}): Promise<DatabaseHandle> {
  if (config.url === undefined) {
    // Held by a running process that serves it (src/db/pglite-server.ts): an admin verb
    // connects to it; a server process is still refused (one quick start per directory).
    const served = options.viaRunningServer === true ? servedPglite(config.pgliteDir) : undefined
    if (served === undefined) return openPglite(config.pgliteDir)
    const handle = await openPostgres({ ...config, url: served.url, poolMax: Math.min(config.poolMax, 2) }, options)
    return { ...handle, kind: 'pglite', location: `${config.pgliteDir} (served by pid ${served.pid})` }
  }
  return openPostgres(config, options)
}

export interface OpenOptions {
  /** CLI verbs: reach an embedded database held by a running process through it. */
  viaRunningServer?: boolean
  /**
   * Told of every lost or stuck database connection (the process keeps running: the pool
   * replaces the connection, requests answer 503 meanwhile). Without one they are ignored.
   */
  onConnectionError?: ConnectionErrorListener
}

export function describePostgresUrl(url: string): string {
  const u = new URL(url)
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`
}

async function openPostgres(config: Config['database'], options: OpenOptions): Promise<DatabaseHandle> {
  const url = config.url as string
  const location = describePostgresUrl(url)
  let errors = 0
  const told = options.onConnectionError ?? (() => {})
  const pool = new GuardedPool(
    new pg.Pool({
      connectionString: url,
      max: config.poolMax,
      // Bounds acquisition: the wait for a free client and the connection attempt.
      connectionTimeoutMillis: config.connectTimeoutMs,
      // Server-side limit so that a runaway query cannot hold a connection forever; the
      // client-side deadline (queryTimeoutMs, GuardedPool) covers a server that cannot answer.
      options: `-c statement_timeout=${config.statementTimeoutMs}`,
      idleTimeoutMillis: 30_000,
      // An idle connection whose peer vanished without a FIN (a partition) is found by
      // TCP keep-alive instead of on its next use.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    }),
    {
      queryTimeoutMs: config.queryTimeoutMs,
      onConnectionError: (err, where) => {
        errors++
        told(err, where)
      },
    },
  )
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  const handle: DatabaseHandle = {
    db,
    kind: 'postgres',
    location,
    poolStats: () => ({
      total: pool.pool.totalCount,
      idle: pool.pool.idleCount,
      waiting: pool.pool.waitingCount,
      errors,
    }),
    ping: (timeoutMs = 2000) => pool.ping(timeoutMs),
    listen: async (channel, listener) =>
      listenPostgres(url, channel, listener, { connectTimeoutMs: config.connectTimeoutMs }),
    close: () => db.destroy(),
  }
  try {
    await handle.ping(config.connectTimeoutMs)
  } catch (err) {
    await db.destroy().catch(() => {})
    throw new DatabaseOpenError(`database: cannot connect to PostgreSQL at ${location}: ${reason(err)}`, err)
  }
  return handle
}

async function openPglite(dir: string): Promise<DatabaseHandle> {
  const abs = path.resolve(dir)
  fs.mkdirSync(path.dirname(abs), { recursive: true })
  // PGlite is single-process: two processes on one data directory would corrupt it.
  let lock: DirLock
  try {
    lock = acquireDirLock(`${abs}.lock`)
  } catch (err) {
    throw new DatabaseOpenError(`database: ${reason(err)}`, err)
  }
  let client: PGlite
  try {
    client = await PGlite.create(abs)
  } catch (err) {
    lock.release()
    throw new DatabaseOpenError(`database: cannot open the embedded database in ${dir}: ${reason(err)}`, err)
  }
  return wrapPglite(client, dir, () => lock.release())
}

/** Wraps an already-open PGlite instance (tests restore one from a snapshot). */
export function wrapPglite(client: PGlite, location: string, onClose?: () => void): DatabaseHandle {
  const gate = new SessionGate()
  const db = new Kysely<Database>({ dialect: gatedPgliteDialect(client, gate) })
  let closed = false
  return {
    db,
    kind: 'pglite',
    location,
    pglite: { client, gate },
    ping: (timeoutMs = 2000) => ping(db, timeoutMs),
    listen: (channel, listener) => listenPglite(client, gate, channel, listener),
    close: async () => {
      if (closed) return
      closed = true
      try {
        await db.destroy()
        if (!client.closed) await client.close()
      } finally {
        onClose?.()
      }
    },
  }
}

async function ping(db: Kysely<Database>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    await Promise.race([sql`select 1`.execute(db), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function reason(err: unknown): string {
  // The pool wraps a failed connection as database_unavailable: the cause says why.
  if (isAppError(err) && err.code === 'database_unavailable' && err.cause !== undefined) return reason(err.cause)
  if (err instanceof AggregateError && err.errors.length > 0) return reason(err.errors[0])
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    return code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message || String(code)
  }
  return String(err)
}
