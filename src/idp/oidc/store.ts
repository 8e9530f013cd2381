import { sql, type Kysely } from 'kysely'
import type { Database } from '../../db/database.ts'
import { endedSessionOf, recordRevokedSessions } from './session-revocation.ts'

/**
 * Queries behind the oidc-provider adapter (src/idp/oidc/adapter.ts). Plain functions that take
 * `db` first; the adapter only forwards to them (logto's adapter is built the same way).
 *
 * The three that every grant runs (find, consume, upsert) are written as parameterised
 * `sql` templates rather than with the query builder: building and compiling a Kysely
 * query was ~35 µs of the idp's CPU each, four to six times per token request, in the
 * benchmark's profile. Values are always parameters, never concatenated.
 */

export interface StoredPayload {
  payload: Record<string, unknown>
  consumedAt: Date | null
}

export interface UpsertInput {
  model: string
  id: string
  payload: Record<string, unknown>
  expiresInSeconds: number | undefined
  /** Update the row if it is still there; never insert (a Session the request loaded). */
  updateOnly?: boolean
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}

export async function upsertPayload(db: Kysely<Database>, input: UpsertInput): Promise<void> {
  const { payload } = input
  const expiresAt = input.expiresInSeconds === undefined ? null : new Date(Date.now() + input.expiresInSeconds * 1000)
  const row = {
    model: input.model,
    id: input.id,
    payload: JSON.stringify(payload),
    grant_id: str(payload.grantId),
    user_code: str(payload.userCode),
    uid: str(payload.uid),
    // Sessions and grants name the account; tokens too. Kept for the account pages.
    account_id: str(payload.accountId),
    expires_at: expiresAt,
    consumed_at: null,
  }
  if (input.updateOnly === true) {
    // A row the request read, saved back: updated if it is still there, never re-created
    // (a session ended by another request while this one ran stays ended).
    await sql`update oidc_payloads set payload = ${row.payload}, grant_id = ${row.grant_id}, user_code = ${row.user_code},
      uid = ${row.uid}, account_id = ${row.account_id}, expires_at = ${row.expires_at}
      where model = ${row.model} and id = ${row.id}`.execute(db)
    return
  }
  // An update keeps consumed_at (a re-saved payload stays consumed).
  await sql`insert into oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at)
    values (${row.model}, ${row.id}, ${row.payload}, ${row.grant_id}, ${row.user_code}, ${row.uid}, ${row.account_id}, ${row.expires_at}, null)
    on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code,
      uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at`.execute(db)
}

/** The stored payload, unless it has expired (the adapter contract: find never returns expired rows). */
export async function findPayload(
  db: Kysely<Database>,
  model: string,
  by: { id: string } | { uid: string } | { userCode: string },
): Promise<StoredPayload | undefined> {
  const key = 'id' in by ? sql`id = ${by.id}` : 'uid' in by ? sql`uid = ${by.uid}` : sql`user_code = ${by.userCode}`
  const result = await sql<{
    payload: Record<string, unknown>
    consumed_at: Date | null
  }>`select payload, consumed_at from oidc_payloads
    where model = ${model} and ${key} and (expires_at is null or expires_at > now()) limit 1`.execute(db)
  const row = result.rows[0]
  if (!row) return undefined
  return { payload: row.payload, consumedAt: row.consumed_at }
}

/**
 * Marks a code or token consumed, atomically: true only for the one caller that changed it
 * from unconsumed to consumed, so two concurrent redemptions cannot both win.
 */
export async function consumePayload(db: Kysely<Database>, model: string, id: string): Promise<boolean> {
  const res = await sql<{ id: string }>`update oidc_payloads set consumed_at = now()
    where model = ${model} and id = ${id} and consumed_at is null returning id`.execute(db)
  return res.rows.length === 1
}

/**
 * Takes the single reuse a rotated refresh token is allowed inside its grace window, and
 * revokes what the first rotation issued (its successor refresh tokens and the grant's
 * stored access tokens), so that at most one refresh chain of the grant stays alive.
 * Only a replay at least `minAgeSeconds` after the first use qualifies: that is a client
 * retrying after a lost response, not two requests racing (of which exactly one wins).
 * True only once per token, whatever the number of concurrent callers.
 */
export async function takeGraceReuse(
  db: Kysely<Database>,
  model: string,
  id: string,
  window: { graceSeconds: number; minAgeSeconds: number },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const taken = await trx
      .updateTable('oidc_payloads')
      .set({ payload: sql`jsonb_set(payload, '{graceReused}', 'true'::jsonb)` })
      .where('model', '=', model)
      .where('id', '=', id)
      .where('consumed_at', 'is not', null)
      .where('consumed_at', '>', sql<Date>`now() - make_interval(secs => ${window.graceSeconds})`)
      .where('consumed_at', '<=', sql<Date>`now() - make_interval(secs => ${window.minAgeSeconds})`)
      .where(sql<boolean>`coalesce((payload->>'graceReused')::boolean, false) = false`)
      .returning(['grant_id', sql<number>`coalesce((payload->>'rotations')::int, 0)`.as('rotations')])
      .executeTakeFirst()
    if (!taken) return false
    if (taken.grant_id !== null) {
      await trx
        .deleteFrom('oidc_payloads')
        .where('grant_id', '=', taken.grant_id)
        .where((eb) =>
          eb.or([
            eb('model', '=', 'AccessToken'),
            eb.and([
              eb('model', '=', model),
              sql<boolean>`coalesce((payload->>'rotations')::int, 0) > ${taken.rotations}`,
            ]),
          ]),
        )
        .execute()
    }
    return true
  })
}

export async function destroyPayload(db: Kysely<Database>, model: string, id: string): Promise<void> {
  await db.deleteFrom('oidc_payloads').where('model', '=', model).where('id', '=', id).execute()
}

export async function revokePayloadsByGrantId(
  db: Kysely<Database>,
  model: string,
  grantId: string,
  sessionUid?: string,
): Promise<void> {
  let q = db.deleteFrom('oidc_payloads').where('model', '=', model).where('grant_id', '=', grantId)
  // Only what was issued in one session (a sign-out on one device).
  if (sessionUid !== undefined) q = q.where(sql<string>`payload->>'sessionUid'`, '=', sessionUid)
  await q.execute()
}

/** Deletes rows that expired more than `graceSeconds` ago. Returns how many. */
export async function purgeExpiredPayloads(db: Kysely<Database>, graceSeconds = 60): Promise<number> {
  const res = await db
    .deleteFrom('oidc_payloads')
    .where('expires_at', '<', sql<Date>`now() - make_interval(secs => ${graceSeconds})`)
    .executeTakeFirst()
  return Number(res.numDeletedRows)
}

/** Live payloads of one model that belong to an account (sessions, grants) for the account pages. */
export async function listPayloadsForAccount(
  db: Kysely<Database>,
  model: string,
  accountId: string,
): Promise<{ id: string; payload: Record<string, unknown>; expiresAt: Date | null }[]> {
  const rows = await db
    .selectFrom('oidc_payloads')
    .select(['id', 'payload', 'expires_at'])
    .where('model', '=', model)
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .execute()
  return rows.map((r) => ({ id: r.id, payload: r.payload, expiresAt: r.expires_at }))
}

/**
 * The live grant (consent) an account gave a client, newest first: a consent lasts until
 * it is withdrawn or expires, whatever happened to the session it was given in.
 */
export async function findGrantIdFor(
  db: Kysely<Database>,
  accountId: string,
  clientId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('oidc_payloads')
    .select('id')
    .where('model', '=', 'Grant')
    .where('account_id', '=', accountId)
    .where(sql<string>`payload->>'clientId'`, '=', clientId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .orderBy(sql`(payload->>'iat')::bigint`, 'desc')
    .limit(1)
    .executeTakeFirst()
  return row?.id
}

/**
 * Removes every stored artifact of an account (disable, "sign out everywhere", a password
 * reset). Returns how many rows went. The sessions among them are recorded as ended in the
 * same transaction, from the very rows deleted (session-revocation.ts): the gateways then
 * refuse their access tokens too, and a session made meanwhile is either both deleted and
 * recorded or neither.
 */
export async function destroyAccountArtifacts(
  db: Kysely<Database>,
  accountId: string,
  models: readonly string[],
): Promise<number> {
  return inTransaction(db, async (trx) => {
    const deleted = await trx
      .deleteFrom('oidc_payloads')
      .where('account_id', '=', accountId)
      .where('model', 'in', [...models])
      .returning(['model', 'payload'])
      .execute()
    const sessions = deleted.flatMap((r) => (r.model === 'Session' ? (endedSessionOf(r.payload) ?? []) : []))
    await recordRevokedSessions(trx, sessions)
    return deleted.length
  })
}

/** Runs `fn` in `db`'s transaction when it is one, else in a new one (Kysely does not nest them). */
function inTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn)
}
