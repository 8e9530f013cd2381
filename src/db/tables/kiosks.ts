import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export const kioskStatuses = ['active', 'disabled'] as const
export type KioskStatus = (typeof kioskStatuses)[number]

/** A self-service kiosk (src/kiosks/kiosks.ts): its client, and what the citizen's phone shows of it. */
export interface KiosksTable {
  id: Generated<string>
  client_id: string
  name: string
  location: string
  status: ColumnType<KioskStatus, KioskStatus | undefined, KioskStatus>
  created_at: ColumnType<Date, Date | string | undefined, never>
  disabled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export type KioskRow = Selectable<KiosksTable>

export const kiosksColumns = columns<KiosksTable>({
  id: 'uuid',
  client_id: 'text',
  name: 'text',
  location: 'text',
  status: 'text',
  created_at: 'timestamptz',
  disabled_at: 'timestamptz?',
})

/** The last poll of a device code at the token endpoint (RFC 8628 §3.5, `slow_down`). */
export interface DeviceCodePollsTable {
  /** base64url SHA-256 of the device code. */
  code_hash: string
  polled_at: ColumnType<Date, Date | string, Date | string>
  interval_seconds: number
  expires_at: ColumnType<Date, Date | string, Date | string>
}

export const deviceCodePollsColumns = columns<DeviceCodePollsTable>({
  code_hash: 'text',
  polled_at: 'timestamptz',
  interval_seconds: 'int4',
  expires_at: 'timestamptz',
})
