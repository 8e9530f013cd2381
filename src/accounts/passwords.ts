// Password hashing with argon2id (docs/security.md line 13; STYLE.md habit 10 and 14: the
// `argon2` library, never hand-written crypto).
//
// Parameters: OWASP Password Storage Cheat Sheet, "Argon2id": the minimum configuration is
// m = 19 MiB (19456 KiB), t = 2, p = 1. They are set explicitly rather than taken from the
// library's defaults, so that an upgrade of the library cannot silently change them, and
// needsRehash() compares stored hashes against exactly these.
//
// What is hashed is the NFKC form of the password: NIST SP 800-63B-4 sec. 3.1.1.2 asks
// verifiers to normalise Unicode before hashing, so that the same password typed on
// another device (a composed or decomposed "é") still verifies. password-policy.ts checks
// the same normalised form.

import argon2 from 'argon2'
import { AccountError } from './errors.ts'

export const ARGON2_MEMORY_COST_KIB = 19456
export const ARGON2_TIME_COST = 2
export const ARGON2_PARALLELISM = 1

/** The argon2id parameters every new hash uses. */
export const argon2Options = Object.freeze({
  type: argon2.argon2id,
  memoryCost: ARGON2_MEMORY_COST_KIB,
  timeCost: ARGON2_TIME_COST,
  parallelism: ARGON2_PARALLELISM,
})

/**
 * Longest password accepted, in UTF-8 bytes. password-policy.ts allows 256 code points
 * (up to 1024 bytes); anything longer is refused before any hashing, so that a 10 MB
 * field costs nothing (docs/security.md line 11).
 */
export const MAX_PASSWORD_BYTES = 1024

/**
 * A hash of a random password that nobody knows, made once with `argon2Options`. Verifying
 * against it costs the same as verifying a real account's hash, so an unknown account, a
 * disabled one or one without a password answers in the same time as a wrong password
 * (docs/security.md line 10). A test checks that its parameters are still `argon2Options`.
 */
export const DUMMY_HASH =
  '$argon2id$v=19$m=19456,p=1,t=2$UX82LerDGJf1ZIFjsxZJLg$au+yaazi9QdKUCwqtIKImmANKPM1ePisrI6wGDHhDSU'

export interface PasswordCheck {
  readonly ok: boolean
  /** The stored hash uses other parameters than `argon2Options`: store a new one. */
  readonly needsRehash: boolean
}

/** Refuses a password over MAX_PASSWORD_BYTES (AccountError `password_too_long`), else returns its NFKC form. */
export function preparePassword(password: string): string {
  if (typeof password !== 'string') throw new AccountError('password_too_long')
  // Checked on the raw input first (bounded work for NFKC), then on what is hashed, since
  // NFKC can lengthen a string.
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new AccountError('password_too_long')
  const normalized = password.normalize('NFKC')
  if (Buffer.byteLength(normalized, 'utf8') > MAX_PASSWORD_BYTES) throw new AccountError('password_too_long')
  return normalized
}

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(preparePassword(password), argon2Options)
}

export async function verifyPassword(hash: string, password: string): Promise<PasswordCheck> {
  const ok = await argon2.verify(hash, preparePassword(password))
  return { ok, needsRehash: ok && hashNeedsRehash(hash) }
}

/** Spends the time of one verification and always answers false. */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await argon2.verify(DUMMY_HASH, preparePassword(password))
  return false
}

/** True when `hash` is not an argon2id hash with exactly `argon2Options`' parameters. */
export function hashNeedsRehash(hash: string): boolean {
  if (!hash.startsWith('$argon2id$')) return true
  try {
    return argon2.needsRehash(hash, {
      memoryCost: ARGON2_MEMORY_COST_KIB,
      timeCost: ARGON2_TIME_COST,
      parallelism: ARGON2_PARALLELISM,
    })
  } catch {
    return true
  }
}

/**
 * The three operations sign-in needs, as one object so that a test can count them (the
 * dummy verification of an unknown account is asserted by counting, not by timing).
 */
export interface PasswordHasher {
  hashPassword(password: string): Promise<string>
  verifyPassword(hash: string, password: string): Promise<PasswordCheck>
  verifyAgainstDummy(password: string): Promise<false>
}

export const argon2Hasher: PasswordHasher = Object.freeze({ hashPassword, verifyPassword, verifyAgainstDummy })
