import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export const oneTimeCodePurposes = ['verify_email', 'verify_phone', 'reset_password'] as const
export type OneTimeCodePurpose = (typeof oneTimeCodePurposes)[number]

/** One-time codes (src/accounts/otp.ts). Only a keyed hash of the code is stored. */
export interface OneTimeCodesTable {
  id: Generated<string>
  purpose: OneTimeCodePurpose
  citizen_id: string
  /** The email address or phone number the code was sent to. */
  destination: string
  code_hash: string
  attempts: ColumnType<number, number | undefined, number>
  expires_at: ColumnType<Date, Date | string, Date | string>
  /** Set when the code is used, or when a newer code for the same purpose replaces it. */
  consumed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, never>
  /** sourceKey() of the address that asked (the limits of reset codes count per source). */
  source: ColumnType<string | null, string | null | undefined, never>
  /** The flow that asked: the id of its first code (the wait between reset codes is per flow). */
  flow_id: ColumnType<string | null, string | null | undefined, never>
}

export type OneTimeCodeRow = Selectable<OneTimeCodesTable>

export const oneTimeCodesColumns = columns<OneTimeCodesTable>({
  id: 'uuid',
  purpose: 'text',
  citizen_id: 'uuid',
  destination: 'text',
  code_hash: 'text',
  attempts: 'int4',
  expires_at: 'timestamptz',
  consumed_at: 'timestamptz?',
  created_at: 'timestamptz',
  source: 'text?',
  flow_id: 'uuid?',
})

/**
 * What a registration for a NIK that has an account keeps instead of a code row
 * (src/idp/account/registration.ts): the same page, the same counted attempts and the same
 * resend limits, and no code that could be right. `chain` is the flow.
 */
export interface RegistrationDecoysTable {
  id: string
  chain: string
  destination: string
  attempts: ColumnType<number, number | undefined, number>
  expires_at: ColumnType<Date, Date | string, Date | string>
  consumed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export const registrationDecoysColumns = columns<RegistrationDecoysTable>({
  id: 'uuid',
  chain: 'uuid',
  destination: 'text',
  attempts: 'int4',
  expires_at: 'timestamptz',
  consumed_at: 'timestamptz?',
  created_at: 'timestamptz',
})
