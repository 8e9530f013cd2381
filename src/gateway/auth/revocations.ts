import { sql, type Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { Database } from '../../db/database.ts'
import type { RevokedSessionRow } from '../../db/tables/revoked-sessions.ts'

/**
 * Sessions the idp ended, in this gateway instance's memory (issue 12). An agency app's
 * access token is verified here without asking the idp (bearer.ts), so a citizen's
 * sign-out would not stop it before it expires. The idp writes each ended session's hash
 * (the token's `sp_sh` claim) to revoked_sessions; every instance polls that table and
 * refuses a token whose session hash is there and that was issued before the session
 * ended. A token issued after (the same browser session going on after a password change
 * or after one client signed out) passes.
 *
 * Bounds:
 *  - time to refusal: one poll interval (gateway.revocationPollMs) plus a query, after
 *    the idp committed the row;
 *  - memory: a row lives until no token it refuses can be valid (the idp writes
 *    expires_at ≈ 12 minutes after the sign-out), and this set drops it then. Sign-outs need
 *    sign-ins, which the idp's password hashing and throttling limit to some dozens a
 *    second per core: at most some tens of thousands of entries of ~150 bytes;
 *  - database: after the first full load a poll reads only rows revoked since the newest
 *    one it saw (less an overlap), through the index on revoked_at.
 */

/**
 * Leeway between the clock that wrote a token's `iat` (an idp instance) and the one that
 * wrote revoked_at (the database): a token issued up to this long after the sign-out is
 * refused too, so a fast idp clock cannot let a token from just before it slip through.
 */
export const revocationLeewayMs = 5000

/**
 * Each poll reads again the rows revoked this long before the newest one it has seen: a
 * transaction that wrote its row before another's but committed after is not missed.
 */
export const pollOverlapMs = 60_000

export interface RevokedSessions {
  /** Whether a token of `sessionHash` issued at `issuedAtMs` (ms since the epoch) is revoked. */
  refuses(sessionHash: string | undefined, issuedAtMs: number): boolean
  /** Number of ended sessions held. */
  readonly size: number
}

interface Entry {
  revokedAt: number
  expiresAt: number
}

/** The in-memory set; the poller feeds it. Exported for tests. */
export class RevocationSet implements RevokedSessions {
  readonly #entries = new Map<string, Entry>()

  /** Adds rows (seen again, a row keeps its latest moment). */
  add(rows: readonly Pick<RevokedSessionRow, 'session_hash' | 'revoked_at' | 'expires_at'>[]): void {
    for (const r of rows) {
      const known = this.#entries.get(r.session_hash)
      const revokedAt = Math.max(r.revoked_at.getTime(), known?.revokedAt ?? 0)
      const expiresAt = Math.max(r.expires_at.getTime(), known?.expiresAt ?? 0)
      this.#entries.set(r.session_hash, { revokedAt, expiresAt })
    }
  }

  refuses(sessionHash: string | undefined, issuedAtMs: number): boolean {
    if (sessionHash === undefined) return false
    const entry = this.#entries.get(sessionHash)
    return entry !== undefined && issuedAtMs <= entry.revokedAt + revocationLeewayMs
  }

  /** Drops entries whose row has expired: no token they refuse can still be valid. */
  sweep(nowMs: number): void {
    for (const [hash, e] of this.#entries) if (e.expiresAt <= nowMs) this.#entries.delete(hash)
  }

  get size(): number {
    return this.#entries.size
  }
}

/** Rows of revoked_sessions still in force, revoked after `since` when given. */
export async function listRevokedSessions(
  db: Kysely<Database>,
  since: Date | undefined,
): Promise<Pick<RevokedSessionRow, 'session_hash' | 'revoked_at' | 'expires_at'>[]> {
  let q = db
    .selectFrom('revoked_sessions')
    .select(['session_hash', 'revoked_at', 'expires_at'])
    .where('expires_at', '>', sql<Date>`now()`)
  if (since !== undefined) q = q.where('revoked_at', '>', since)
  return q.execute()
}

export interface RevocationPoller {
  readonly revoked: RevokedSessions
  /**
   * Reads what is new (everything, the first time) into the set. Never throws: when the
   * database cannot answer, the set stays as it was, a warning is logged and healthy()
   * turns false once the set is older than a few intervals.
   */
  poll(): Promise<void>
  /** Whether the set is recent: the last successful poll was at most a few intervals ago. */
  healthy(): boolean
}

export interface RevocationPollerOptions {
  pollMs: number
  /** Tests: a clock. */
  now?: () => number
}

/** How long a failing poller stays quiet between two warnings. */
const warnEveryMs = 60_000

export function createRevocationPoller(
  db: Kysely<Database>,
  logger: Pick<Logger, 'warn' | 'info'>,
  opts: RevocationPollerOptions,
): RevocationPoller {
  const now = opts.now ?? Date.now
  const set = new RevocationSet()
  // Stale after three missed polls (and never under 5 s, so one slow query is not a fault).
  const staleAfterMs = Math.max(3 * opts.pollMs, 5000)
  let newest: Date | undefined
  let lastSuccess: number | undefined
  let failingSince: number | undefined
  let lastWarning = 0

  return {
    revoked: set,
    async poll() {
      const started = now()
      try {
        const since = newest === undefined ? undefined : new Date(newest.getTime() - pollOverlapMs)
        const rows = await listRevokedSessions(db, since)
        set.add(rows)
        for (const r of rows) if (newest === undefined || r.revoked_at > newest) newest = r.revoked_at
        set.sweep(now())
        lastSuccess = started
        if (failingSince !== undefined) {
          logger.info(
            { failedForMs: started - failingSince, revokedSessions: set.size },
            'ended sessions read again: revocation set up to date',
          )
          failingSince = undefined
          lastWarning = 0
        }
      } catch (err) {
        failingSince ??= started
        if (started - lastWarning >= warnEveryMs) {
          lastWarning = started
          logger.warn(
            {
              err: { message: (err as Error).message },
              failingForMs: started - failingSince,
              revokedSessions: set.size,
            },
            'could not read ended sessions: keeping the last revocation set',
          )
        }
      }
    },
    healthy() {
      return lastSuccess !== undefined && now() - lastSuccess <= staleAfterMs
    },
  }
}
