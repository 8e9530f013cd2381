import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export const counterStatuses = ['active', 'disabled'] as const
export type CounterStatus = (typeof counterStatuses)[number]

/** A service counter (loket) of the MPP (src/accounts/counters.ts), registered by an administrator. */
export interface CountersTable {
  id: Generated<string>
  name: string
  location: string
  /** The unit serving there (e.g. "Disdukcapil"). */
  unit: string
  status: ColumnType<CounterStatus, CounterStatus | undefined, CounterStatus>
  created_at: ColumnType<Date, Date | string | undefined, never>
  disabled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export type CounterRow = Selectable<CountersTable>

export const countersColumns = columns<CountersTable>({
  id: 'uuid',
  name: 'text',
  location: 'text',
  unit: 'text',
  status: 'text',
  created_at: 'timestamptz',
  disabled_at: 'timestamptz?',
})
