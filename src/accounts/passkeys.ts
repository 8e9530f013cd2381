// Passkeys (WebAuthn Level 3) of a citizen's sign-in (issue 14): several per account, each
// named, with last use and whether it is synced. The ceremonies are @simplewebauthn/server's
// (https://simplewebauthn.dev/docs/packages/server); this module keeps what it leaves to
// the relying party:
//
// - Challenges (§13.4.3) are made here, stored in webauthn_challenges, bound to what asked
//   for them (the sign-in interaction, or the signed-in session adding a passkey) and to
//   the account when there is one, taken once by DELETE … RETURNING before the response is
//   even checked (so a failed attempt also spends it), and good for five minutes.
// - The relying party (rpID and origin) is the caller's, which derives it from the idp's
//   configured issuer, never from a request header (docs/security.md line 34).
// - User verification is required in every ceremony (§6.2.3): a passkey is then two
//   factors in one (the device, and the PIN or biometric that unlocks it).
// - The account of a sign-in is the one that owns the credential id. At a passwordless
//   sign-in the authenticator's userHandle must match that credential's (§7.2 step 6): the
//   user handle is not covered by the signature, so it is only ever compared, never used to
//   choose the account. At the second-factor step the credential must be the account's own.
// - The signature counter (§6.1.1) is the library's check: a counter that does not move
//   forward (when either side is not zero) throws, which we answer as a refusal and an
//   audit entry; the stored counter moves forward in the same conditional UPDATE that
//   accepts the assertion, so two assertions racing for one counter value cannot both pass.
// - No attestation is asked for (any make of authenticator will do), so "bound to one
//   device" is the authenticator's own word (its backup-eligible flag at creation), not a
//   proven make of hardware: a level that needs proven hardware needs attestation too.

import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server'
import { isoBase64URL } from '@simplewebauthn/server/helpers'
import { recordAudit } from '../audit/audit.ts'
import { recordFactorChange } from './factor-changes.ts'
import type { Database } from '../db/database.ts'
import type { PasskeyDeviceType, WebauthnChallengePurpose } from '../db/tables/passkeys.ts'
import { queueNotice, type RenderOptions } from './notices.ts'
import { checkSourceAllowance, type SourceThrottlePolicy, takeSourceAllowance } from './throttle.ts'

/** Who the passkeys are for: from the idp's issuer (src/idp/passkey-routes.ts). */
export interface RelyingParty {
  /** The issuer's host name (WebAuthn §5.1.2 "RP ID"): no scheme, no port. */
  readonly id: string
  /** The issuer's origin, the only one an assertion may come from. */
  readonly origin: string
  /** Shown by the authenticator. */
  readonly name: string
}

export interface PasskeyContext {
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
  readonly noticeOptions?: RenderOptions | undefined
  /** The current time; tests move it. */
  readonly now?: Date | undefined
}

/** How long a challenge may be answered (the browser's own timeout is shorter, below). */
export const challengeSeconds = 5 * 60
/** WebAuthn `timeout` (ms): a hint to the browser, shorter than the stored challenge lives. */
const ceremonyTimeoutMs = 3 * 60 * 1000
/** A name the citizen gives: one line, this long at most. */
export const maxPasskeyName = 60
/** More than this many passkeys on one account is refused (a list a person can manage). */
export const maxPasskeysPerAccount = 20

export interface PasskeyView {
  readonly id: string
  readonly name: string
  /** Synced between devices (backup eligible, `multiDevice`), or bound to one authenticator. */
  readonly synced: boolean
  readonly backedUp: boolean
  readonly createdAt: Date
  readonly lastUsedAt: Date | null
}

/** The account's passkeys, newest first. */
export async function listPasskeys(db: Kysely<Database>, citizenId: string): Promise<PasskeyView[]> {
  const rows = await db
    .selectFrom('passkeys')
    .select(['id', 'name', 'device_type', 'backed_up', 'created_at', 'last_used_at'])
    .where('citizen_id', '=', citizenId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    synced: r.device_type === 'multiDevice',
    backedUp: r.backed_up,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  }))
}

/** One line, trimmed, NFC, at most maxPasskeyName characters; undefined when empty. */
export function normalizePasskeyName(name: string): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const s = name.normalize('NFC').replace(/[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, '')
  const trimmed = s.trim().replace(/\s+/g, ' ')
  if (trimmed === '') return undefined
  return [...trimmed].slice(0, maxPasskeyName).join('')
}

async function storeChallenge(
  db: Kysely<Database>,
  challenge: string,
  purpose: WebauthnChallengePurpose,
  binding: string,
  citizenId: string | null,
  now: Date,
  userHandle: string | null = null,
): Promise<void> {
  // One live challenge per binding and purpose: asking again replaces the last one, so a
  // page that asks over and over holds one row, not thousands, until it expires.
  await db.deleteFrom('webauthn_challenges').where('binding', '=', binding).where('purpose', '=', purpose).execute()
  await db
    .insertInto('webauthn_challenges')
    .values({
      challenge,
      purpose,
      binding,
      citizen_id: citizenId,
      user_handle: userHandle,
      expires_at: new Date(now.getTime() + challengeSeconds * 1000),
    })
    .execute()
}

/**
 * Takes the challenge the browser answered, once: it must have been made by us for this
 * purpose and binding (and account), and not be older than challengeSeconds.
 */
async function takeChallenge(
  db: Kysely<Database>,
  clientDataJSON: string,
  purpose: WebauthnChallengePurpose,
  binding: string,
  citizenId: string | null,
  now: Date,
): Promise<{ challenge: string; userHandle: string | null } | undefined> {
  let challenge: unknown
  try {
    challenge = (JSON.parse(isoBase64URL.toUTF8String(clientDataJSON)) as { challenge?: unknown }).challenge
  } catch {
    return undefined
  }
  if (typeof challenge !== 'string' || challenge.length > 200) return undefined
  let q = db
    .deleteFrom('webauthn_challenges')
    .where('challenge', '=', challenge)
    .where('purpose', '=', purpose)
    .where('binding', '=', binding)
    .where('expires_at', '>', now)
  q = citizenId === null ? q.where('citizen_id', 'is', null) : q.where('citizen_id', '=', citizenId)
  const taken = await q.returning(['challenge', 'user_handle']).executeTakeFirst()
  return taken && { challenge: taken.challenge, userHandle: taken.user_handle }
}

/** Expired challenges go (housekeeping, src/idp/app.ts). */
export async function pruneWebauthnChallenges(db: Kysely<Database>, now: Date = new Date()): Promise<number> {
  const r = await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).executeTakeFirst()
  return Number(r.numDeletedRows)
}

/** The user handle of the account's passkeys: the one they already carry, or a new random one. */
async function userHandleOf(db: Kysely<Database>, citizenId: string): Promise<string> {
  const row = await db
    .selectFrom('passkeys')
    .select('user_handle')
    .where('citizen_id', '=', citizenId)
    .orderBy('created_at')
    .executeTakeFirst()
  return row?.user_handle ?? isoBase64URL.fromBuffer(randomBytes(32))
}

/**
 * Options for navigator.credentials.create(): a discoverable credential (so it can sign in
 * without a name typed first) with user verification, no attestation (we do not restrict
 * makes of authenticator), and the account's passkeys excluded (the same authenticator
 * twice is pointless).
 */
export async function registrationOptions(
  db: Kysely<Database>,
  rp: RelyingParty,
  citizen: { readonly id: string; readonly userName: string; readonly displayName: string },
  binding: string,
  context: PasskeyContext = {},
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const now = context.now ?? new Date()
  const existing = await db
    .selectFrom('passkeys')
    .select(['credential_id', 'transports'])
    .where('citizen_id', '=', citizen.id)
    .execute()
  const userHandle = await userHandleOf(db, citizen.id)
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: citizen.userName,
    userDisplayName: citizen.displayName,
    userID: isoBase64URL.toBuffer(userHandle),
    timeout: ceremonyTimeoutMs,
    attestationType: 'none',
    excludeCredentials: existing.map((e) => ({ id: e.credential_id, transports: e.transports })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  })
  await storeChallenge(db, options.challenge, 'register', binding, citizen.id, now, userHandle)
  return options
}

export type RegistrationOutcome =
  | { readonly ok: true; readonly passkey: PasskeyView }
  | { readonly ok: false; readonly reason: 'challenge' | 'invalid' | 'duplicate' | 'too_many' }

function parseResponse<T>(json: string): T | undefined {
  try {
    const v = JSON.parse(json) as unknown
    if (typeof v !== 'object' || v === null) return undefined
    const r = v as { id?: unknown; rawId?: unknown; type?: unknown; response?: unknown }
    if (typeof r.id !== 'string' || typeof r.rawId !== 'string' || r.type !== 'public-key') return undefined
    if (typeof r.response !== 'object' || r.response === null) return undefined
    if (typeof (r.response as { clientDataJSON?: unknown }).clientDataJSON !== 'string') return undefined
    return v as T
  } catch {
    return undefined
  }
}

/**
 * Checks the browser's answer to registrationOptions() and keeps the new passkey under
 * `name`. The citizen's verified contacts are told.
 */
export async function finishRegistration(
  db: Kysely<Database>,
  rp: RelyingParty,
  citizenId: string,
  binding: string,
  responseJSON: string,
  name: string,
  context: PasskeyContext = {},
): Promise<RegistrationOutcome> {
  const now = context.now ?? new Date()
  const response = parseResponse<RegistrationResponseJSON>(responseJSON)
  if (!response) return { ok: false, reason: 'invalid' }
  const taken = await takeChallenge(db, response.response.clientDataJSON, 'register', binding, citizenId, now)
  if (taken?.userHandle == null) return { ok: false, reason: 'challenge' }
  // The handle the authenticator was given: a passkey made now answers with it.
  const userHandle = taken.userHandle
  let info: Awaited<ReturnType<typeof verifyRegistrationResponse>>['registrationInfo']
  try {
    const verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: taken.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    })
    info = verified.verified ? verified.registrationInfo : undefined
  } catch {
    info = undefined
  }
  if (info === undefined) return { ok: false, reason: 'invalid' }
  const credential = info.credential
  const deviceType: PasskeyDeviceType = info.credentialDeviceType
  return db.transaction().execute(async (trx): Promise<RegistrationOutcome> => {
    // Serialises two registrations of one account (the count below) on the citizen's row.
    await trx.selectFrom('citizens').select('id').where('id', '=', citizenId).forUpdate().executeTakeFirst()
    const count = await trx
      .selectFrom('passkeys')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('citizen_id', '=', citizenId)
      .executeTakeFirstOrThrow()
    if (Number(count.n) >= maxPasskeysPerAccount) return { ok: false, reason: 'too_many' }
    const inserted = await trx
      .insertInto('passkeys')
      .values({
        citizen_id: citizenId,
        credential_id: credential.id,
        user_handle: userHandle,
        public_key: Buffer.from(credential.publicKey),
        counter: credential.counter,
        transports: (credential.transports ?? []).map(String),
        device_type: deviceType,
        backed_up: info.credentialBackedUp,
        aaguid: info.aaguid,
        name: normalizePasskeyName(name) ?? `Passkey ${Number(count.n) + 1}`,
      })
      .onConflict((oc) => oc.column('credential_id').doNothing())
      .returning(['id', 'name', 'device_type', 'backed_up', 'created_at', 'last_used_at'])
      .executeTakeFirst()
    if (inserted === undefined) return { ok: false, reason: 'duplicate' }
    await recordFactorChange(trx, citizenId, 'added', 'passkey', context, now, { synced: deviceType === 'multiDevice' })
    return {
      ok: true,
      passkey: {
        id: inserted.id,
        name: inserted.name,
        synced: inserted.device_type === 'multiDevice',
        backedUp: inserted.backed_up,
        createdAt: inserted.created_at,
        lastUsedAt: inserted.last_used_at,
      },
    }
  })
}

/**
 * Options for navigator.credentials.get(). For a passwordless sign-in (no account yet) the
 * list of allowed credentials is empty: the authenticator offers its discoverable ones, and
 * nothing about any account is in the answer. At the second-factor step, after the
 * password, the account's own passkeys are listed.
 */
export async function authenticationOptions(
  db: Kysely<Database>,
  rp: RelyingParty,
  binding: string,
  forAccount: { readonly purpose: 'sign_in' } | { readonly purpose: 'second_factor'; readonly citizenId: string },
  context: PasskeyContext = {},
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const now = context.now ?? new Date()
  const allow =
    forAccount.purpose === 'second_factor'
      ? (
          await db
            .selectFrom('passkeys')
            .select(['credential_id', 'transports'])
            .where('citizen_id', '=', forAccount.citizenId)
            .execute()
        ).map((p) => ({ id: p.credential_id, transports: p.transports }))
      : []
  const options = await generateAuthenticationOptions({
    rpID: rp.id,
    allowCredentials: allow,
    userVerification: 'required',
    timeout: ceremonyTimeoutMs,
  })
  await storeChallenge(
    db,
    options.challenge,
    forAccount.purpose,
    binding,
    forAccount.purpose === 'second_factor' ? forAccount.citizenId : null,
    now,
  )
  return options
}

/** Whether the account has a passkey (the second-factor step then offers it). */
export async function hasPasskey(db: Kysely<Database>, citizenId: string): Promise<boolean> {
  const row = await db.selectFrom('passkeys').select('id').where('citizen_id', '=', citizenId).executeTakeFirst()
  return row !== undefined
}

export type PasskeyFailure =
  /** No challenge of ours for this purpose and binding: unknown, spent, expired or another's. */
  | 'challenge'
  /** Not a credential we know. */
  | 'unknown_credential'
  /** A known credential, but of another account than the one signing in. */
  | 'other_account'
  /** The authenticator's userHandle is not that of the credential's account. */
  | 'user_handle'
  /** The signature counter did not move forward: maybe a cloned authenticator. */
  | 'counter'
  /** Anything else the library refused: signature, origin, rpID, flags, shape. */
  | 'invalid'
  /** Too many refused assertions from this address lately (passkeyFailurePolicy): not checked. */
  | 'throttled'

export type PasskeyCheck =
  | {
      readonly ok: true
      readonly citizenId: string
      readonly passkeyId: string
      /** Synced (backup eligible) or bound to one authenticator, as stored at registration. */
      readonly synced: boolean
      readonly userVerified: boolean
    }
  | { readonly ok: false; readonly reason: PasskeyFailure; readonly retryAfterSeconds?: number }

/**
 * Refused assertions allowed per address (IPv6: per /64) in a window. A passkey cannot be
 * guessed, but every refusal costs a challenge, a signature check and an audit row, and a
 * flood of them hides the one that matters: past this, assertions from the address are
 * not checked until the window ends. Generous, as for passwords: a whole MPP hall can
 * share one address.
 */
export const passkeyFailurePolicy: SourceThrottlePolicy = Object.freeze({ maxFailures: 30, windowSeconds: 15 * 60 })

/**
 * Checks an assertion. `purpose` `sign_in`: a passwordless sign-in, the account is the
 * credential's owner; `second_factor`: after the password of `citizenId`, the credential
 * must be that account's.
 */
export async function verifyPasskey(
  db: Kysely<Database>,
  rp: RelyingParty,
  binding: string,
  responseJSON: string,
  forAccount: { readonly purpose: 'sign_in' } | { readonly purpose: 'second_factor'; readonly citizenId: string },
  context: PasskeyContext = {},
): Promise<PasskeyCheck> {
  const now = context.now ?? new Date()
  const expectedAccount = forAccount.purpose === 'second_factor' ? forAccount.citizenId : null
  const fail = async (reason: PasskeyFailure, subjectId: string | null): Promise<PasskeyCheck> => {
    await takeSourceAllowance(db, 'passkey', context.ip, passkeyFailurePolicy, { now })
    await recordAudit(db, {
      event: 'auth.passkey.failed',
      actor: 'anonymous',
      subjectId: subjectId ?? undefined,
      ip: context.ip,
      requestId: context.requestId,
      data: { purpose: forAccount.purpose, reason },
    })
    return { ok: false, reason }
  }
  const allowance = await checkSourceAllowance(db, 'passkey', context.ip, passkeyFailurePolicy, { now })
  if (!allowance.allowed) return { ok: false, reason: 'throttled', retryAfterSeconds: allowance.retryAfterSeconds }
  const response = parseResponse<AuthenticationResponseJSON>(responseJSON)
  if (!response) return fail('invalid', expectedAccount)
  const taken = await takeChallenge(
    db,
    response.response.clientDataJSON,
    forAccount.purpose,
    binding,
    expectedAccount,
    now,
  )
  if (taken === undefined) return fail('challenge', expectedAccount)
  const row = await db.selectFrom('passkeys').selectAll().where('credential_id', '=', response.id).executeTakeFirst()
  if (row === undefined) return fail('unknown_credential', expectedAccount)
  if (expectedAccount !== null && row.citizen_id !== expectedAccount) return fail('other_account', expectedAccount)
  const userHandle = response.response.userHandle
  // §7.2 step 6: at a passwordless sign-in the handle is required and must be the owner's.
  if (expectedAccount === null ? userHandle !== row.user_handle : userHandle != null && userHandle !== row.user_handle)
    return fail('user_handle', row.citizen_id)
  const counter = Number(row.counter)
  let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'] | undefined
  try {
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: taken.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: row.credential_id,
        publicKey: new Uint8Array(row.public_key),
        counter,
        transports: row.transports,
      },
      requireUserVerification: true,
    })
    info = verified.verified ? verified.authenticationInfo : undefined
  } catch (err) {
    // The library's counter check (verifyAuthenticationResponse.js): its only way to say it.
    if (err instanceof Error && /counter value/i.test(err.message)) return fail('counter', row.citizen_id)
    info = undefined
  }
  if (info === undefined || !info.userVerified) return fail('invalid', row.citizen_id)
  // Backup eligibility is fixed for a credential's life (WebAuthn L3 §7.2 step 19): a
  // device-bound key that now says it can be synced is not the key we registered as such,
  // and must never count as phishing-resistant.
  if (info.credentialDeviceType !== row.device_type) return fail('invalid', row.citizen_id)
  // Accept and move the counter in one statement: an assertion racing for the same counter
  // value finds the row changed and is refused.
  const accepted = await db
    .updateTable('passkeys')
    .set({ counter: info.newCounter, backed_up: info.credentialBackedUp, last_used_at: now })
    .where('id', '=', row.id)
    .where('counter', '=', counter)
    .returning('id')
    .executeTakeFirst()
  if (accepted === undefined) return fail('counter', row.citizen_id)
  return {
    ok: true,
    citizenId: row.citizen_id,
    passkeyId: row.id,
    synced: row.device_type === 'multiDevice',
    userVerified: info.userVerified,
  }
}

/** Renames one of the account's passkeys; false when it is not the account's. */
export async function renamePasskey(
  db: Kysely<Database>,
  citizenId: string,
  passkeyId: string,
  name: string,
  context: PasskeyContext = {},
): Promise<boolean> {
  const normalized = normalizePasskeyName(name)
  if (normalized === undefined) return false
  return db.transaction().execute(async (trx) => {
    const renamed = await trx
      .updateTable('passkeys')
      .set({ name: normalized })
      .where('id', '=', passkeyId)
      .where('citizen_id', '=', citizenId)
      .returning('id')
      .executeTakeFirst()
    if (renamed === undefined) return false
    await recordAudit(trx, {
      event: 'account.passkey_renamed',
      actor: `citizen:${citizenId}`,
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
    })
    await queueNotice(
      trx,
      { citizenId, kind: 'passkey_renamed', data: { at: context.now ?? new Date() } },
      context.noticeOptions ?? {},
    )
    return true
  })
}

/** Removes one of the account's passkeys; the citizen is told. False when it is not the account's. */
export async function removePasskey(
  db: Kysely<Database>,
  citizenId: string,
  passkeyId: string,
  context: PasskeyContext = {},
): Promise<boolean> {
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    const removed = await trx
      .deleteFrom('passkeys')
      .where('id', '=', passkeyId)
      .where('citizen_id', '=', citizenId)
      .returning('device_type')
      .executeTakeFirst()
    if (removed === undefined) return false
    await recordFactorChange(trx, citizenId, 'removed', 'passkey', context, now)
    return true
  })
}

/** One passkey of the account, or undefined. */
export async function findPasskey(
  db: Kysely<Database>,
  citizenId: string,
  passkeyId: string,
): Promise<PasskeyView | undefined> {
  return (await listPasskeys(db, citizenId)).find((p) => p.id === passkeyId)
}
