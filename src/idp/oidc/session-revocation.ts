import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { maxAccessTokenSeconds } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'

/**
 * Sessions that ended, told to the gateways (issue 12). The gateway verifies an agency
 * app's JWT access token locally (src/gateway/auth/bearer.ts), so deleting the idp's rows does
 * not stop it: every access token issued in a session carries `sp_sh`, a hash of the
 * session and the client, and when the session ends (or only that client's part of it)
 * the hash is written to revoked_sessions, which every gateway instance polls
 * (src/gateway/auth/revocations.ts). The gateway then refuses that session's tokens issued
 * before the row's revoked_at.
 *
 * The hash covers the client too: a session uid alone would be one value in the tokens of
 * every agency the citizen used in that session, a handle two agencies could join on
 * despite pairwise subjects (OIDC Core §8.1, UU PDP). SHA-256 of a random 21-character
 * uid cannot be reversed, and the label keeps the value from meaning anything elsewhere.
 */
export const sessionHashClaim = 'sp_sh'

const label = 'satupintu session revocation v1'

/** base64url SHA-256 of the label, the client id and the oidc-provider session uid. */
export function sessionHash(sessionUid: string, clientId: string): string {
  return createHash('sha256').update(`${label}\u0000${clientId}\u0000${sessionUid}`, 'utf8').digest('base64url')
}

/**
 * How long a row is kept: a token it refuses was issued before revoked_at (plus the
 * gateway's leeway of a few seconds), so it lives at most maxAccessTokenSeconds after, and
 * the gateway accepts it up to 30 s past exp (bearer.ts clockToleranceSeconds). Two
 * minutes of margin cover both. The longest lifetime the schema allows, not the configured
 * one: a row then outlives any token whatever the configuration was when it was issued.
 */
export const revocationRetentionSeconds = maxAccessTokenSeconds + 120

/** An oidc-provider session that ended, or whose clients' part of it ended. */
export interface EndedSession {
  uid: string
  clientIds: readonly string[]
  /** The grants of those clients in the session (its `authorizations`), when known. */
  grantIds?: readonly string[]
}

/** The session uid and the clients it signed in to, from a stored Session payload. */
export function endedSessionOf(payload: Record<string, unknown>): EndedSession | undefined {
  const uid = payload.uid
  if (typeof uid !== 'string' || uid === '') return undefined
  const authorizations = payload.authorizations
  const entries =
    typeof authorizations === 'object' && authorizations !== null
      ? Object.entries(authorizations as Record<string, unknown>)
      : []
  return { uid, clientIds: entries.map(([c]) => c), grantIds: grantIdsOf(entries) }
}

/** The grant ids of `authorizations` entries ({ clientId: { grantId, … } }). */
export function grantIdsOf(entries: readonly (readonly [string, unknown])[]): string[] {
  return entries.flatMap(([, a]) => {
    const g = typeof a === 'object' && a !== null ? (a as { grantId?: unknown }).grantId : undefined
    return typeof g === 'string' && g !== '' ? [g] : []
  })
}

/**
 * Records that the tokens of these sessions (for these clients) issued until now are
 * revoked. `revoked_at` is the database's clock at the statement, not the transaction's
 * start, so a long transaction does not leave a gap before its own moment. Returns the
 * number of hashes written.
 */
export async function recordRevokedSessions(db: Kysely<Database>, sessions: readonly EndedSession[]): Promise<number> {
  const hashes = [...new Set(sessions.flatMap((s) => s.clientIds.map((c) => sessionHash(s.uid, c))))]
  if (hashes.length === 0) return 0
  // What could mint new tokens of those sessions goes with them: their refresh tokens and
  // codes. oidc-provider keeps an offline_access refresh token through a sign-out
  // (persistsLogout), and a refresh copies the session uid into the new access token, so
  // it would carry the same sp_sh past revoked_at and the gateway would take it.
  for (const s of sessions) {
    if (s.clientIds.length === 0) continue
    await db
      .deleteFrom('oidc_payloads')
      .where('model', 'in', ['RefreshToken', 'AuthorizationCode', 'BackchannelAuthenticationRequest', 'DeviceCode'])
      .$if(s.grantIds !== undefined && s.grantIds.length > 0, (q) =>
        q.where('grant_id', 'in', [...(s.grantIds as string[])]),
      )
      .where(sql<string>`payload->>'sessionUid'`, '=', s.uid)
      .where(sql<string>`payload->>'clientId'`, 'in', [...s.clientIds])
      .execute()
  }
  await db
    .insertInto('revoked_sessions')
    .values(
      hashes.map((h) => ({
        session_hash: h,
        revoked_at: sql<Date>`clock_timestamp()`,
        expires_at: sql<Date>`clock_timestamp() + make_interval(secs => ${revocationRetentionSeconds})`,
      })),
    )
    // Ended again (one client's part first, then the whole session): the later moment counts.
    .onConflict((oc) =>
      oc.column('session_hash').doUpdateSet({
        revoked_at: sql<Date>`greatest(revoked_sessions.revoked_at, excluded.revoked_at)`,
        expires_at: sql<Date>`greatest(revoked_sessions.expires_at, excluded.expires_at)`,
      }),
    )
    .execute()
  return hashes.length
}

/** Deletes rows no token can need any more (the idp's housekeeping). Returns how many. */
export async function pruneRevokedSessions(db: Kysely<Database>): Promise<number> {
  const res = await db.deleteFrom('revoked_sessions').where('expires_at', '<', sql<Date>`now()`).executeTakeFirst()
  return Number(res.numDeletedRows)
}
