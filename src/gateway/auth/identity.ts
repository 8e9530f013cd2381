/**
 * Who is calling, as the gateway established it. Produced by the authentication layer
 * (browser session or bearer token), consumed by policy and by the header injection.
 * Nothing in here comes from a request header the caller wrote.
 */
export interface Identity {
  /**
   * How it was established: a browser session, a citizen's bearer token, or a client's
   * own token (client credentials: `sub` is the client, no citizen at all). A `client`
   * identity never counts as a signed-in citizen anywhere (issue 10 §3).
   */
  readonly via: 'session' | 'bearer' | 'client'
  /** The citizen's subject at the idp (the idp's `sub` for the gateway client); for `client`, the client id. */
  readonly sub: string
  /** How strongly the sign-in was authenticated (urn:satupintu:acr:pwd, mfa or phr). */
  readonly acr: string
  readonly amr: readonly string[]
  /** Scopes granted to the token or session. */
  readonly scopes: readonly string[]
  /** Released claims (name, nik, …) as the idp gave them; only what the citizen consented to. */
  readonly claims: Readonly<Record<string, unknown>>
  /** The client the bearer token was issued to (apps, kiosks); undefined for sessions. */
  readonly clientId: string | undefined
  /** A bearer token's audiences (`aud`): the resources it was issued for; empty for sessions. */
  readonly audience: readonly string[]
  /** The gateway session id (for sessions): an opaque handle, never sent upstream. */
  readonly sessionId: string | undefined
}

/**
 * The idp's levels of sign-in, in order (its src/idp/oidc/levels.ts; the gateway knows them
 * only as this contract, over HTTP): pwd, mfa, phr, and the first release's names for them.
 * A route that needs a level accepts it and every level above.
 */
const acrRanks: Readonly<Record<string, number>> = {
  'urn:satupintu:acr:pwd': 1,
  'urn:satupintu:acr:mfa': 2,
  'urn:satupintu:acr:phr': 3,
  'urn:satupintu:loa:1': 1,
  'urn:satupintu:loa:2': 2,
  'urn:satupintu:loa:3': 3,
}

/** The level names an agency may write as `minAcr`. */
export const knownAcrValues: readonly string[] = Object.keys(acrRanks)

/** 1, 2 or 3 for a known level; 0 for anything else. */
export function acrLevel(acr: string | undefined): number {
  // Own keys only: 'constructor' or '__proto__' is no level.
  return acr !== undefined && Object.hasOwn(acrRanks, acr) ? (acrRanks[acr] as number) : 0
}

/**
 * Whether `identity` meets a requirement: at least the level, and every scope. A client's
 * own token has no citizen: it meets no citizen's requirement, not even an empty one.
 */
export function meets(
  identity: Identity | undefined,
  need: { readonly acr?: string | undefined; readonly scopes?: readonly string[] | undefined },
): identity is Identity {
  if (identity === undefined || identity.via === 'client') return false
  if (need.acr !== undefined && acrLevel(identity.acr) < acrLevel(need.acr)) return false
  return (need.scopes ?? []).every((s) => identity.scopes.includes(s))
}
