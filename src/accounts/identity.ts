// How well the identity behind an account was proven (issue 14; NIST SP 800-63A's IAL,
// GOV.UK One Login's "P" levels). Kept apart from how strongly a sign-in was
// authenticated (acr, src/idp/oidc/levels.ts): a citizen with a passkey may still be
// anybody, and one checked at the counter may sign in with a password only.
//
// The level is computed from the account's facts, never stored on its own:
//   self_asserted     registered online; nothing checked (every field typed at
//                     registration can be read off the NIK itself)
//   contact_verified  a code sent to the e-mail or phone was entered
//   in_person         an officer checked the KTP-el at a named place (identity_proofs)
//   dukcapil          the population register confirmed it (the PopulationRegister port;
//                     no implementation until the regency gets access)
//
// A NIK is only *claimed* until it is proven: several accounts may claim one, and none of
// them is given the NIK or verified claims. When an officer proves it on one account,
// that account holds it exclusively and every other claim on it is withdrawn, each told
// why (notice nik_withdrawn).

import type { Kysely } from 'kysely'
import { sql } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { NikStatus } from '../db/tables/citizens.ts'
import type { ProofLevel, ProofVerifier } from '../db/tables/identity-proofs.ts'
import { AccountError } from './errors.ts'
import { queueNotice, type RenderOptions } from './notices.ts'
import type { RequestContext } from './request-context.ts'

export type IdentityLevel = 'self_asserted' | 'contact_verified' | 'in_person' | 'dukcapil'

export const identityLevels: readonly IdentityLevel[] = ['self_asserted', 'contact_verified', 'in_person', 'dukcapil']

/**
 * The order of the levels, for a minimum (a gateway's minIdentity). A check against the
 * population register is worth an officer's check of the KTP-el, no more: both prove the
 * NIK is this person's, so they rank the same.
 */
export const identityRank: { readonly [L in IdentityLevel]: number } = Object.freeze({
  self_asserted: 0,
  contact_verified: 1,
  in_person: 2,
  dukcapil: 2,
})

/** Is `level` at least `minimum`? Unknown values are never enough. */
export function meetsIdentity(level: string | undefined, minimum: IdentityLevel): boolean {
  if (level === undefined || !Object.hasOwn(identityRank, level)) return false
  return identityRank[level as IdentityLevel] >= identityRank[minimum]
}

/** The trust framework of an in-person check at a Satu Pintu counter (verified_claims). */
export const satuPintuTrustFramework = 'id_satupintu'

/** One proof, as it is shown and released (OpenID Connect for Identity Assurance). */
export interface IdentityProof {
  readonly level: ProofLevel
  /** The document checked: `ktp_el`. */
  readonly evidenceType: string
  readonly verifier: ProofVerifier
  readonly officerId: string | null
  readonly location: string | null
  readonly trustFramework: string
  readonly verifiedAt: Date
}

export interface AccountIdentity {
  readonly level: IdentityLevel
  readonly nikStatus: NikStatus
  /** The proof the level rests on (the latest), when the NIK is proven. */
  readonly proof: IdentityProof | null
}

/** The facts the level is computed from. */
export interface IdentityFacts {
  readonly emailVerified: boolean
  readonly phoneVerified: boolean
  readonly nikStatus: NikStatus
  /** The levels of the account's proofs. */
  readonly proofLevels: readonly ProofLevel[]
}

/**
 * The identity level from the facts. A proof only counts while the account holds the NIK
 * proven (a withdrawn claim keeps no proof, but a proof row is history: it stays).
 */
export function identityLevelOf(facts: IdentityFacts): IdentityLevel {
  if (facts.nikStatus === 'proven') {
    if (facts.proofLevels.includes('dukcapil')) return 'dukcapil'
    if (facts.proofLevels.includes('in_person')) return 'in_person'
  }
  return facts.emailVerified || facts.phoneVerified ? 'contact_verified' : 'self_asserted'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The identity of an account: its level, its NIK's status, the proof. Undefined for no such account. */
export async function accountIdentity(db: Kysely<Database>, citizenId: string): Promise<AccountIdentity | undefined> {
  if (!UUID.test(citizenId)) return undefined
  const citizen = await db
    .selectFrom('citizens')
    .select(['email_verified', 'phone_verified', 'nik_status'])
    .where('id', '=', citizenId)
    .executeTakeFirst()
  if (citizen === undefined) return undefined
  const proofs = await db
    .selectFrom('identity_proofs')
    .select(['level', 'evidence_type', 'verifier', 'officer_id', 'location', 'trust_framework', 'verified_at'])
    .where('citizen_id', '=', citizenId)
    .orderBy('verified_at', 'desc')
    .execute()
  const level = identityLevelOf({
    emailVerified: citizen.email_verified,
    phoneVerified: citizen.phone_verified,
    nikStatus: citizen.nik_status,
    proofLevels: proofs.map((p) => p.level),
  })
  const latest = citizen.nik_status === 'proven' ? proofs[0] : undefined
  return {
    level,
    nikStatus: citizen.nik_status,
    proof:
      latest === undefined
        ? null
        : {
            level: latest.level,
            evidenceType: latest.evidence_type,
            verifier: latest.verifier,
            officerId: latest.officer_id,
            location: latest.location,
            trustFramework: latest.trust_framework,
            verifiedAt: latest.verified_at,
          },
  }
}

/**
 * Serialises everything that decides who holds one NIK (a proof, a registration), so that
 * a registration cannot slip in as `claimed` beside a proof being written. A transaction
 * advisory lock: released at commit or rollback.
 */
export async function lockNik(trx: Kysely<Database>, nik: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`nik:${nik}`}))`.execute(trx)
}

export interface InPersonProofInput {
  readonly citizenId: string
  /** The officer who checked the KTP-el. */
  readonly officerId: string
  /** Where, in words: "MPP Sukamaju, loket 3", "Mobil keliling, Desa Cibodas". */
  readonly location: string
  /** The document checked (only the KTP-el for now). */
  readonly evidence: 'ktp_el'
}

export interface ProofResult {
  /** The other accounts that claimed the NIK and lost the claim. */
  readonly withdrawn: readonly string[]
}

/**
 * An officer checked the citizen's KTP-el in person and found that it is theirs: in one
 * transaction, this account holds its NIK proven, the proof is written with its evidence,
 * every other account claiming the NIK is withdrawn and told why, and it is all in the
 * audit trail. Refused with `nik_proven_elsewhere` when another account holds the NIK
 * proven already (moving a proof is not a counter's decision), and `account_not_found`
 * for no such account (or a disabled one).
 */
export async function proveIdentityInPerson(
  db: Kysely<Database>,
  input: InPersonProofInput,
  context: RequestContext & { readonly now?: Date; readonly noticeOptions?: RenderOptions } = {},
): Promise<ProofResult> {
  if (!UUID.test(input.citizenId) || !UUID.test(input.officerId)) throw new AccountError('account_not_found')
  const location =
    typeof input.location === 'string' ? input.location.normalize('NFKC').replace(/\s+/g, ' ').trim() : ''
  if (location === '' || location.length > 200 || /[\u0000-\u001f\u007f]/.test(location)) {
    throw new Error('proveIdentityInPerson: the location must be 1 to 200 characters of text')
  }
  if (input.evidence !== 'ktp_el') throw new Error(`proveIdentityInPerson: unknown evidence ${String(input.evidence)}`)
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    // The strongest proof there is: only an active counter officer's, checked here (held
    // for the transaction), not left to the page that calls this.
    const officer = await trx
      .selectFrom('officers')
      .select(['status', 'roles'])
      .where('id', '=', input.officerId)
      .forShare()
      .executeTakeFirst()
    if (officer === undefined || officer.status !== 'active' || !officer.roles.includes('counter_officer'))
      throw new AccountError('officer_not_allowed')
    const citizen = await trx
      .selectFrom('citizens')
      .select(['nik', 'status'])
      .where('id', '=', input.citizenId)
      .executeTakeFirst()
    if (citizen === undefined || citizen.status !== 'active') throw new AccountError('account_not_found')
    await lockNik(trx, citizen.nik)
    const claims = await trx
      .selectFrom('citizens')
      .select(['id', 'nik_status', 'status'])
      .where('nik', '=', citizen.nik)
      .forUpdate()
      .execute()
    // A disabled account that holds the NIK proven (an impostor an officer proved by
    // mistake, then disabled) does not keep it: the holder checked now in person takes it,
    // and the disabled account's claim is withdrawn below with the others.
    if (claims.some((c) => c.id !== input.citizenId && c.nik_status === 'proven' && c.status === 'active')) {
      throw new AccountError('nik_proven_elsewhere')
    }
    const others = claims.filter((c) => c.id !== input.citizenId && c.nik_status !== 'withdrawn').map((c) => c.id)
    // Withdrawn first: one account at a time holds a NIK proven (citizens_nik_proven_unique).
    if (others.length > 0) {
      await trx
        .updateTable('citizens')
        .set({ nik_status: 'withdrawn', updated_at: now })
        .where('id', 'in', others)
        .execute()
    }
    await trx
      .updateTable('citizens')
      .set({ nik_status: 'proven', updated_at: now })
      .where('id', '=', input.citizenId)
      .execute()
    await trx
      .insertInto('identity_proofs')
      .values({
        citizen_id: input.citizenId,
        level: 'in_person',
        evidence_type: input.evidence,
        verifier: 'officer',
        officer_id: input.officerId,
        location,
        trust_framework: satuPintuTrustFramework,
        verified_at: now,
      })
      .execute()
    const actor = context.actor ?? (`officer:${input.officerId}` as const)
    const audit = { ip: context.ip, requestId: context.requestId }
    await recordAudit(trx, {
      ...audit,
      event: 'account.identity_proven',
      actor,
      subjectId: input.citizenId,
      data: { level: 'in_person', evidence: input.evidence, location, withdrawnClaims: others.length },
    })
    await queueNotice(
      trx,
      { citizenId: input.citizenId, kind: 'identity_proven', data: { at: now, location } },
      context.noticeOptions,
    )
    for (const id of others) {
      await recordAudit(trx, {
        ...audit,
        event: 'account.nik_withdrawn',
        actor,
        subjectId: id,
        data: { reason: 'proven_on_another_account' },
      })
      await queueNotice(trx, { citizenId: id, kind: 'nik_withdrawn', data: { at: now } }, context.noticeOptions)
    }
    return { withdrawn: others }
  })
}

// ---------------------------------------------------------------------------------------
// The population register (Dukcapil)

/** What is asked of the register: does this NIK belong to this person? */
export interface PopulationRegisterQuery {
  readonly nik: string
  readonly name: string
  /** YYYY-MM-DD. */
  readonly birthDate: string
}

export type PopulationRegisterAnswer =
  | {
      readonly outcome: 'match'
      /** The register's own reference for the check, kept as the proof's evidence. */
      readonly reference: string
      readonly checkedAt: Date
    }
  | { readonly outcome: 'no_match' }
  | { readonly outcome: 'unavailable'; readonly retryAfterSeconds?: number }

/**
 * The port to the population register (Dukcapil's data-access service), for the
 * `dukcapil` level. Satu Pintu ships no implementation: a regency that is granted access
 * (a cooperation agreement with Dukcapil) adds one, chosen by
 * `idp.identity.populationRegister`. Until then the setting is `none` and no account
 * reaches `dukcapil`; nothing pretends to check.
 */
export interface PopulationRegister {
  readonly name: string
  verify(query: PopulationRegisterQuery): Promise<PopulationRegisterAnswer>
}

/** The register configured, or undefined for `none` (the only choice until an adapter exists). */
export function populationRegisterOf(setting: 'none'): PopulationRegister | undefined {
  if (setting === 'none') return undefined
  throw new Error(`unknown population register ${String(setting)}`)
}
