// PGlite is one PostgreSQL session. When the quick start's process serves it to other
// processes (src/db/pglite-server.ts), the process's own queries and every client's share
// that session, so they must take turns by transaction, not only by statement: a query of
// the app must never run inside a CLI's open transaction, nor the other way round. The
// gate is that turn: Kysely's PGlite driver takes it for each connection it hands out
// (one statement, or a whole transaction), and the server takes it for a client from its
// first message until the session is idle again (ReadyForQuery 'I').

import type { PGlite } from '@electric-sql/pglite'
import { PGliteDialect, type DatabaseConnection, type Dialect, type Driver, type TransactionSettings } from 'kysely'

/** A first-come, first-served mutex. acquire() resolves to the function that releases it. */
export class SessionGate {
  #held = false
  readonly #waiting: Array<() => void> = []

  async acquire(): Promise<() => void> {
    if (this.#held) await new Promise<void>((resolve) => this.#waiting.push(resolve))
    this.#held = true
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      if (next) next()
      else this.#held = false
    }
  }

  get waiting(): number {
    return this.#waiting.length
  }
}

class GatedDriver implements Driver {
  readonly #inner: Driver
  readonly #gate: SessionGate
  readonly #releases = new Map<DatabaseConnection, () => void>()

  constructor(inner: Driver, gate: SessionGate) {
    this.#inner = inner
    this.#gate = gate
  }

  init(): Promise<void> {
    return this.#inner.init()
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#gate.acquire()
    try {
      const connection = await this.#inner.acquireConnection()
      this.#releases.set(connection, release)
      return connection
    } catch (err) {
      release()
      throw err
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings)
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection)
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection)
  }

  savepoint(...args: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    return this.#inner.savepoint?.(...args) ?? Promise.reject(new Error('savepoints are not supported'))
  }

  rollbackToSavepoint(...args: Parameters<NonNullable<Driver['rollbackToSavepoint']>>): Promise<void> {
    return this.#inner.rollbackToSavepoint?.(...args) ?? Promise.reject(new Error('savepoints are not supported'))
  }

  releaseSavepoint(...args: Parameters<NonNullable<Driver['releaseSavepoint']>>): Promise<void> {
    return this.#inner.releaseSavepoint?.(...args) ?? Promise.reject(new Error('savepoints are not supported'))
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#inner.releaseConnection(connection)
    } finally {
      this.#releases.get(connection)?.()
      this.#releases.delete(connection)
    }
  }

  destroy(): Promise<void> {
    return this.#inner.destroy()
  }
}

/** Kysely's PGlite dialect, with each connection taken through `gate`. */
export function gatedPgliteDialect(pglite: PGlite, gate: SessionGate): Dialect {
  const inner = new PGliteDialect({ pglite })
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => new GatedDriver(inner.createDriver(), gate),
    createIntrospector: (db) => inner.createIntrospector(db),
    createQueryCompiler: () => inner.createQueryCompiler(),
  }
}
