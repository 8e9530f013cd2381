import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'
import { columns } from './columns.ts'

/** Append-only audit trail (src/audit). Rows are never updated or deleted by the app. */
export interface AuditEventsTable {
  id: Generated<string>
  at: ColumnType<Date, Date | string | undefined, never>
  /** Dotted event name, e.g. `auth.login.succeeded`. */
  event: string
  /** Who acted: `citizen:<id>`, `officer:<id>`, `client:<id>`, `system`, `cli`. */
  actor: string
  /** Whose data it concerns (citizen id), when it concerns one. */
  subject_id: string | null
  /** Relying party or agency involved, when one is. */
  client_id: string | null
  ip: string | null
  request_id: string | null
  /** Event details, never secrets or full NIKs. */
  data: ColumnType<Record<string, unknown>, string | undefined, never>
}

export type AuditEvent = Selectable<AuditEventsTable>
export type NewAuditEvent = Insertable<AuditEventsTable>

export const auditEventsColumns = columns<AuditEventsTable>({
  id: 'uuid',
  at: 'timestamptz',
  event: 'text',
  actor: 'text',
  subject_id: 'uuid?',
  client_id: 'text?',
  ip: 'text?',
  request_id: 'text?',
  data: 'jsonb',
})
