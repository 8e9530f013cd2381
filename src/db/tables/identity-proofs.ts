import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

/** How the identity was proven: an officer checked the KTP-el in person, or the population register confirmed it. */
export type ProofLevel = 'in_person' | 'dukcapil'
/** Who checked: an officer (officer_id), or the population register. */
export type ProofVerifier = 'officer' | 'dukcapil'

/** One proof of a citizen's identity, with its evidence (src/accounts/identity.ts). */
export interface IdentityProofsTable {
  id: Generated<string>
  citizen_id: string
  level: ProofLevel
  /** The document checked, e.g. `ktp_el`. */
  evidence_type: string
  verifier: ProofVerifier
  /** The officer who checked; null for the register, or an officer no longer known. */
  officer_id: string | null
  /** Where (the MPP counter, the van's stop), in words. */
  location: string | null
  /** The trust framework the check followed (OpenID Connect for Identity Assurance). */
  trust_framework: string
  verified_at: ColumnType<Date, Date | string, Date | string>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export type IdentityProofRow = Selectable<IdentityProofsTable>

export const identityProofsColumns = columns<IdentityProofsTable>({
  id: 'uuid',
  citizen_id: 'uuid',
  level: 'text',
  evidence_type: 'text',
  verifier: 'text',
  officer_id: 'uuid?',
  location: 'text?',
  trust_framework: 'text',
  verified_at: 'timestamptz',
  created_at: 'timestamptz',
})
