import type { Identity } from './identity.ts'
import type { GatewaySessionRow } from './sessions.ts'

/**
 * What one gateway instance remembers of sessions between requests, all in one place:
 * session rows for a short time (`cacheMs`: a session ended on another instance is ended
 * here within it), one query shared by the requests that miss together, one Identity per
 * row object, and per connection the last session cookie whose signature held. Nothing
 * here outlives `cacheMs` as a verdict: the rows stay in PostgreSQL (sessions.ts).
 */
export interface SessionStore {
  /** The session row of this id hash: from memory when fresher than `cacheMs`, else from the database. */
  row(idHash: string): Promise<GatewaySessionRow | undefined>
  /** Forgets these sessions here (signed out, expired, changed): the next use reads the database. */
  forget(idHashes: Iterable<string>): void
  /** Forgets every remembered session whose row matches (a back-channel logout by sub or sid). */
  forgetWhere(matches: (row: GatewaySessionRow) => boolean): void
  /** Remembers a row this instance has just written (a new session), as of now. */
  remember(idHash: string, row: GatewaySessionRow): void
  /** Replaces a remembered row after this instance changed it (a touch), keeping its age. */
  replace(idHash: string, row: GatewaySessionRow): void
  /** The Identity of a row: the same object for the same row, so caches keyed on it hit. */
  identity(row: GatewaySessionRow): Identity
  /**
   * The session cookie of a connection, checked once per distinct value and signer set: a
   * browser sends the same cookie on a kept-alive connection, and checking it again (an
   * HMAC per key tried, then SHA-256 of the id) was ~15 µs a request. Only the very same
   * string under the very same keys matches; a key change checks afresh.
   */
  checkedCookie<C extends object>(
    connection: object,
    raw: string,
    signers: object,
    check: () => Promise<C | undefined>,
  ): Promise<C | undefined>
}

export function createSessionStore(options: {
  find: (idHash: string) => Promise<GatewaySessionRow | undefined>
  cacheMs: number
  /** Rows remembered at most; the oldest entry makes room. */
  cacheMax: number
  now?: () => number
}): SessionStore {
  const { find, cacheMs, cacheMax } = options
  const now = options.now ?? Date.now
  const cache = new Map<string, { row: GatewaySessionRow | undefined; at: number }>()
  // When the cache entry of a busy session lapses, the requests arriving together share
  // one query instead of each sending its own (the benchmark saw bursts of them).
  const inFlight = new Map<string, Promise<GatewaySessionRow | undefined>>()
  const identities = new WeakMap<GatewaySessionRow, Identity>()
  const lastCookie = new WeakMap<object, { raw: string; signers: object; checked: object }>()

  function remember(idHash: string, row: GatewaySessionRow | undefined, at: number): void {
    if (!cache.has(idHash) && cache.size >= cacheMax) {
      const oldest = cache.keys().next()
      if (!oldest.done) cache.delete(oldest.value)
    }
    cache.set(idHash, { row, at })
  }

  return {
    async row(idHash) {
      const started = now()
      const hit = cache.get(idHash)
      if (hit !== undefined && started - hit.at < cacheMs) return hit.row
      const pending = inFlight.get(idHash)
      if (pending !== undefined) return pending
      const query = find(idHash)
        .then((row) => {
          // Aged from when the query started: the row is at least that fresh, no fresher.
          remember(idHash, row, started)
          return row
        })
        .finally(() => inFlight.delete(idHash))
      inFlight.set(idHash, query)
      return query
    },

    forget(idHashes) {
      for (const h of idHashes) cache.delete(h)
    },

    remember(idHash, row) {
      remember(idHash, row, now())
    },

    forgetWhere(matches) {
      for (const [h, entry] of cache) if (entry.row !== undefined && matches(entry.row)) cache.delete(h)
    },

    replace(idHash, row) {
      const cached = cache.get(idHash)
      if (cached !== undefined) cached.row = row
    },

    identity(row) {
      let identity = identities.get(row)
      if (identity === undefined) {
        identity = identityOfRow(row)
        identities.set(row, identity)
      }
      return identity
    },

    async checkedCookie(connection, raw, signers, check) {
      const last = lastCookie.get(connection)
      if (last !== undefined && last.raw === raw && last.signers === signers) return last.checked as never
      const checked = await check()
      if (checked !== undefined) lastCookie.set(connection, { raw, signers, checked })
      return checked
    },
  }
}

// One Identity per row object (rows are immutable once read; a re-read or a touch makes
// a new row): requests served from the same cached row share the Identity, so the
// assertion cache (assertion.ts) finds its entry without rebuilding a key.
function identityOfRow(row: GatewaySessionRow): Identity {
  return Object.freeze({
    via: 'session',
    sub: row.sub,
    acr: row.acr,
    authTime: row.auth_time === null ? undefined : Math.floor(row.auth_time.getTime() / 1000),
    lastUsedAt: Math.floor(row.last_seen_at.getTime() / 1000),
    amr: Object.freeze([...row.amr]),
    scopes: Object.freeze([...row.scopes]),
    claims: Object.freeze({ ...row.claims }),
    clientId: undefined,
    audience: Object.freeze([]),
    sessionId: row.id_hash,
  })
}
