import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

/** An officer's second factor (src/accounts/officer-factors.ts); one per kind. */
export interface OfficerSecondFactorsTable {
  id: Generated<string>
  officer_id: string
  kind: 'totp'
  /** The TOTP secret (base32), sealed with the key-encryption secret; never the plain secret. */
  secret_enc: string
  /** RFC 6238 time step of the last code accepted: a code at or before it is refused. */
  last_step: ColumnType<number | null, number | null | undefined, number | null>
  /** Null until the officer confirms the enrolment with a code. */
  confirmed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

/** An officer's one-time enrolment code: its SHA-256 only, one per officer. */
export interface OfficerEnrolmentCodesTable {
  officer_id: string
  code_hash: string
  expires_at: ColumnType<Date, Date | string, Date | string>
  used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, Date | string>
}

/** An officer's console session (src/accounts/officer-sessions.ts); the id's SHA-256 only. */
export interface OfficerSessionsTable {
  id_hash: string
  officer_id: string
  /** When the second factor was given; null while only the password was. */
  factor_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** When this session gave the officer's enrolment code. */
  enrolment_code_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, never>
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>
  expires_at: ColumnType<Date, Date | string, Date | string>
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  /** The counter the officer sits at, chosen after the sign-in (issue 15); null until then. */
  counter_id: ColumnType<string | null, string | null | undefined, string | null>
}

export type OfficerSessionRow = Selectable<OfficerSessionsTable>

export const officerSecondFactorsColumns = columns<OfficerSecondFactorsTable>({
  id: 'uuid',
  officer_id: 'uuid',
  kind: 'text',
  secret_enc: 'text',
  last_step: 'int4?',
  confirmed_at: 'timestamptz?',
  last_used_at: 'timestamptz?',
  created_at: 'timestamptz',
})

export const officerEnrolmentCodesColumns = columns<OfficerEnrolmentCodesTable>({
  officer_id: 'uuid',
  code_hash: 'text',
  expires_at: 'timestamptz',
  used_at: 'timestamptz?',
  created_at: 'timestamptz',
})

export const officerSessionsColumns = columns<OfficerSessionsTable>({
  id_hash: 'text',
  officer_id: 'uuid',
  factor_at: 'timestamptz?',
  enrolment_code_at: 'timestamptz?',
  created_at: 'timestamptz',
  last_seen_at: 'timestamptz',
  expires_at: 'timestamptz',
  revoked_at: 'timestamptz?',
  counter_id: 'uuid?',
})
