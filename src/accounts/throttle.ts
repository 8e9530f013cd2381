// Brute-force throttling of sign-in (docs/security.md line 9), per account and per source
// address, kept in the database so that every instance sees the same counters.
//
// How a sign-in uses it:
//   1. reserveAttempt() counts the attempt as a failure *before* the password is checked,
//      in one atomic statement per key (INSERT … ON CONFLICT … DO UPDATE … WHERE …
//      RETURNING) that also refuses it while the key is locked. Two instances, or fifty
//      parallel requests, can therefore never slip more guesses past a lock than the
//      policy allows, and the consecutive-failure cap really is a cap.
//   2. The password is verified.
//   3. On success, recordSuccess() clears the account's counter and gives back the one
//      failure it had counted for the source address. On failure there is nothing more to
//      do: the failure is already counted.
//
// Accounts: the first few failures are free; from `lockAfterFailures` on, each failure
// locks the account for baseLockSeconds · 2^(failures − lockAfterFailures), at most
// maxLockSeconds (30 s, 1 min, 2 min … 15 min). After maxConsecutiveFailures failures in a
// row (at most 100: NIST SP 800-63B-4 sec. 3.2.2, "limit consecutive failed
// authentication attempts on a single account to no more than 100") the account stays
// locked until a success path clears it: a password reset with a one-time code, or an
// officer. Counters do not decay with time, since a decay would let an attacker make 99
// guesses, wait, and make 99 more.
//
// An identifier that belongs to no account is throttled exactly like an account, under a
// key derived from the identifier (`unknownAccountKey`), so that being throttled says
// nothing about whether an account exists.
//
// Sources: at most `maxFailures` failures per fixed window of `windowSeconds` per address;
// IPv6 addresses count per /64, the smallest prefix a single subscriber usually gets
// (RFC 6177), so rotating through one's own /64 does not help.

import { createHash } from 'node:crypto'
import net from 'node:net'
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Database } from '../db/database.ts'

export interface AccountThrottlePolicy {
  /** The failure that first locks the account (with 5: four failures are free, the fifth locks). */
  readonly lockAfterFailures: number
  /** Lock after the `lockAfterFailures`-th failure; doubles with each further failure. */
  readonly baseLockSeconds: number
  readonly maxLockSeconds: number
  /** After this many failures in a row the account stays locked until cleared (≤ 100). */
  readonly maxConsecutiveFailures: number
}

export interface SourceThrottlePolicy {
  /** Failures allowed per address (IPv6: per /64) in one window. */
  readonly maxFailures: number
  readonly windowSeconds: number
}

export interface ThrottlePolicy {
  readonly account: AccountThrottlePolicy
  readonly source: SourceThrottlePolicy
}

export const defaultThrottlePolicy: ThrottlePolicy = Object.freeze({
  account: Object.freeze({
    lockAfterFailures: 5,
    baseLockSeconds: 30,
    maxLockSeconds: 15 * 60,
    maxConsecutiveFailures: 100,
  }),
  // A whole MPP hall (kiosks, the public Wi-Fi) can share one address: keep this well
  // above what one person mistyping produces, and rely on the per-account rule for the rest.
  source: Object.freeze({ maxFailures: 50, windowSeconds: 15 * 60 }),
})

/** Refuses a policy that cannot work or that breaks the docs/security.md bar, naming the key. */
export function validateThrottlePolicy(policy: ThrottlePolicy): ThrottlePolicy {
  const positive: Array<[string, number]> = [
    ['account.lockAfterFailures', policy.account.lockAfterFailures],
    ['account.baseLockSeconds', policy.account.baseLockSeconds],
    ['account.maxLockSeconds', policy.account.maxLockSeconds],
    ['account.maxConsecutiveFailures', policy.account.maxConsecutiveFailures],
    ['source.maxFailures', policy.source.maxFailures],
    ['source.windowSeconds', policy.source.windowSeconds],
  ]
  for (const [key, value] of positive) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`throttle policy: ${key} must be a positive integer`)
  }
  if (policy.account.maxConsecutiveFailures > 100) {
    throw new Error('throttle policy: account.maxConsecutiveFailures must be at most 100 (docs/security.md line 9)')
  }
  if (policy.account.maxLockSeconds < policy.account.baseLockSeconds) {
    throw new Error('throttle policy: account.maxLockSeconds must not be less than account.baseLockSeconds')
  }
  return policy
}

export interface ThrottleKeys {
  /** accountKey(id) for a known account, unknownAccountKey(…) otherwise. */
  readonly account: string
  /** sourceKey(ip); undefined when the address is not known. */
  readonly source?: string | undefined
}

export type ThrottleDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false
      readonly scope: 'account' | 'source'
      /** For a `Retry-After` header. For a permanent lock: the longest lock, as a hint. */
      readonly retryAfterSeconds: number
      /** Locked until a password reset or an officer clears it. */
      readonly permanent: boolean
    }

export interface ThrottleOptions {
  readonly policy?: ThrottlePolicy
  /** The current time; tests move it. */
  readonly now?: Date
}

export function accountKey(accountId: string): string {
  return `account:${accountId}`
}

/**
 * The key of an identifier that matches no account. Hashed, so that the table holds no
 * NIK or email address of people who may not even be citizens of the regency.
 */
export function unknownAccountKey(kind: string, normalizedIdentifier: string): string {
  const digest = createHash('sha256').update(`${kind}:${normalizedIdentifier}`).digest('base64url')
  return `account:unknown:${digest}`
}

/** `id:<hash>` of an identifier as typed (its kind and normalised value): never the value itself. */
export function identifierKey(kind: string, normalizedIdentifier: string): string {
  return `id:${createHash('sha256').update(`${kind}:${normalizedIdentifier}`).digest('base64url').slice(0, 22)}`
}

/** `ip:<IPv4>` or `ip:<first four IPv6 groups>::/64`; undefined when `ip` is not an address. */
export function sourceKey(ip: string | undefined): string | undefined {
  if (typeof ip !== 'string') return undefined
  let address = ip.trim()
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1)
  const zone = address.indexOf('%')
  if (zone >= 0) address = address.slice(0, zone)
  if (net.isIPv4(address)) return `ip:${address}`
  if (!net.isIPv6(address)) return undefined
  const groups = expandIPv6(address)
  if (groups === undefined) return undefined
  // An IPv4 client seen through a dual-stack socket (::ffff:a.b.c.d) is that IPv4 client.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6)
    return `ip:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  }
  return `ip:${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`
}

function expandIPv6(address: string): number[] | undefined {
  let text = address.toLowerCase()
  // A trailing dotted IPv4 part stands for the last two groups.
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const octets = tail.split('.').map(Number)
    if (octets.length !== 4) return undefined
    const [a = 0, b = 0, c = 0, d = 0] = octets
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)))
  const head = parse(halves[0] ?? '')
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : []
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest]
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined
}

/** What the current counters say, without counting anything (for a form that waits). */
export async function checkThrottle(
  db: Kysely<Database>,
  keys: ThrottleKeys,
  options: ThrottleOptions = {},
): Promise<ThrottleDecision> {
  const policy = options.policy ?? defaultThrottlePolicy
  const now = options.now ?? new Date()
  const wanted = keys.source === undefined ? [keys.account] : [keys.account, keys.source]
  const rows = await db.selectFrom('login_attempts').selectAll().where('key', 'in', wanted).execute()
  const source = rows.find((r) => r.key === keys.source)
  if (source !== undefined) {
    const decision = sourceDecision(source, policy.source, now)
    if (!decision.allowed) return decision
  }
  const account = rows.find((r) => r.key === keys.account)
  return account === undefined ? { allowed: true } : accountDecision(account, policy.account, now)
}

/**
 * Counts one attempt as a failure for the source and the account, unless one of them is
 * locked, in which case nothing is counted and the attempt must not go ahead. Follow an
 * allowed attempt that succeeds with recordSuccess().
 */
export async function reserveAttempt(
  db: Kysely<Database>,
  keys: ThrottleKeys,
  options: ThrottleOptions = {},
): Promise<ThrottleDecision> {
  const policy = options.policy ?? defaultThrottlePolicy
  const now = options.now ?? new Date()
  if (keys.source !== undefined) {
    const source = await countSourceFailure(db, keys.source, policy.source, now, true)
    if (!source.allowed) return source
  }
  const account = await countAccountFailure(db, keys.account, policy.account, now, true)
  if (!account.allowed && keys.source !== undefined) {
    // The attempt does not happen, so it must not use up the address's allowance.
    await giveBackSourceFailure(db, keys.source)
  }
  return account
}

/**
 * A fixed-window allowance per source address for an action that costs us or a citizen
 * something even when it succeeds (registrations, codes sent by e-mail or SMS): each call
 * takes one from `action`'s allowance of the address. Kept in the database like the
 * sign-in counters, so it holds across instances.
 */
export async function takeSourceAllowance(
  db: Kysely<Database>,
  action: string,
  ip: string | undefined,
  policy: SourceThrottlePolicy,
  options: { readonly now?: Date } = {},
): Promise<ThrottleDecision> {
  const key = sourceKey(ip)
  if (key === undefined) return { allowed: true }
  return countSourceFailure(db, `${action}:${key}`, policy, options.now ?? new Date(), true)
}

/**
 * What `action`'s allowance of an address says now, without taking from it: for an action
 * that counts only its failures (takeSourceAllowance after each one) and must stop once
 * they are too many.
 */
export async function checkSourceAllowance(
  db: Kysely<Database>,
  action: string,
  ip: string | undefined,
  policy: SourceThrottlePolicy,
  options: { readonly now?: Date } = {},
): Promise<ThrottleDecision> {
  const key = sourceKey(ip)
  if (key === undefined) return { allowed: true }
  const row = await db.selectFrom('login_attempts').selectAll().where('key', '=', `${action}:${key}`).executeTakeFirst()
  return row === undefined ? { allowed: true } : sourceDecision(row, policy, options.now ?? new Date())
}

/**
 * Counts a failure that was not reserved (a check made outside reserveAttempt), whatever
 * the current lock. Never counts an account past maxConsecutiveFailures. Returns what the
 * counters now say about the next attempt.
 */
export async function recordFailure(
  db: Kysely<Database>,
  keys: ThrottleKeys,
  options: ThrottleOptions = {},
): Promise<ThrottleDecision> {
  const policy = options.policy ?? defaultThrottlePolicy
  const now = options.now ?? new Date()
  if (keys.source !== undefined) await countSourceFailure(db, keys.source, policy.source, now, false)
  await countAccountFailure(db, keys.account, policy.account, now, false)
  return checkThrottle(db, keys, { policy, now })
}

/**
 * After a successful sign-in (reserved with reserveAttempt): clears the account's counter
 * and gives back the failure counted in advance for the source. The source's other
 * failures stay: one account's success says nothing about the other guesses from there.
 * Also the way a password reset or an officer lifts a lock (with only `account`).
 */
export async function recordSuccess(db: Kysely<Database>, keys: ThrottleKeys): Promise<void> {
  await db.deleteFrom('login_attempts').where('key', '=', keys.account).execute()
  if (keys.source !== undefined) await giveBackSourceFailure(db, keys.source)
}

/**
 * Housekeeping (scheduled by the idp, src/idp/app.ts): deletes source counters whose
 * window has ended (and those of other actions, a day after theirs began), and the per-pair counters of a citizen's sign-in (account and address,
 * account and device) that are unlocked and saw no failure for `pairIdleSeconds` (one
 * day by default), so that a stranger trying many addresses does not grow the table for
 * ever. Account-wide counters stay: they are the bar of docs/security.md line 9.
 */
/** How long an action's per-address counter is kept after its window began: a day. */
export const prefixedSourceKeepSeconds = 24 * 3600

export async function pruneSourceCounters(
  db: Kysely<Database>,
  options: ThrottleOptions & { readonly pairIdleSeconds?: number } = {},
): Promise<number> {
  const policy = options.policy ?? defaultThrottlePolicy
  const now = options.now ?? new Date()
  const windowStart = new Date(now.getTime() - policy.source.windowSeconds * 1000)
  const result = await db
    .deleteFrom('login_attempts')
    .where('key', 'like', 'ip:%')
    .where('first_failure_at', '<=', windowStart)
    .executeTakeFirst()
  // The same counters under an action's prefix (`second-factor:ip:…`, `register:ip:…`,
  // `reset:ip:…`): their windows are the caller's own (an hour for registrations), so they
  // go once a day has passed since their window began, longer than any window in use.
  const prefixed = await db
    .deleteFrom('login_attempts')
    .where('key', 'like', '%:ip:%')
    .where('key', 'not like', '%|%')
    .where('first_failure_at', '<=', new Date(now.getTime() - prefixedSourceKeepSeconds * 1000))
    .executeTakeFirst()
  const idleSince = new Date(now.getTime() - (options.pairIdleSeconds ?? 24 * 3600) * 1000)
  const pairs = await db
    .deleteFrom('login_attempts')
    .where('key', 'like', '%|%')
    .where('last_failure_at', '<=', idleSince)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]))
    .executeTakeFirst()
  return Number(result.numDeletedRows) + Number(prefixed.numDeletedRows) + Number(pairs.numDeletedRows)
}

// ---------------------------------------------------------------------------------------

/** The lock after `failures` failures, as a SQL expression over the row being updated. */
function lockUntilExpression(
  failures: RawBuilder<number>,
  policy: AccountThrottlePolicy,
  now: Date,
): RawBuilder<Date | null> {
  return sql<Date | null>`case when ${failures} >= ${policy.lockAfterFailures}
    then cast(${now.toISOString()} as timestamptz) + make_interval(secs => least(
      ${policy.baseLockSeconds}::float8 * power(2::float8, ${failures} - ${policy.lockAfterFailures}),
      ${policy.maxLockSeconds}::float8))
    else null end`
}

async function countAccountFailure(
  db: Kysely<Database>,
  key: string,
  policy: AccountThrottlePolicy,
  now: Date,
  guarded: boolean,
): Promise<ThrottleDecision> {
  const next = sql<number>`least(login_attempts.failures + 1, ${policy.maxConsecutiveFailures}::int)`
  for (let attempt = 0; attempt < 2; attempt++) {
    const row = await db
      .insertInto('login_attempts')
      .values({
        key,
        failures: 1,
        first_failure_at: now,
        last_failure_at: now,
        locked_until: lockUntilExpression(sql<number>`1`, policy, now),
      })
      .onConflict((oc) => {
        const update = oc.column('key').doUpdateSet({
          failures: next,
          last_failure_at: now,
          locked_until: lockUntilExpression(next, policy, now),
        })
        return guarded
          ? update.where((eb) =>
              eb.and([
                eb.or([eb('login_attempts.locked_until', 'is', null), eb('login_attempts.locked_until', '<=', now)]),
                eb('login_attempts.failures', '<', policy.maxConsecutiveFailures),
              ]),
            )
          : update
      })
      .returning('key')
      .executeTakeFirst()
    if (row !== undefined) return { allowed: true }
    const current = await db.selectFrom('login_attempts').selectAll().where('key', '=', key).executeTakeFirst()
    // Gone or unlocked between the two statements: try once more.
    if (current === undefined) continue
    const decision = accountDecision(current, policy, now)
    if (!decision.allowed) return decision
  }
  return { allowed: false, scope: 'account', retryAfterSeconds: 1, permanent: false }
}

async function countSourceFailure(
  db: Kysely<Database>,
  key: string,
  policy: SourceThrottlePolicy,
  now: Date,
  guarded: boolean,
): Promise<ThrottleDecision> {
  const windowStart = new Date(now.getTime() - policy.windowSeconds * 1000)
  const windowOver = sql<boolean>`(login_attempts.first_failure_at <= cast(${windowStart.toISOString()} as timestamptz))`
  for (let attempt = 0; attempt < 2; attempt++) {
    const row = await db
      .insertInto('login_attempts')
      .values({ key, failures: 1, first_failure_at: now, last_failure_at: now, locked_until: null })
      .onConflict((oc) => {
        const update = oc.column('key').doUpdateSet({
          failures: sql<number>`case when ${windowOver} then 1 else login_attempts.failures + 1 end`,
          first_failure_at: sql<Date>`case when ${windowOver} then cast(${now.toISOString()} as timestamptz) else login_attempts.first_failure_at end`,
          last_failure_at: now,
        })
        return guarded
          ? update.where((eb) => eb.or([windowOver, eb('login_attempts.failures', '<', policy.maxFailures)]))
          : update
      })
      .returning('key')
      .executeTakeFirst()
    if (row !== undefined) return { allowed: true }
    const current = await db.selectFrom('login_attempts').selectAll().where('key', '=', key).executeTakeFirst()
    if (current === undefined) continue
    const decision = sourceDecision(current, policy, now)
    if (!decision.allowed) return decision
  }
  return { allowed: false, scope: 'source', retryAfterSeconds: 1, permanent: false }
}

async function giveBackSourceFailure(db: Kysely<Database>, key: string): Promise<void> {
  await db
    .updateTable('login_attempts')
    .set({ failures: sql<number>`greatest(failures - 1, 0)` })
    .where('key', '=', key)
    .execute()
}

interface CounterRow {
  readonly failures: number
  readonly first_failure_at: Date
  readonly locked_until: Date | null
}

function accountDecision(row: CounterRow, policy: AccountThrottlePolicy, now: Date): ThrottleDecision {
  if (row.failures >= policy.maxConsecutiveFailures) {
    return { allowed: false, scope: 'account', retryAfterSeconds: policy.maxLockSeconds, permanent: true }
  }
  if (row.locked_until !== null && row.locked_until.getTime() > now.getTime()) {
    return {
      allowed: false,
      scope: 'account',
      retryAfterSeconds: secondsUntil(row.locked_until, now),
      permanent: false,
    }
  }
  return { allowed: true }
}

function sourceDecision(row: CounterRow, policy: SourceThrottlePolicy, now: Date): ThrottleDecision {
  const windowEnd = new Date(row.first_failure_at.getTime() + policy.windowSeconds * 1000)
  if (row.failures >= policy.maxFailures && windowEnd.getTime() > now.getTime()) {
    return { allowed: false, scope: 'source', retryAfterSeconds: secondsUntil(windowEnd, now), permanent: false }
  }
  return { allowed: true }
}

function secondsUntil(when: Date, now: Date): number {
  return Math.max(1, Math.ceil((when.getTime() - now.getTime()) / 1000))
}

// ---------------------------------------------------------------------------------------
// Citizens' sign-in: a lock that a stranger cannot turn against the owner (docs/security.md
// line 38), without giving up line 9.
//
// With the NIK alone (it is not a secret) anyone could keep an account locked under the
// account-wide rule above: every lock they provoke also refuses the owner's right
// password. So for a citizen's sign-in the time locks apply per *source*:
//   - per account and address (`<account key>|ip:…`): the exponential lock above
//     (30 s, 1 min … 15 min after the fifth failure). An attacker locks out their own
//     address, not the owner's phone;
//   - per address across accounts (the source window above), unchanged;
//   - per account and known device (`<account key>|device:…`): a browser that signed in
//     to this account before carries a signed device cookie (OWASP Blocking Brute Force
//     Attacks, "device cookies"); it has its own exponential lock and at most
//     `deviceMaxFailures` failures in a row.
// The account-wide counter still counts every failure in a row, from anywhere, and never
// goes past `maxConsecutiveFailures` (≤ 100, NIST SP 800-63B-4 §3.2.2), known devices
// included. Sources the account does not know are refused `deviceMaxFailures` earlier
// (at 90 by default), which keeps the last failures for the owner's known devices: a
// stranger's run leaves them room to sign in, and all of them together still cannot go
// past the bar. Refused sources stay refused until a success clears the counter: one of
// the owner's known devices signs in as before, and a new device gets in with a password
// reset (a code to a verified contact). The owner is told of the failures when the counter reaches
// `noticeAfterFailures` and again at the cap (src/accounts/notices.ts).

export interface SignInThrottlePolicy {
  /** Per account and address, and per account and known device: the exponential lock. */
  readonly lock: AccountThrottlePolicy
  /** Failures in a row on one account from anywhere before unknown sources are refused (≤ 100). */
  readonly maxConsecutiveFailures: number
  /** Failures in a row a known device may make before it, too, is refused. */
  readonly deviceMaxFailures: number
  /** The owner is told when the account's failures in a row reach this (and at the cap). */
  readonly noticeAfterFailures: number
  readonly source: SourceThrottlePolicy
}

export const defaultSignInPolicy: SignInThrottlePolicy = Object.freeze({
  lock: defaultThrottlePolicy.account,
  maxConsecutiveFailures: 100,
  deviceMaxFailures: 10,
  noticeAfterFailures: 10,
  source: defaultThrottlePolicy.source,
})

export interface SignInKeys {
  /** accountKey(id), or unknownAccountKey(…) for an identifier of no account. */
  readonly account: string
  readonly source?: string | undefined
  /** The device id of a valid device cookie for this account (src/idp/known-devices.ts). */
  readonly device?: string | undefined
  /**
   * identifierKey(…) of what was typed (the NIK, the e-mail or the phone number). An
   * address's lock is per identifier as well, so that a lock earned with the NIK does not
   * show when the account's e-mail is tried next: an e-mail of no account would not be
   * locked, and the difference would tell that the two belong together.
   */
  readonly identifier?: string | undefined
}

export type SignInDecision =
  | {
      readonly allowed: true
      /** The account's failures in a row, this attempt counted. */
      readonly accountFailures: number
      /** When that run of failures began. */
      readonly firstFailureAt: Date
    }
  | (Exclude<ThrottleDecision, { allowed: true }> & {
      /**
       * Refused by the account-wide count, which every identifier of the account shares: the
       * caller must answer as for a wrong password, or the refusal would tell that an e-mail
       * or phone number belongs to a NIK that was hammered (docs/security.md line 37).
       */
      readonly accountWide?: true
    })

/**
 * The account's failures in a row at which sources it does not know are refused: the bar
 * less what the owner's known devices may still use, so that all failures together never
 * exceed `maxConsecutiveFailures` (docs/security.md line 9).
 */
export function unknownSourceCap(policy: SignInThrottlePolicy): number {
  return Math.max(1, policy.maxConsecutiveFailures - policy.deviceMaxFailures)
}

function pairKey(keys: SignInKeys): string {
  if (keys.device !== undefined) return `${keys.account}|device:${keys.device}`
  // An attempt whose address is not known shares one pair: it is still locked in time.
  // The key keeps the `<account>|` prefix that recordSignInSuccess and pruning match.
  const identifier = keys.identifier !== undefined ? `${keys.identifier}|` : ''
  return `${keys.account}|${identifier}${keys.source ?? 'ip:unknown'}`
}

/**
 * Counts one sign-in attempt as a failure in advance (like reserveAttempt) for the
 * source, the account-and-source (or account-and-device) pair, and the account, unless
 * one of them refuses it. Follow a success with recordSignInSuccess().
 */
export async function reserveSignInAttempt(
  db: Kysely<Database>,
  keys: SignInKeys,
  options: { readonly policy?: SignInThrottlePolicy; readonly now?: Date } = {},
): Promise<SignInDecision> {
  const policy = options.policy ?? defaultSignInPolicy
  const now = options.now ?? new Date()
  const given: Array<() => Promise<void>> = []
  const giveBack = async () => {
    for (const g of given.reverse()) await g()
  }
  if (keys.source !== undefined) {
    const source = await countSourceFailure(db, keys.source, policy.source, now, true)
    if (!source.allowed) return source
    const key = keys.source
    given.push(() => giveBackSourceFailure(db, key))
  }
  const pair = pairKey(keys)
  {
    const lock =
      keys.device !== undefined
        ? { ...policy.lock, maxConsecutiveFailures: policy.deviceMaxFailures }
        : { ...policy.lock, maxConsecutiveFailures: policy.maxConsecutiveFailures }
    const decision = await countAccountFailure(db, pair, lock, now, true)
    if (!decision.allowed) {
      await giveBack()
      return decision
    }
    given.push(() => giveBackSourceFailure(db, pair))
  }
  // The account-wide count: a known device is refused at the bar, anyone else at the bar
  // less the known devices' share (unknownSourceCap).
  const cap = keys.device !== undefined ? policy.maxConsecutiveFailures : unknownSourceCap(policy)
  const next = sql<number>`least(login_attempts.failures + 1, ${policy.maxConsecutiveFailures}::int)`
  const row = await db
    .insertInto('login_attempts')
    .values({ key: keys.account, failures: 1, first_failure_at: now, last_failure_at: now, locked_until: null })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({ failures: next, last_failure_at: now }).where('login_attempts.failures', '<', cap),
    )
    .returning(['failures', 'first_failure_at'])
    .executeTakeFirst()
  if (row === undefined) {
    await giveBack()
    return {
      allowed: false,
      scope: 'account',
      retryAfterSeconds: policy.lock.maxLockSeconds,
      permanent: true,
      accountWide: true,
    }
  }
  return { allowed: true, accountFailures: row.failures, firstFailureAt: row.first_failure_at }
}

/**
 * After a successful sign-in: clears the account's counters (account-wide, and every
 * address and device pair of it) and gives back the source's reserved failure. Also how
 * a password reset lifts the account-wide refusal (with only `account`).
 */
export async function recordSignInSuccess(
  db: Kysely<Database>,
  keys: { readonly account: string; readonly source?: string | undefined },
): Promise<void> {
  await db
    .deleteFrom('login_attempts')
    .where((eb) =>
      eb.or([eb('key', '=', keys.account), eb('key', 'like', `${keys.account.replace(/[\\%_]/g, '\\$&')}|%`)]),
    )
    .execute()
  if (keys.source !== undefined) await giveBackSourceFailure(db, keys.source)
}
