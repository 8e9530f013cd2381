// The authenticator-app (TOTP, RFC 6238) core shared by citizens' and officers' second
// factors (second-factors.ts, officer-factors.ts): the parameters every app reads from the
// QR code, a fresh secret, the URI, and the check of a code against a secret that accepts
// a code only later than the last step taken. Each owner keeps its own rows; the once-only
// rule is completed there by one conditional UPDATE on the step (docs/security.md line 39).

import { timingSafeEqual } from 'node:crypto'
import { Secret, TOTP } from 'otpauth'

/** SHA-1, 6 digits, 30-second steps: RFC 6238's defaults, which every authenticator app reads. */
export const totpParameters = Object.freeze({ algorithm: 'SHA1', digits: 6, period: 30 } as const)
/** Steps either side of now a code may come from (RFC 6238 §5.2). */
const totpWindow = 1

export function totpOf(secretBase32: string, label = ''): TOTP {
  return new TOTP({ ...totpParameters, issuer: 'Satu Pintu', label, secret: Secret.fromBase32(secretBase32) })
}

/** A new secret of 160 bits (RFC 4226 §4), base32 as an app takes it typed. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32
}

/** The `otpauth://` URI a QR code carries. */
export function totpUri(secretBase32: string, label: string): string {
  return totpOf(secretBase32, label).toString()
}

/** Digits only, as people type them with spaces ("123 456"). */
export function normalizeTotpCode(code: string): string | undefined {
  const digits = code.replace(/[\s-]/g, '')
  return /^[0-9]{6}$/.test(digits) ? digits : undefined
}

/**
 * The step a code belongs to if it is right for `secret` within the window and later than
 * `after`; undefined otherwise.
 */
export function acceptedStep(secret: string, code: string, now: Date, after: number | null): number | undefined {
  const totp = totpOf(secret)
  const current = totp.counter({ timestamp: now.getTime() })
  // Check each step of the window ourselves: validate() answers the first match only, and
  // a step already used must not hide a later one that is right.
  for (let delta = -totpWindow; delta <= totpWindow; delta++) {
    const step = current + delta
    if (after !== null && step <= after) continue
    const expected = totp.generate({ timestamp: step * totpParameters.period * 1000 })
    if (timingSafeEqual(Buffer.from(expected), Buffer.from(code))) return step
  }
  return undefined
}
