import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose'
import { RefusedCredentialError } from './bearer.ts'

/**
 * Verification of DPoP proofs at the resource server (RFC 9449 §4.3 and §7.1): the
 * access token is bound to a key (`cnf.jkt`), and every request carries a fresh proof
 * signed with that key for this method and URL. JOSE work is jose's; this file lists the
 * checks in the order of §4.3 so that a failure reads like the spec.
 */

/**
 * Algorithms a proof may use: the ones the idp accepts when it binds a token
 * (src/idp/oidc/provider.ts, enabledJWA.dPoPSigningAlgValues). Asymmetric only, never `none`
 * or HS*; no RSA, whose key size a client chooses (a 16k-bit key costs us the CPU).
 */
export const dpopAlgorithms = ['ES256', 'EdDSA'] as const

/** How far `iat` may be from our clock (RFC 9449 §11.1 leaves the window to the server). */
export const dpopIatWindowSeconds = 60

/** Largest proof we read: a P-256 or Ed25519 proof is well under 1 KiB. */
const maxProofLength = 4096

/** A DPoP proof we refuse: error="invalid_dpop_proof" (RFC 9449 §7.1). */
export class DpopError extends RefusedCredentialError {
  readonly oauthError = 'invalid_dpop_proof'
}

export interface DpopExpectation {
  /** The request's method (htm). */
  method: string
  /** The request's public URL without query and fragment (htu). */
  url: string
  /** base64url SHA-256 of the access token (ath). */
  accessTokenHash: string
  /** The key the token is bound to: `cnf.jkt`. */
  jkt: string
  now?: Date
}

/** Remembers a proof's jti across instances; false when it was seen before. */
export type ReplayCheck = (jti: string, expiresAt: Date) => Promise<boolean>

/** Scheme, host and path of a URL as RFC 9449 §4.3 step 9 compares them (RFC 3986 §6.2.2–6.2.3 normalisation by WHATWG URL). */
function comparableUrl(value: string): string | undefined {
  try {
    const u = new URL(value)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return undefined
  }
}

/**
 * Checks one DPoP proof against the request and the bound token. Throws a DpopError
 * that says which check failed.
 */
export async function verifyDpopProof(proof: string, expect: DpopExpectation, replay: ReplayCheck): Promise<void> {
  const now = expect.now ?? new Date()
  // §4.3 steps 2–6: one well-formed JWT, typ dpop+jwt, an asymmetric algorithm we accept,
  // a public key in the `jwk` header (jose's EmbeddedJWK refuses a private one), valid signature.
  if (proof.length > maxProofLength) throw new DpopError('The DPoP proof is too large')
  let payload: Record<string, unknown>
  let jwk: JWK
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...dpopAlgorithms],
      currentDate: now,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    })
    payload = verified.payload
    jwk = verified.protectedHeader.jwk as JWK
  } catch (err) {
    throw new DpopError('The DPoP proof is not valid', { cause: err })
  }
  const { jti, htm, htu, iat, ath } = payload
  if (typeof jti !== 'string' || jti.length < 8 || jti.length > 256)
    throw new DpopError('The DPoP proof jti is not valid')
  // Step 8: the method of this request.
  if (htm !== expect.method) throw new DpopError('The DPoP proof is for another method')
  // Step 9: the URL of this request, as the client saw it (our public URL), without query.
  const wanted = comparableUrl(expect.url)
  if (typeof htu !== 'string' || wanted === undefined || comparableUrl(htu) !== wanted) {
    throw new DpopError('The DPoP proof is for another URL')
  }
  // Step 11: fresh.
  const nowSeconds = Math.floor(now.getTime() / 1000)
  if (typeof iat !== 'number' || Math.abs(nowSeconds - iat) > dpopIatWindowSeconds) {
    throw new DpopError('The DPoP proof is too old or from the future')
  }
  // Step 12: bound to this access token and to the token's key.
  if (ath !== expect.accessTokenHash) throw new DpopError('The DPoP proof is for another access token')
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256')
  if (thumbprint !== expect.jkt) throw new DpopError('The DPoP proof is signed with a key the token is not bound to')
  // Step 10 / §11.1: used once. Last, so that a proof failing the checks above never
  // takes a jti another, valid proof might still use. Remembered until it could no longer
  // pass the iat check, keyed by key and jti so that one client cannot burn another's.
  const expiresAt = new Date((iat + dpopIatWindowSeconds + 5) * 1000)
  if (!(await replay(`${thumbprint}:${jti}`, expiresAt))) throw new DpopError('The DPoP proof was already used')
}
