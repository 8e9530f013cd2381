// PostgreSQL's LISTEN/NOTIFY for caches that must drop an entry the moment another process
// changes what it was read from (the gateway's document grants, issue 18). A notification
// is sent at commit by a trigger (migrations/20261203T1450-document-change-notify.ts), so
// every writer — the idp, a CLI verb, an officer — is heard, and nothing is heard of a
// transaction that rolled back.
//
// A listener is only as good as its connection: notifications sent while it is down are
// lost. So a subscription says whether it is up; a cache trusts its entries only while it
// is, drops everything when it comes back (what it missed is unknown), and otherwise
// re-reads within a short bound.

import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import type { SessionGate } from './pglite-gate.ts'

/** A channel name of ours: lowercase letters, digits and underscores (no quoting needed). */
const CHANNEL = /^[a-z][a-z0-9_]{0,62}$/

export interface NotificationListener {
  /** A notification's payload (a citizen id, for documents). */
  onNotify(payload: string): void
  /** The connection is listening again after being down (or for the first time). */
  onUp(): void
  /** The connection was lost: from now until onUp, notifications may be missed. */
  onDown(reason: string): void
}

export interface Subscription {
  /** Listening now: a change committed from now on will be heard. */
  readonly up: boolean
  close(): Promise<void>
}

export interface PostgresListenOptions {
  /** First retry after a lost connection; doubles up to `maxRetryMs`. */
  readonly retryMs?: number
  readonly maxRetryMs?: number
  readonly connectTimeoutMs?: number
}

/**
 * LISTEN on a connection of its own (never one of the pool's: a pooled connection is
 * handed to queries, and a LISTEN must outlive them), reconnecting with backoff.
 */
export function listenPostgres(
  url: string,
  channel: string,
  listener: NotificationListener,
  options: PostgresListenOptions = {},
): Subscription {
  if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`)
  const retryMs = options.retryMs ?? 250
  const maxRetryMs = options.maxRetryMs ?? 10_000
  let up = false
  let closed = false
  let client: pg.Client | undefined
  let timer: NodeJS.Timeout | undefined
  let delay = retryMs

  const down = (reason: string) => {
    const wasUp = up
    up = false
    const old = client
    client = undefined
    old?.removeAllListeners()
    old?.on('error', () => {})
    void old?.end().catch(() => {})
    if (wasUp) listener.onDown(reason)
    if (!closed && timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined
        void connect()
      }, delay)
      timer.unref()
      delay = Math.min(delay * 2, maxRetryMs)
    }
  }

  const connect = async () => {
    if (closed) return
    const c = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    })
    client = c
    c.on('error', (err: Error) => {
      if (client === c) down(err.message)
    })
    c.on('end', () => {
      if (client === c) down('connection ended')
    })
    c.on('notification', (msg) => {
      if (client === c && msg.channel === channel) listener.onNotify(msg.payload ?? '')
    })
    try {
      await c.connect()
      await c.query(`LISTEN ${channel}`)
    } catch (err) {
      if (client === c) down(err instanceof Error ? err.message : String(err))
      return
    }
    if (closed || client !== c) return
    up = true
    delay = retryMs
    listener.onUp()
  }

  void connect()
  return {
    get up() {
      return up
    },
    async close() {
      closed = true
      up = false
      if (timer !== undefined) clearTimeout(timer)
      const c = client
      client = undefined
      if (c !== undefined) {
        c.removeAllListeners()
        c.on('error', () => {})
        await c.end().catch(() => {})
      }
    },
  }
}

/**
 * LISTEN on the embedded database, in the process that holds it. Its one session is shared
 * (the CLI's connections come through pglite-server.ts), so the LISTEN waits its turn at
 * the gate and never runs inside another's transaction. A notification from any of them
 * reaches this process. It cannot be lost while the process lives, so it is up at once.
 */
export async function listenPglite(
  client: PGlite,
  gate: SessionGate,
  channel: string,
  listener: NotificationListener,
): Promise<Subscription> {
  if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`)
  const release = await gate.acquire()
  let unlisten: () => Promise<void>
  try {
    unlisten = await client.listen(channel, (payload) => listener.onNotify(payload))
  } finally {
    release()
  }
  let up = true
  listener.onUp()
  return {
    get up() {
      return up && !client.closed
    },
    async close() {
      if (!up) return
      up = false
      if (client.closed) return
      const again = await gate.acquire()
      try {
        await unlisten()
      } finally {
        again()
      }
    },
  }
}
