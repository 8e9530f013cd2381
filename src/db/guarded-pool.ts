import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import type pg from 'pg'
import { isAppError, type AppError } from '../errors/app-error.ts'
import { databaseUnavailable, isDatabaseUnavailable, socketErrorCodes } from './errors.ts'

/** Where the pool reports what went wrong with a connection (a log line, a metric). */
export type ConnectionErrorListener = (err: Error, where: 'idle' | 'checked-out' | 'query-deadline') => void

export interface GuardedPoolOptions {
  /**
   * Client-side deadline of one query, in milliseconds. statement_timeout bounds the
   * server's work; this bounds the wait when the server cannot answer at all (a network
   * partition swallows every packet and TCP would wait for minutes).
   */
  queryTimeoutMs: number
  onConnectionError: ConnectionErrorListener
}

/** `err` as the one database_unavailable error (already one: as it is). */
function asUnavailable(err: unknown): AppError {
  return isAppError(err) && err.code === 'database_unavailable' ? err : databaseUnavailable(err)
}

/**
 * Whether an error raised by `pg` itself means the connection is unusable. Only called on
 * errors from this pool's clients, so a socket code here is the database's socket.
 */
function connectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return (typeof code === 'string' && socketErrorCodes.has(code)) || isDatabaseUnavailable(err)
}

/**
 * A `pg` pool as Kysely's PostgresDialect wants it, with the error paths `pg` leaves to
 * the application:
 *
 *  - Every client gets an `'error'` listener for its whole life. pg-pool listens only
 *    while a client is idle; a client checked out for a query or a transaction emits
 *    `'error'` when its socket dies, and with no listener Node ends the process.
 *  - Every query has a deadline. When it passes, the connection is destroyed (not only
 *    the query abandoned: on a silent network the next query would queue behind it), the
 *    pool drops the client, and the caller gets `database_unavailable`.
 *  - Errors that mean "no usable connection" become `database_unavailable` (503 with
 *    Retry-After); an answer from a working server (a constraint, a syntax error) is passed
 *    on unchanged.
 *
 * Acquisition is bounded by pg-pool's own connectionTimeoutMillis, which covers both the
 * wait for a free client and the connection attempt.
 */
export class GuardedPool implements PostgresPool {
  readonly pool: pg.Pool
  readonly #opts: GuardedPoolOptions
  readonly #clients = new WeakMap<pg.PoolClient, GuardedClient>()

  constructor(pool: pg.Pool, opts: GuardedPoolOptions) {
    this.pool = pool
    this.#opts = opts
    // Idle clients whose server went away (a restart, a cut): the pool drops them.
    pool.on('error', (err) => opts.onConnectionError(err, 'idle'))
    pool.on('connect', (client) => {
      // For the client's whole life, checked out or not (see above). pg-pool adds and
      // removes its own idle listener around this one.
      client.on('error', (err) => {
        this.#clients.get(client)?.markBroken()
        opts.onConnectionError(err, 'checked-out')
      })
    })
  }

  get options(): object {
    return this.pool.options
  }

  async connect(): Promise<PostgresPoolClient> {
    // Kysely's type also has the cursor form of query(), used only by streamQuery, which
    // needs a `cursor` in the dialect config; this project gives none.
    return (await this.acquire()) as unknown as PostgresPoolClient
  }

  /** A client within `timeoutMs` (default: the pool's connectionTimeoutMillis), or database_unavailable. */
  async acquire(timeoutMs?: number): Promise<GuardedClient> {
    let client: pg.PoolClient
    try {
      client = timeoutMs === undefined ? await this.pool.connect() : await this.#acquireWithin(timeoutMs)
    } catch (err) {
      throw asUnavailable(err)
    }
    let guarded = this.#clients.get(client)
    if (guarded === undefined) {
      guarded = new GuardedClient(client, this.#opts)
      this.#clients.set(client, guarded)
    }
    guarded.checkedOut()
    return guarded
  }

  #acquireWithin(timeoutMs: number): Promise<pg.PoolClient> {
    return new Promise((resolve, reject) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        reject(databaseUnavailable(new Error(`no database connection within ${timeoutMs} ms`)))
      }, timeoutMs)
      this.pool.connect().then(
        (client) => {
          clearTimeout(timer)
          // Arrived after the caller gave up: straight back into the pool.
          if (late) client.release()
          else resolve(client)
        },
        (err: unknown) => {
          clearTimeout(timer)
          if (!late) reject(err)
        },
      )
    })
  }

  /** Runs `select 1` on a pooled connection; all of it (acquisition included) within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    const started = Date.now()
    const client = await this.acquire(timeoutMs)
    try {
      await client.queryWithin('select 1', [], Math.max(1, timeoutMs - (Date.now() - started)))
    } finally {
      client.release()
    }
  }

  async end(): Promise<void> {
    await this.pool.end()
  }
}

export class GuardedClient {
  readonly #client: pg.PoolClient
  readonly #opts: GuardedPoolOptions
  #broken = false

  constructor(client: pg.PoolClient, opts: GuardedPoolOptions) {
    this.#client = client
    this.#opts = opts
  }

  checkedOut(): void {
    this.#broken = false
  }

  markBroken(): void {
    this.#broken = true
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    return this.queryWithin<R>(sql, parameters, this.#opts.queryTimeoutMs)
  }

  queryWithin<R>(sql: string, parameters: ReadonlyArray<unknown>, timeoutMs: number): Promise<PostgresQueryResult<R>> {
    if (this.#broken) return Promise.reject(databaseUnavailable(new Error('the database connection was lost')))
    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        this.#broken = true
        const err = new Error(`no answer from the database within ${timeoutMs} ms`)
        this.#opts.onConnectionError(err, 'query-deadline')
        // Destroy the socket: pg then fails whatever else waits on this client, emits
        // 'error' (handled above), and the pool drops the client on release.
        const stream = (this.#client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream
        stream?.destroy()
        reject(databaseUnavailable(err))
      }, timeoutMs)
      // pg's typings take a mutable array; Kysely hands a readonly one that pg never changes.
      this.#client.query(sql, parameters as unknown[]).then(
        (result) => {
          clearTimeout(timer)
          if (!settled) resolve(result as unknown as PostgresQueryResult<R>)
        },
        (err: unknown) => {
          clearTimeout(timer)
          if (settled) return
          if (connectionLost(err) || !(this.#client as unknown as { _queryable?: boolean })._queryable) {
            this.#broken = true
            reject(asUnavailable(err))
          } else {
            reject(err)
          }
        },
      )
    })
  }

  release(destroy?: boolean): void {
    // A truthy argument makes pg-pool close the client instead of keeping it.
    this.#client.release(destroy === true || this.#broken ? true : undefined)
  }
}
