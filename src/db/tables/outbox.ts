import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export type OutboxChannel = 'email' | 'sms'

/** Messages waiting to be delivered, written in the transaction that causes them (src/accounts/outbox.ts). */
export interface OutboxTable {
  id: Generated<string>
  channel: OutboxChannel
  recipient: string
  subject: string | null
  body: string
  created_at: ColumnType<Date, Date | string | undefined, never>
  sent_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  attempts: ColumnType<number, number | undefined, number>
  last_error: string | null
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
})
