import type { ColumnType, Selectable } from 'kysely'
import { columns } from './columns.ts'
import type { OutboxLocale } from './outbox.ts'

/** A citizen's choices about notices (src/accounts/notices.ts). No row: the defaults. */
export interface NoticePreferencesTable {
  citizen_id: string
  locale: ColumnType<OutboxLocale, OutboxLocale | undefined, OutboxLocale>
  /** The daily digest of documents fetched by agencies (on unless the citizen turns it off). */
  document_digest: ColumnType<boolean, boolean | undefined, boolean>
  /** Fetches up to this instant have been reported in a digest. */
  digest_through: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
}

/** Devices a citizen signed in from; only a hash of the device cookie is kept. */
export interface KnownDevicesTable {
  citizen_id: string
  device_hash: string
  /** "Chrome di Android", from the User-Agent: what the notice names. */
  label: string
  first_seen_at: ColumnType<Date, Date | string | undefined, never>
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export type NoticePreferencesRow = Selectable<NoticePreferencesTable>

export const noticePreferencesColumns = columns<NoticePreferencesTable>({
  citizen_id: 'uuid',
  locale: 'text',
  document_digest: 'bool',
  digest_through: 'timestamptz?',
  updated_at: 'timestamptz',
})

export const knownDevicesColumns = columns<KnownDevicesTable>({
  citizen_id: 'uuid',
  device_hash: 'text',
  label: 'text',
  first_seen_at: 'timestamptz',
  last_seen_at: 'timestamptz',
})
