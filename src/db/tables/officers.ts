import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'
import { columns } from './columns.ts'

export const officerRoles = ['counter_officer', 'agency_admin', 'system_admin'] as const
export type OfficerRole = (typeof officerRoles)[number]
export type OfficerStatus = 'active' | 'disabled'

/** Staff accounts: counter officers, agency admins, system admins (DESIGN.md, Identity). */
export interface OfficersTable {
  id: Generated<string>
  /** Lowercased. */
  username: string
  name: string
  roles: OfficerRole[]
  agency_id: string | null
  /** argon2id (src/accounts/passwords.ts). */
  password_hash: string
  status: ColumnType<OfficerStatus, OfficerStatus | undefined, OfficerStatus>
  created_at: ColumnType<Date, Date | string | undefined, never>
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
  /** When the officer last completed a sign-in (password and second factor). */
  last_sign_in_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export type OfficerRow = Selectable<OfficersTable>
export type NewOfficerRow = Insertable<OfficersTable>

export const officersColumns = columns<OfficersTable>({
  id: 'uuid',
  username: 'text',
  name: 'text',
  roles: '_text',
  agency_id: 'text?',
  password_hash: 'text',
  status: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
  last_sign_in_at: 'timestamptz?',
})
