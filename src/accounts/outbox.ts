// Outgoing email and SMS. The port is `Outbox`; the default implementation is a
// transactional outbox: the message is a row written in the same transaction as the change
// that causes it (a one-time code, say), so a code is never stored without its message nor
// a message queued for a code that was rolled back. A worker delivers the rows; on one
// machine without a mail or SMS provider, `satupintu outbox` shows them (listOutbox).

import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import type { OutboxChannel, OutboxRow } from '../db/tables/outbox.ts'

export interface OutboxMessage {
  readonly channel: OutboxChannel
  /** Email address or E.164 phone number. */
  readonly recipient: string
  /** Email only. */
  readonly subject?: string | undefined
  readonly body: string
}

export interface Outbox {
  send(message: OutboxMessage): Promise<void>
}

/** The part of a pino logger the outbox uses. */
export interface OutboxLogger {
  info(obj: Record<string, unknown>, msg: string): void
}

/**
 * The default Outbox: inserts a row into `outbox` through `db`, which may be a
 * transaction. Logs one line with the channel and a masked recipient, never the body
 * (it holds the code) nor the full address.
 */
export function databaseOutbox(db: Kysely<Database>, logger?: OutboxLogger): Outbox {
  return {
    async send(message) {
      if (message.channel !== 'email' && message.channel !== 'sms') throw new Error(`outbox: unknown channel ${String(message.channel)}`)
      const row = await db
        .insertInto('outbox')
        .values({
          channel: message.channel,
          recipient: message.recipient,
          subject: message.subject ?? null,
          body: message.body,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
      logger?.info({ outboxId: row.id, channel: message.channel, recipient: maskRecipient(message.recipient) }, 'message queued')
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

/** Newest messages first; `unsentOnly` for what a worker still has to deliver. */
export async function listOutbox(
  db: Kysely<Database>,
  options: { readonly limit?: number; readonly unsentOnly?: boolean } = {},
): Promise<OutboxRow[]> {
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 20), 1), 1000)
  let query = db.selectFrom('outbox').selectAll()
  if (options.unsentOnly === true) query = query.where('sent_at', 'is', null)
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute()
}
