// A registration for a NIK that already has an account must answer exactly like one that
// does not (docs/security.md line 37): the same redirect to the code page, a flow cookie
// of the same shape (an opaque UUID), a wrong code counted like a wrong code ("Kode
// salah. Sisa percobaan: 4"), and the same wait and hourly cap on "Kirim kode baru". The
// typed contact is sent a message saying that the NIK has an account and how to recover
// it, instead of a code, so no code exists and none can be right.
//
// These functions keep such a flow in `registration_decoys`, under the limits of
// src/accounts/otp.ts (defaultOtpPolicy): each "send" is a row of the flow's `chain`, live
// for the code lifetime, with its own attempts.

import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import { databaseOutbox, type OutboxMessage, type OutboxLogger } from './outbox.ts'
import { defaultOtpPolicy, type OtpPolicy } from './otp.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface DecoyContext {
  readonly policy?: OtpPolicy
  readonly now?: Date
  readonly ip?: string
  readonly requestId?: string
  readonly logger?: OutboxLogger
}

export interface DecoyRow {
  readonly id: string
  readonly chain: string
  readonly destination: string
  readonly consumed_at: Date | null
}

export type DecoyCheck =
  | { readonly reason: 'invalid_code'; readonly attemptsLeft: number }
  | { readonly reason: 'expired' | 'too_many_attempts' | 'no_active_code' }

export type DecoySend =
  | { readonly ok: true; readonly id: string }
  | { readonly ok: false; readonly retryAfterSeconds: number }

/** Sends `message` to `destination` and starts a decoy flow; returns its handle (the cookie's value). */
export async function startDecoy(
  db: Kysely<Database>,
  destination: string,
  message: OutboxMessage,
  context: DecoyContext = {},
): Promise<string> {
  const id = randomUUID()
  await db.transaction().execute(async (trx) => insertAndSend(trx, { id, chain: id, destination }, message, context))
  return id
}

/** The decoy a flow cookie names (the newest or an older send), within `maxAgeSeconds`. */
export async function findDecoy(
  db: Kysely<Database>,
  id: unknown,
  maxAgeSeconds: number,
  now = new Date(),
): Promise<DecoyRow | undefined> {
  if (typeof id !== 'string' || !UUID.test(id)) return undefined
  return db
    .selectFrom('registration_decoys')
    .select(['id', 'chain', 'destination', 'consumed_at'])
    .where('id', '=', id)
    .where('created_at', '>', new Date(now.getTime() - maxAgeSeconds * 1000))
    .executeTakeFirst()
}

/**
 * A code typed into a decoy flow: always wrong. It uses one of the live send's attempts,
 * so the answers run as a real code's do (4 left, 3 left … then too many), and an expired
 * send answers "expired".
 */
export async function checkDecoyCode(
  db: Kysely<Database>,
  chain: string,
  context: DecoyContext = {},
): Promise<DecoyCheck> {
  const policy = context.policy ?? defaultOtpPolicy
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx): Promise<DecoyCheck> => {
    const row = await trx
      .selectFrom('registration_decoys')
      .select(['id', 'attempts', 'expires_at'])
      .where('chain', '=', chain)
      .where('consumed_at', 'is', null)
      .forUpdate()
      .executeTakeFirst()
    if (row === undefined) return { reason: 'no_active_code' }
    if (row.expires_at.getTime() <= now.getTime()) return { reason: 'expired' }
    if (row.attempts >= policy.maxAttempts) return { reason: 'too_many_attempts' }
    const attempts = row.attempts + 1
    await trx.updateTable('registration_decoys').set({ attempts }).where('id', '=', row.id).execute()
    return { reason: 'invalid_code', attemptsLeft: Math.max(0, policy.maxAttempts - attempts) }
  })
}

/**
 * "Kirim kode baru" in a decoy flow: under the same wait and hourly cap as a real code,
 * the message again and a new handle; the earlier sends are retired.
 */
export async function resendDecoy(
  db: Kysely<Database>,
  row: DecoyRow,
  message: OutboxMessage,
  context: DecoyContext = {},
): Promise<DecoySend> {
  const policy = context.policy ?? defaultOtpPolicy
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx): Promise<DecoySend> => {
    // Serialises resends of one flow on its first row (its id is the chain), as issueOtp
    // does on the citizen's row: a lock on the rows read would not see the row a
    // concurrent resend has just inserted (READ COMMITTED), and both would pass the wait.
    await trx.selectFrom('registration_decoys').select('id').where('id', '=', row.chain).forUpdate().executeTakeFirst()
    const recent = await trx
      .selectFrom('registration_decoys')
      .select(['id', 'created_at'])
      .where('chain', '=', row.chain)
      .where('created_at', '>', new Date(now.getTime() - 3600 * 1000))
      .orderBy('created_at', 'asc')
      .execute()
    const newest = recent[recent.length - 1]
    if (newest !== undefined && newest.created_at.getTime() + policy.resendAfterSeconds * 1000 > now.getTime()) {
      return {
        ok: false,
        retryAfterSeconds: secondsUntil(newest.created_at.getTime() + policy.resendAfterSeconds * 1000, now),
      }
    }
    const oldest = recent[0]
    if (recent.length >= policy.maxPerHour && oldest !== undefined) {
      return { ok: false, retryAfterSeconds: secondsUntil(oldest.created_at.getTime() + 3600 * 1000, now) }
    }
    await trx
      .updateTable('registration_decoys')
      .set({ consumed_at: now })
      .where('chain', '=', row.chain)
      .where('consumed_at', 'is', null)
      .execute()
    const id = randomUUID()
    await insertAndSend(trx, { id, chain: row.chain, destination: row.destination }, message, { ...context, now })
    return { ok: true, id }
  })
}

/** Decoy rows older than `maxAgeSeconds` (a flow lasts a day at most); the count removed. */
export async function pruneDecoys(
  db: Kysely<Database>,
  maxAgeSeconds = 2 * 24 * 3600,
  now = new Date(),
): Promise<number> {
  const result = await db
    .deleteFrom('registration_decoys')
    .where('created_at', '<', new Date(now.getTime() - maxAgeSeconds * 1000))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

async function insertAndSend(
  trx: Kysely<Database>,
  row: { id: string; chain: string; destination: string },
  message: OutboxMessage,
  context: DecoyContext,
): Promise<void> {
  const policy = context.policy ?? defaultOtpPolicy
  const now = context.now ?? new Date()
  await trx
    .insertInto('registration_decoys')
    .values({ ...row, expires_at: new Date(now.getTime() + policy.lifetimeSeconds * 1000), created_at: now })
    .execute()
  await databaseOutbox(trx, context.logger).send({ ...message, recipient: row.destination })
  await recordAudit(trx, {
    event: 'account.registration_refused',
    actor: 'anonymous',
    ip: context.ip,
    requestId: context.requestId,
    data: { reason: 'nik_taken', channel: message.channel },
  })
}

function secondsUntil(whenMs: number, now: Date): number {
  return Math.max(1, Math.ceil((whenMs - now.getTime()) / 1000))
}
