import { acr } from './levels.ts'

/**
 * What a citizen used to sign in, in the order used. A passkey is always checked with user
 * verification (src/accounts/passkeys.ts refuses an assertion without it), so each
 * passkey method here means "this key, unlocked on the device by a PIN or biometric".
 * - `passkey:device-bound`: not backup eligible (WebAuthn `credentialDeviceType`
 *   singleDevice): the private key never leaves the authenticator.
 * - `passkey:synced`: backup eligible (multiDevice): the key may be copied to other
 *   devices through the platform's cloud keychain, so it is as safe as that account.
 */
export type SignInMethod = 'password' | 'totp' | 'recovery_code' | 'passkey:device-bound' | 'passkey:synced'

export interface SignInLevel {
  /** The methods used, for whoever maps them to a level (today's and tomorrow's acr names). */
  readonly methods: readonly SignInMethod[]
  /** RFC 8176 values. */
  readonly amr: readonly string[]
  /** Two or more factors of different kinds (NIST SP 800-63B-4 §2.2, AAL2). */
  readonly multiFactor: boolean
  /**
   * Phishing-resistant (SP 800-63B-4 §3.2.5): bound to our origin by WebAuthn *and* the key
   * cannot be exported: a device-bound passkey. A synced passkey is origin-bound too, but its
   * key lives in a cloud account that can be phished or recovered, so it never counts here
   * (issue 14: "a synced passkey never reaches the top level").
   */
  readonly phishingResistant: boolean
  /** The `acr` the sign-in gets. */
  readonly acr: string
}

/** RFC 8176 §2 values, per method. */
const amrOf: Record<SignInMethod, readonly string[]> = {
  // "Password-based authentication".
  password: ['pwd'],
  // "One-time password": an authenticator app's code, and a recovery code, which is one too.
  totp: ['otp'],
  recovery_code: ['otp'],
  // "Proof-of-Possession (PoP) of a hardware-secured key", and "User presence test"
  // (WebAuthn's UP flag; UV says more, but RFC 8176 has no value for "PIN or biometric,
  // not told which": WebAuthn does not say which the device used, so neither `pin` nor
  // `fpt`/`face` may be claimed).
  'passkey:device-bound': ['hwk', 'user'],
  // "Proof-of-Possession (PoP) of a software-secured key": a synced key is held in
  // software by the platform's keychain, whatever chip signs on this device.
  'passkey:synced': ['swk', 'user'],
}

/**
 * The single place where the methods of a sign-in become its `acr` and `amr` (the sign-in
 * steps in interactions.ts call it; nothing else computes a level). A password alone is
 * `acr:pwd` whatever the account's verification (DESIGN.md, Identity). A password with a
 * code or a passkey, or a passkey alone (user verification makes it two factors in one), is
 * `acr:mfa`; a device-bound passkey is `acr:phr` (levels.ts). How well the identity is proven
 * is not a sign-in's to say: no method gives an identity level.
 */
export function signInLevel(methods: readonly SignInMethod[]): SignInLevel {
  const has = (m: SignInMethod) => methods.includes(m)
  const passkey = has('passkey:device-bound') || has('passkey:synced')
  const multiFactor = passkey || (has('password') && (has('totp') || has('recovery_code')))
  const amr = [...new Set(methods.flatMap((m) => amrOf[m]))]
  // RFC 8176 "mfa": where the values above do not show two factors by themselves (a passkey
  // alone: its second factor is the user verification, which has no value of its own).
  if (multiFactor && !has('password')) amr.push('mfa')
  return {
    methods: [...methods],
    amr,
    multiFactor,
    phishingResistant: has('passkey:device-bound'),
    acr: has('passkey:device-bound') ? acr.phr : multiFactor ? acr.mfa : acr.pwd,
  }
}
