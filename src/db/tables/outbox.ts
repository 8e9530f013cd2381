import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export type OutboxChannel = 'email' | 'sms'

/**
 * queued → sending (claimed by one worker for a lease) → sent; or failed (tried again at
 * next_attempt_at) → … → dead (given up after the configured number of attempts, or the
 * code in it expired first). src/delivery/worker.ts moves rows along.
 */
export const outboxStatuses = ['queued', 'sending', 'sent', 'failed', 'dead'] as const
export type OutboxStatus = (typeof outboxStatuses)[number]

export type OutboxLocale = 'id' | 'en'

/** Template values (WhatsApp template messages): the code of a code message. */
export interface OutboxParams {
  readonly code?: string
  readonly minutes?: number
}

/** Messages waiting to be delivered, written in the transaction that causes them (src/accounts/outbox.ts). */
export interface OutboxTable {
  id: Generated<string>
  channel: OutboxChannel
  recipient: string
  subject: string | null
  /** Plain text: the e-mail's text part, or the SMS. */
  body: string
  created_at: ColumnType<Date, Date | string | undefined, never>
  sent_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  attempts: ColumnType<number, number | undefined, number>
  /** The last failure, without the message or the recipient (safe to show and log). */
  last_error: string | null
  status: ColumnType<OutboxStatus, OutboxStatus | undefined, OutboxStatus>
  /** `code` for a one-time code, else a notice kind (src/accounts/notices.ts). */
  kind: ColumnType<string, string | undefined, string>
  locale: ColumnType<OutboxLocale, OutboxLocale | undefined, OutboxLocale>
  /** E-mail only: the HTML part. */
  html: string | null
  /** For a template-based sender (WhatsApp): the values it fills in, e.g. the code. */
  params: ColumnType<OutboxParams | null, string | null | undefined, string | null>
  citizen_id: string | null
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>
  /** While status is sending: until when the claiming worker owns the row. */
  lease_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  claimed_by: string | null
  /** A code's message is useless after the code expires: not sent after this. */
  expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** Which sender delivered it (smtp, http-sms, whatsapp, dev-mailbox). */
  provider: string | null
  provider_message_id: string | null
  dead_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export type OutboxRow = Selectable<OutboxTable>

export const outboxColumns = columns<OutboxTable>({
  id: 'uuid',
  channel: 'text',
  recipient: 'text',
  subject: 'text?',
  body: 'text',
  created_at: 'timestamptz',
  sent_at: 'timestamptz?',
  attempts: 'int4',
  last_error: 'text?',
  status: 'text',
  kind: 'text',
  locale: 'text',
  html: 'text?',
  params: 'jsonb?',
  citizen_id: 'uuid?',
  next_attempt_at: 'timestamptz',
  lease_until: 'timestamptz?',
  claimed_by: 'text?',
  expires_at: 'timestamptz?',
  provider: 'text?',
  provider_message_id: 'text?',
  dead_at: 'timestamptz?',
})
