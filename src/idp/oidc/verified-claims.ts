// OpenID Connect for Identity Assurance 1.0 (final, 2024): `verified_claims`, the claims an
// officer checked against the citizen's KTP-el, with how, when and by whom. Released only
// for an account that holds its NIK proven (src/accounts/identity.ts), under the
// `verified_claims` scope, which is asked of the citizen even by the regency's own clients.

import type { Citizen } from '../../accounts/citizens.ts'
import { satuPintuTrustFramework, type IdentityProof } from '../../accounts/identity.ts'
import type { Config } from '../../config/schema.ts'

/** The claims that an in-person check of the KTP-el verifies. */
export const claimsInVerifiedClaims = ['nik', 'name', 'birthdate', 'gender'] as const

/** What discovery says about them (OpenID Connect for Identity Assurance §8). */
export function identityAssuranceMetadata(): Record<string, unknown> {
  return {
    verified_claims_supported: true,
    trust_frameworks_supported: [satuPintuTrustFramework],
    evidence_supported: ['document'],
    documents_supported: ['ktp_el'],
    documents_methods_supported: ['pipp'],
    claims_in_verified_claims_supported: [...claimsInVerifiedClaims],
  }
}

/**
 * The verified_claims of a proven account: the evidence is the KTP-el (a `document` of type
 * `ktp_el`), checked by physical in-person proofing (`pipp`) by the regency's officers.
 */
export function verifiedClaimsOf(
  citizen: Pick<Citizen, 'nik' | 'name' | 'birthDate' | 'gender'>,
  proof: IdentityProof,
  config: Pick<Config, 'regency'>,
): Record<string, unknown> {
  const time = proof.verifiedAt.toISOString().replace(/\.\d{3}Z$/, 'Z')
  return {
    verification: {
      trust_framework: proof.trustFramework,
      time,
      evidence: [
        {
          type: 'document',
          method: proof.verifier === 'dukcapil' ? 'data' : 'pipp',
          time,
          document_details: { type: proof.evidenceType },
          verifier: {
            organization: proof.verifier === 'dukcapil' ? 'Dukcapil' : `Pemerintah Kabupaten ${config.regency.name}`,
            ...(proof.location !== null ? { location: proof.location } : {}),
          },
        },
      ],
    },
    claims: {
      nik: citizen.nik,
      name: citizen.name,
      birthdate: citizen.birthDate,
      gender: citizen.gender,
    },
  }
}
