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
  /**
   * When the citizen signed in at the idp (`auth_time`, seconds since the epoch): an
   * elevated level lasts a bounded time after it (standingLevel). Undefined when not known.
   */
  readonly authTime: number | undefined
  /** When the gateway session was last used (seconds since the epoch); undefined for tokens. */
  readonly lastUsedAt: number | undefined
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
  /**
   * `kiosk` when the token was issued to a self-service kiosk (the idp's `channel` claim,
   * issue 16), with the kiosk's id; undefined otherwise (see channelOf).
   */
  readonly channel?: 'kiosk' | undefined
  readonly kioskId?: string | undefined
}

/** Where a citizen is: their browser (web), an app with its own token (app), or a kiosk in a service hall. */
export const channels = ['web', 'app', 'kiosk'] as const
export type Channel = (typeof channels)[number]

/** The channel an identity acts through (an agency service may refuse some: `channels:` in agencies.yaml). */
export function channelOf(identity: Identity): Channel {
  if (identity.channel === 'kiosk') return 'kiosk'
  return identity.via === 'session' ? 'web' : 'app'
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

/** How long an elevated level lasts (config `signInLevels`, shared with the idp). */
export interface LevelLifetimes {
  readonly phrSeconds: number
  readonly mfaSeconds: number
  readonly mfaIdleSeconds: number
}

/** Seconds since the epoch, now. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

/**
 * The level an identity still stands for at `now`, by the same rule as the idp's
 * (src/idp/oidc/levels.ts, effectiveRank): phr falls to mfa `phrSeconds` after the sign-in;
 * mfa and phr fall to pwd `mfaSeconds` after it or `mfaIdleSeconds` after the session's last
 * use. A token says what the idp vouched for when it was issued; its `auth_time` still ages,
 * so a long-lived token cannot carry a fresh level past the limit. With no sign-in time
 * there is no elevation at all.
 */
export function standingLevel(identity: Identity, lifetimes: LevelLifetimes, now: number): number {
  const signedIn = acrLevel(identity.acr)
  if (signedIn <= 1) return signedIn
  const { authTime, lastUsedAt } = identity
  if (authTime === undefined || !Number.isFinite(authTime)) return 1
  const age = now - authTime
  const idle = lastUsedAt === undefined ? 0 : now - Math.max(lastUsedAt, authTime)
  if (age >= lifetimes.mfaSeconds || idle >= lifetimes.mfaIdleSeconds) return 1
  if (signedIn >= 3 && age >= lifetimes.phrSeconds) return 2
  return signedIn
}

/** The current name of each level, for what the gateway says of a level upstream. */
const acrOfLevel: Readonly<Record<number, string>> = {
  1: 'urn:satupintu:acr:pwd',
  2: 'urn:satupintu:acr:mfa',
  3: 'urn:satupintu:acr:phr',
}

const lowered = new WeakMap<Identity, Map<number, Identity>>()

/**
 * The identity with the level it stands for now (standingLevel) as its `acr`: what the
 * gateway tells an agency (X-Citizen-Acr, the assertion) is never more than the sign-in
 * still vouches for. The same object while the level holds; one derived object per lower
 * level, kept for the identity's life, so the assertion cache still finds its entries.
 */
export function asItStands(identity: Identity, lifetimes: LevelLifetimes, now: number = nowSeconds()): Identity {
  const signedIn = acrLevel(identity.acr)
  if (signedIn <= 1) return identity
  const standing = standingLevel(identity, lifetimes, now)
  if (standing >= signedIn) return identity
  let byLevel = lowered.get(identity)
  if (byLevel === undefined) {
    byLevel = new Map()
    lowered.set(identity, byLevel)
  }
  let derived = byLevel.get(standing)
  if (derived === undefined) {
    derived = Object.freeze({ ...identity, acr: acrOfLevel[standing] ?? 'urn:satupintu:acr:pwd' })
    byLevel.set(standing, derived)
  }
  return derived
}

/**
 * Why an identity falls short of a level: `level` when its sign-in never reached it (ask
 * for it), `age` when it did but that was too long ago (sign in again, RFC 9470 max_age),
 * undefined when it meets it.
 */
export function levelShortfall(
  identity: Identity,
  acr: string | undefined,
  lifetimes: LevelLifetimes,
  now: number,
): 'level' | 'age' | undefined {
  if (acr === undefined) return undefined
  const bar = acrLevel(acr)
  if (standingLevel(identity, lifetimes, now) >= bar) return undefined
  return acrLevel(identity.acr) >= bar ? 'age' : 'level'
}

/** The longest a sign-in may be ago and still stand for `acr` (RFC 9470 `max_age`). */
export function maxAgeFor(acr: string, lifetimes: LevelLifetimes): number | undefined {
  const bar = acrLevel(acr)
  if (bar >= 3) return lifetimes.phrSeconds
  if (bar === 2) return lifetimes.mfaSeconds
  return undefined
}

/**
 * The idp's identity levels, in order (its src/accounts/identity.ts; a contract over HTTP,
 * carried as the `identity_level` claim): how well the person behind the account was
 * proven. A check against the population register is worth an officer's check of the
 * KTP-el, so the two rank the same.
 */
const identityRanks: Readonly<Record<string, number>> = {
  self_asserted: 1,
  contact_verified: 2,
  in_person: 3,
  dukcapil: 3,
}

/** The level names an agency may write as `minIdentity`. */
export const knownIdentityLevels: readonly string[] = Object.keys(identityRanks)

/** The rank of a known identity level; 0 for anything else (an inherited key is no level). */
export function identityRank(level: string | undefined): number {
  return level !== undefined && Object.hasOwn(identityRanks, level) ? (identityRanks[level] as number) : 0
}

/** The identity level the idp gave the caller (`identity_level` in the token or userinfo), or ''. */
export function identityLevelOf(identity: Identity): string {
  const level = identity.claims.identity_level
  return typeof level === 'string' ? level : ''
}

/** Whether the caller's identity level is below a route's minimum. */
export function belowIdentity(identity: Identity, need: { readonly identity?: string | undefined }): boolean {
  return need.identity !== undefined && identityRank(identityLevelOf(identity)) < identityRank(need.identity)
}

/**
 * Whether `identity` meets a requirement: at least the level, as it stands now, the
 * identity level, and every scope. A client's own token has no citizen: it meets no
 * citizen's requirement, not even an empty one.
 */
export function meets(
  identity: Identity | undefined,
  need: {
    readonly acr?: string | undefined
    readonly scopes?: readonly string[] | undefined
    readonly identity?: string | undefined
  },
  lifetimes: LevelLifetimes,
  now: number = nowSeconds(),
): identity is Identity {
  if (identity === undefined || identity.via === 'client') return false
  if (levelShortfall(identity, need.acr, lifetimes, now) !== undefined) return false
  if (belowIdentity(identity, need)) return false
  return (need.scopes ?? []).every((s) => identity.scopes.includes(s))
}
