import type { ColumnType, Selectable } from 'kysely'
import { columns } from './columns.ts'

/** Brute-force throttling state per key (src/accounts/throttle.ts). */
export interface LoginAttemptsTable {
  /** `account:<id>`, `account:unknown:<hash>` or `ip:<address or IPv6 /64>`. */
  key: string
  failures: ColumnType<number, number | undefined, number>
  first_failure_at: ColumnType<Date, Date | string | undefined, Date | string>
  last_failure_at: ColumnType<Date, Date | string | undefined, Date | string>
  locked_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export type LoginAttemptRow = Selectable<LoginAttemptsTable>

export const loginAttemptsColumns = columns<LoginAttemptsTable>({
  key: 'text',
  failures: 'int4',
  first_failure_at: 'timestamptz',
  last_failure_at: 'timestamptz',
  locked_until: 'timestamptz?',
})
