// Outgoing email and SMS. The port is `Outbox`; the default implementation is a
// transactional outbox: the message is a row written in the same transaction as the change
// that causes it (a one-time code, say), so a code is never stored without its message nor
// a message queued for a code that was rolled back. The worker in every idp process
// (src/delivery/worker.ts) delivers the rows; `satupintu outbox` shows them (listOutbox).

import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import type { OutboxChannel, OutboxLocale, OutboxParams, OutboxRow, OutboxStatus } from '../db/tables/outbox.ts'

export interface OutboxMessage {
  readonly channel: OutboxChannel
  /** Email address or E.164 phone number. */
  readonly recipient: string
  /** Email only. */
  readonly subject?: string | undefined
  /** Plain text (the e-mail's text part, or the SMS). */
  readonly body: string
  /** Email only: the HTML part. */
  readonly html?: string | undefined
  /** `code` (the default) or a notice kind. */
  readonly kind?: string | undefined
  /** The language the message is written in (default Indonesian). */
  readonly locale?: OutboxLocale | undefined
  /** The citizen it is about, if any. */
  readonly citizenId?: string | undefined
  /** Not delivered after this (a code that has expired is no use to anyone). */
  readonly expiresAt?: Date | undefined
  /** Values a template-based sender fills in (WhatsApp): the code of a code message. */
  readonly params?: OutboxParams | undefined
}

export interface Outbox {
  send(message: OutboxMessage): Promise<void>
}

/** The part of a pino logger the outbox uses. */
export interface OutboxLogger {
  info(obj: Record<string, unknown>, msg: string): void
}

const KIND = /^[a-z][a-z0-9_]{1,40}$/

/**
 * The default Outbox: inserts a row into `outbox` through `db`, which may be a
 * transaction. Logs one line with the channel and a masked recipient, never the body
 * (it holds the code) nor the full address.
 */
export function databaseOutbox(db: Kysely<Database>, logger?: OutboxLogger): Outbox {
  return {
    async send(message) {
      if (message.channel !== 'email' && message.channel !== 'sms')
        throw new Error(`outbox: unknown channel ${String(message.channel)}`)
      const kind = message.kind ?? 'code'
      if (!KIND.test(kind)) throw new Error(`outbox: bad message kind ${JSON.stringify(kind)}`)
      if (message.locale !== undefined && message.locale !== 'id' && message.locale !== 'en')
        throw new Error(`outbox: unknown locale ${String(message.locale)}`)
      const row = await db
        .insertInto('outbox')
        .values({
          channel: message.channel,
          recipient: message.recipient,
          subject: message.subject ?? null,
          body: message.body,
          html: message.channel === 'email' ? (message.html ?? null) : null,
          kind,
          locale: message.locale ?? 'id',
          citizen_id: message.citizenId ?? null,
          expires_at: message.expiresAt ?? null,
          params: message.params === undefined ? null : JSON.stringify(message.params),
        })
        .returning('id')
        .executeTakeFirstOrThrow()
      logger?.info(
        { outboxId: row.id, channel: message.channel, kind, recipient: maskRecipient(message.recipient) },
        'message queued',
      )
    },
  }
}

/** "b***@example.id", "+62812*****890": enough to tell messages apart in a log, no more. */
export function maskRecipient(recipient: string): string {
  const at = recipient.lastIndexOf('@')
  if (at > 0) return `${recipient.slice(0, 1)}***${recipient.slice(at)}`
  if (/^\+[0-9]{8,15}$/.test(recipient)) {
    return `${recipient.slice(0, 6)}${'*'.repeat(recipient.length - 9)}${recipient.slice(-3)}`
  }
  return '***'
}

/** Newest messages first; `unsentOnly` for what a worker still has to deliver, `status` for one state. */
export async function listOutbox(
  db: Kysely<Database>,
  options: { readonly limit?: number; readonly unsentOnly?: boolean; readonly status?: OutboxStatus } = {},
): Promise<OutboxRow[]> {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 20), 1), 1000)
  let query = db.selectFrom('outbox').selectAll()
  if (options.unsentOnly === true) query = query.where('status', 'in', ['queued', 'sending', 'failed'])
  if (options.status !== undefined) query = query.where('status', '=', options.status)
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
}

/** How many messages are in each state (for `satupintu outbox` and the health of delivery). */
export async function countOutbox(db: Kysely<Database>): Promise<Record<OutboxStatus, number>> {
  const rows = await db
    .selectFrom('outbox')
    .select(['status', db.fn.countAll<string | number>().as('n')])
    .groupBy('status')
    .execute()
  const counts: Record<OutboxStatus, number> = { queued: 0, sending: 0, sent: 0, failed: 0, dead: 0 }
  for (const r of rows) counts[r.status] = Number(r.n)
  return counts
}
