import type { AuditEventsTable } from './tables/audit-events.ts'
import { auditEventsColumns } from './tables/audit-events.ts'
import type { ColumnsOf } from './tables/columns.ts'

/** Every table of the application, as the migrations in migrations/ create them. */
export interface Database {
  audit_events: AuditEventsTable
}

/** Runtime column specs of every table; test/db/schema.test.ts compares them with the database. */
export const databaseColumns: { readonly [T in keyof Database]: ColumnsOf<Database[T]> } = {
  audit_events: auditEventsColumns,
}
