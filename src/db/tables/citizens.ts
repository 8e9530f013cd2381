import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'
import { columns } from './columns.ts'

export type CitizenGender = 'female' | 'male'
export type CitizenStatus = 'active' | 'disabled'
/**
 * Whose NIK it is (issue 14): `claimed` as typed at registration (anyone can type anyone's
 * NIK), `proven` after an in-person check of the KTP-el (or the population register; one
 * account per NIK at most), `withdrawn` when another account proved it.
 */
export type NikStatus = 'claimed' | 'proven' | 'withdrawn'
export const nikStatuses: readonly NikStatus[] = ['claimed', 'proven', 'withdrawn']

/** A citizen's account. `id` is the OIDC `sub`; the NIK is personal data, not an identifier for RPs. */
export interface CitizensTable {
  id: Generated<string>
  /** 16 ASCII digits, normalised (src/accounts/nik.ts). Not unique: see nik_status. */
  nik: string
  name: string
  /**
   * Read it as text (`to_char(birth_date, 'YYYY-MM-DD')`), never as the driver's Date: `pg`
   * parses a date at local midnight and PGlite at UTC midnight, so the same row would
   * give different days east of Greenwich (WIB is UTC+7). Written as `YYYY-MM-DD`.
   */
  birth_date: ColumnType<Date, string, string>
  gender: CitizenGender
  /** Lowercased. */
  email: string | null
  email_verified: Generated<boolean>
  /** E.164, `+628…`. */
  phone: string | null
  phone_verified: Generated<boolean>
  /** argon2id (src/accounts/passwords.ts); null until a password is set. */
  password_hash: string | null
  nik_status: ColumnType<NikStatus, NikStatus | undefined, NikStatus>
  status: ColumnType<CitizenStatus, CitizenStatus | undefined, CitizenStatus>
  created_at: ColumnType<Date, Date | string | undefined, never>
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
  password_changed_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export type CitizenRow = Selectable<CitizensTable>
export type NewCitizenRow = Insertable<CitizensTable>

export const citizensColumns = columns<CitizensTable>({
  id: 'uuid',
  nik: 'text',
  name: 'text',
  birth_date: 'date',
  gender: 'text',
  email: 'text?',
  email_verified: 'bool',
  phone: 'text?',
  phone_verified: 'bool',
  password_hash: 'text?',
  nik_status: 'text',
  status: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
  password_changed_at: 'timestamptz?',
})
