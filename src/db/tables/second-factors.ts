import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export const secondFactorKinds = ['totp'] as const
export type SecondFactorKind = (typeof secondFactorKinds)[number]

/** A citizen's second factor (src/accounts/second-factors.ts); one per kind. */
export interface SecondFactorsTable {
  id: Generated<string>
  citizen_id: string
  kind: SecondFactorKind
  /** The TOTP secret (base32), sealed with the key-encryption secret; never the plain secret. */
  secret_enc: string
  /** RFC 6238 time step of the last code accepted: a code at or before it is refused. */
  last_step: ColumnType<number | null, number | null | undefined, number | null>
  /** Null until the citizen confirms the enrolment with a code. */
  confirmed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

/** Recovery codes: keyed hashes only, each usable once. */
export interface RecoveryCodesTable {
  id: Generated<string>
  citizen_id: string
  code_hash: string
  used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export type SecondFactorRow = Selectable<SecondFactorsTable>
export type RecoveryCodeRow = Selectable<RecoveryCodesTable>

export const secondFactorsColumns = columns<SecondFactorsTable>({
  id: 'uuid',
  citizen_id: 'uuid',
  kind: 'text',
  secret_enc: 'text',
  last_step: 'int4?',
  confirmed_at: 'timestamptz?',
  last_used_at: 'timestamptz?',
  created_at: 'timestamptz',
})

export const recoveryCodesColumns = columns<RecoveryCodesTable>({
  id: 'uuid',
  citizen_id: 'uuid',
  code_hash: 'text',
  used_at: 'timestamptz?',
  created_at: 'timestamptz',
})
