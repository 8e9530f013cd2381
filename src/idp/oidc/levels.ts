/**
 * How strongly a sign-in was authenticated, as `acr` values (docs/reference.md, "Levels of
 * sign-in"). Three levels, in order; each meets every level below it:
 * - `urn:satupintu:acr:pwd`: the password alone;
 * - `urn:satupintu:acr:mfa`: two factors (password and a code, or a passkey with user
 *   verification);
 * - `urn:satupintu:acr:phr`: phishing-resistant (a device-bound passkey with user
 *   verification; a synced passkey never counts, sign-in-level.ts).
 * How well the identity behind the account was proven is another question, answered by
 * the identity level and `verified_claims`, never by `acr`.
 *
 * The names of the first release (`urn:satupintu:loa:1`, `:2`, `:3`) stay accepted wherever
 * a level is asked for (acr_values, an essential acr claim, the gateway's minAcr), as
 * aliases of pwd, mfa and phr. Tokens carry the new names.
 */
export const acr = {
  pwd: 'urn:satupintu:acr:pwd',
  mfa: 'urn:satupintu:acr:mfa',
  phr: 'urn:satupintu:acr:phr',
} as const

export type Acr = (typeof acr)[keyof typeof acr]

/** The first release's names, and the level each now stands for. */
export const acrAliases: Readonly<Record<string, Acr>> = {
  'urn:satupintu:loa:1': acr.pwd,
  'urn:satupintu:loa:2': acr.mfa,
  'urn:satupintu:loa:3': acr.phr,
}

/** Advertised in discovery (`acr_values_supported`): the levels, then their old names. */
export const acrValuesSupported: readonly string[] = [acr.pwd, acr.mfa, acr.phr, ...Object.keys(acrAliases)]

const ranks: Readonly<Record<string, number>> = { [acr.pwd]: 1, [acr.mfa]: 2, [acr.phr]: 3 }

/** 1, 2 or 3 for a known level or alias; 0 for anything else (which meets nothing). */
export function acrRank(value: unknown): number {
  if (typeof value !== 'string') return 0
  // Own keys only: 'constructor' or '__proto__' is no level.
  const name = Object.hasOwn(acrAliases, value) ? (acrAliases[value] as string) : value
  return Object.hasOwn(ranks, name) ? (ranks[name] as number) : 0
}

/** The level of a rank (1 → pwd …); undefined for 0. */
export function acrOfRank(rank: number): Acr | undefined {
  return rank >= 3 ? acr.phr : rank === 2 ? acr.mfa : rank === 1 ? acr.pwd : undefined
}

/**
 * The lowest level an authorization request will accept, as a rank (0: none asked for).
 * `acr_values` lists the levels the client would take (OIDC Core §3.1.2.1): the lowest
 * known one of them is the bar. Unknown values are ignored (they cannot be given). The
 * claims parameter is off (provider.ts: requested claims stay bound to scopes and consent),
 * so an essential `acr` claim is not a way to ask; `acr_values` is.
 */
export function requiredRank(params: { acr_values?: unknown }): number {
  if (typeof params.acr_values !== 'string') return 0
  const known = params.acr_values
    .split(' ')
    .map(acrRank)
    .filter((r) => r > 0)
  return known.length === 0 ? 0 : Math.min(...known)
}

/** How long an elevated level lasts (config `signInLevels`). */
export interface LevelLifetimes {
  /** phr counts this long after the sign-in, then it is mfa. */
  readonly phrSeconds: number
  /** mfa (or phr) counts at most this long after the sign-in, then it is pwd. */
  readonly mfaSeconds: number
  /** ... and only while the session is used at least this often. */
  readonly mfaIdleSeconds: number
}

export interface SessionLevelFacts {
  /** The level the sign-in got (sign-in-level.ts). */
  readonly acr: unknown
  /** When the citizen signed in (epoch seconds; `auth_time`). */
  readonly authTime: number | undefined
  /** When the session was last used (epoch seconds); undefined when not known (a token). */
  readonly lastUsedAt?: number | undefined
}

/**
 * The rank a sign-in still vouches for at `now` (NIST SP 800-63B-4 §2.2.3 and §2.3.3: a
 * level's reauthentication limits). A device-bound passkey is phishing-resistant for
 * `phrSeconds` after the sign-in; after that, and for any two-factor sign-in, the session
 * stands for two factors until `mfaSeconds` after the sign-in or `mfaIdleSeconds` without
 * use, whichever comes first; then it is the password level. Past a limit the citizen
 * steps up again (the acr_unmet check, provider.ts). A level falls, never rises: the
 * answer never exceeds the sign-in's own rank. A sign-in with no known time keeps no
 * elevation at all.
 */
export function effectiveRank(facts: SessionLevelFacts, limits: LevelLifetimes, now: number): number {
  const signedIn = acrRank(facts.acr)
  if (signedIn <= 1) return signedIn
  const { authTime, lastUsedAt } = facts
  if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return 1
  const age = now - authTime
  const idle = typeof lastUsedAt === 'number' && Number.isFinite(lastUsedAt) ? now - Math.max(lastUsedAt, authTime) : 0
  if (age >= limits.mfaSeconds || idle >= limits.mfaIdleSeconds) return 1
  if (signedIn >= 3 && age >= limits.phrSeconds) return 2
  return signedIn
}

/**
 * When a provider session was last used, from its expiry: oidc-provider re-saves a session
 * on every use with the idle lifetime, capped by the absolute one (provider.ts, ttl.Session),
 * so `exp - idle` is the last use, or earlier when the cap decided (which only makes the
 * idle limit stricter). Undefined for a session never saved.
 */
export function sessionLastUsedAt(exp: unknown, sessionIdleSeconds: number): number | undefined {
  return typeof exp === 'number' && Number.isFinite(exp) ? exp - sessionIdleSeconds : undefined
}
