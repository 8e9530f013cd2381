// The append-only audit trail (table audit_events; the database refuses updates).
//
// UU PDP: a citizen can see every access to their data, so every sign-in, consent, token,
// officer look-up and change of their account is written here with the citizen as the
// subject. The trail itself must not become a leak: `data` may never hold a password,
// token, one-time code or other secret (recordAudit refuses such keys, so the mistake is
// caught by the first test that makes it), and a NIK in it is masked.

import { AsyncLocalStorage } from 'node:async_hooks'
import { sql, type InsertObject, type Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import type { AuditEvent } from '../db/tables/audit-events.ts'
import { maskNik, maskNiksIn } from './redact.ts'

export const auditEventNames = [
  'auth.login.succeeded',
  'auth.login.failed',
  'auth.login.throttled',
  'auth.logout',
  'auth.second_factor.failed',
  'auth.second_factor.throttled',
  'account.second_factor_added',
  'account.second_factor_removed',
  'account.passkey_renamed',
  'auth.passkey.failed',
  'account.recovery_codes_renewed',
  'account.recovery_code_used',
  'account.registered',
  'account.registration_refused',
  'account.password_changed',
  'account.profile_changed',
  'account.email_verified',
  'account.phone_verified',
  'account.disabled',
  'account.enabled',
  'account.assurance_raised',
  'account.identity_proven',
  'account.nik_withdrawn',
  'officer.created',
  'officer.enrolment_code_issued',
  'officer.factors_reset',
  'officer.signed_in',
  'citizen.looked_up',
  'consent.granted',
  'consent.revoked',
  'token.issued',
  'token.revoked',
  'otp.sent',
  'otp.verified',
  'otp.failed',
  'document.uploaded',
  'document.fetched',
  'document.deleted',
  'document.verified',
  'document.purged',
  'document.fetch_refused',
  'document.grant_created',
  'document.grant_revoked',
  'data.exported',
  'keys.rotated',
  'client.registered',
  'client.removed',
  'client.secret_rotated',
  'kiosk.registered',
  'kiosk.disabled',
  'kiosk.key_rotated',
  'counter.registered',
  'counter.disabled',
  'officer.counter_chosen',
] as const

export type AuditEventName = (typeof auditEventNames)[number]

/** Who acted (audit_events.actor). */
export type AuditActor = `citizen:${string}` | `officer:${string}` | `client:${string}` | 'system' | 'cli' | 'anonymous'

export interface AuditEntry {
  readonly event: AuditEventName
  readonly actor: AuditActor
  /** The citizen whose data it concerns. */
  readonly subjectId?: string | undefined
  /** Relying party or agency involved. */
  readonly clientId?: string | undefined
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
  readonly data?: Readonly<Record<string, unknown>> | undefined
}

/** `data` was refused: it holds a secret, or it is too large or too deep. */
export class AuditDataError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AuditDataError'
  }
}

// Words that must not name a key in `data`, matched against the key's words (camelCase,
// snake_case and kebab-case are split), so that `newPassword`, `access_token`, `otpCode`
// and `clientSecret` are all caught. A harmless key that names a credential
// (`passwordPolicy`) is refused too: a false refusal costs a renamed key, a miss costs a
// secret in a permanent record.
const SECRET_WORDS = new Set([
  'password',
  'passwords',
  'passwd',
  'pwd',
  'passphrase',
  'pin',
  'token',
  'tokens',
  'otp',
  'code',
  'codes',
  'secret',
  'secrets',
  'credential',
  'credentials',
  'cookie',
  'cookies',
  'authorization',
  'hash',
  'jwt',
  'assertion',
  'apikey',
  'privatekey',
])

const MAX_DATA_CHARS = 16 * 1024
const MAX_DEPTH = 8

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '')
}

function isSecretKey(key: string): boolean {
  const words = keyWords(key)
  if (words.some((w) => SECRET_WORDS.has(w))) return true
  // Also "apiKey", "private_key" written as one or two words.
  const joined = words.join('')
  return joined === 'apikey' || joined === 'privatekey' || joined === 'accesskey'
}

function sanitize(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new AuditDataError(`audit: data is nested too deeply at ${path}`)
  if (typeof value === 'string') return maskNiksIn(value)
  // A 16-digit NIK fits in a double exactly (< 2^53), so it can arrive as a number.
  if (typeof value === 'number')
    return Number.isInteger(value) && /^[0-9]{16}$/.test(String(Math.abs(value)))
      ? maskNik(String(Math.abs(value)))
      : value
  if (typeof value === 'bigint') return maskNiksIn(value.toString())
  if (value === null || typeof value === 'boolean' || value === undefined) return value
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map((v, i) => sanitize(v, `${path}[${i}]`, depth + 1))
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const where = path === '' ? k : `${path}.${k}`
      if (isSecretKey(k)) throw new AuditDataError(`audit: data key "${where}" looks like a secret and is refused`)
      out[maskNiksIn(k)] = sanitize(v, where, depth + 1)
    }
    return out
  }
  throw new AuditDataError(`audit: data at ${path || 'top level'} is not JSON (${typeof value})`)
}

/** Checks and masks `data` as recordAudit would, without writing (exported for tests and callers). */
export function sanitizeAuditData(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const clean = sanitize(data, '', 0) as Record<string, unknown>
  if (JSON.stringify(clean).length > MAX_DATA_CHARS) throw new AuditDataError('audit: data is larger than 16 KiB')
  return clean
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type NewAuditRow = InsertObject<Database, 'audit_events'>

/**
 * Who is told of each entry recorded within the current request: the serving instance's
 * metrics (src/http/metrics.ts counts sign-ins and throttle locks from these), set per
 * request so that two instances in one process each count only their own.
 */
export const auditObservers = new AsyncLocalStorage<(entry: AuditEntry) => void>()

/** Appends one entry. Pass a transaction to write it together with the change it records. */
export async function recordAudit(db: Kysely<Database>, entry: AuditEntry): Promise<string> {
  if (!(auditEventNames as readonly string[]).includes(entry.event))
    throw new AuditDataError(`audit: unknown event ${String(entry.event)}`)
  if (entry.subjectId !== undefined && !UUID.test(entry.subjectId))
    throw new AuditDataError('audit: subjectId is not a citizen id')
  const data = sanitizeAuditData(entry.data ?? {})
  auditObservers.getStore()?.(entry)
  const row = {
    event: entry.event,
    actor: maskNiksIn(entry.actor),
    subject_id: entry.subjectId ?? null,
    client_id: entry.clientId ?? null,
    ip: entry.ip ?? null,
    request_id: entry.requestId ?? null,
    data: JSON.stringify(data),
  }
  // In a transaction the entry belongs to it: written (or rolled back) with the change.
  if (db.isTransaction) return insertOne(db, row)
  return batcherFor(db).add(row)
}

async function insertOne(db: Kysely<Database>, row: NewAuditRow): Promise<string> {
  const inserted = await db.insertInto('audit_events').values(row).returning('id').executeTakeFirstOrThrow()
  return inserted.id
}

// ---------------------------------------------------------------------------------------
// Group commit of entries written outside a transaction.
//
// Each such entry was its own INSERT and commit: one of the two statements of every
// client-credentials grant (`token.issued`), and 1,500 synchronous commits a second at
// the target rate. Entries that arrive while one batch is being written go into
// the next, written as one multi-row INSERT (one statement, one commit).
//
// Durability is unchanged: recordAudit still resolves only after its row is committed,
// so a caller that awaits it before answering never answers for an entry that a crash
// could lose. What a caller that does not wait (`void recordAudit(…)`) risks on a crash
// is what it risked before — the entries not yet committed — and an entry waits at most
// for the batch ahead of it (one INSERT) before its own is sent.
//
// Time: `at` is clock_timestamp() per row, the moment the row is written (now() would be
// one time for the whole batch). Entries of one batch were recorded concurrently, by
// different requests, and have no order among them; entries a request records one after
// the other (awaiting each) are in successive batches, in order.

/** Most entries in one INSERT. */
const maxBatch = 500

interface Waiting {
  readonly row: NewAuditRow
  resolve(id: string): void
  reject(err: unknown): void
}

class AuditBatcher {
  readonly #db: Kysely<Database>
  #queue: Waiting[] = []
  #writing = false
  #scheduled = false

  constructor(db: Kysely<Database>) {
    this.#db = db
  }

  add(row: NewAuditRow): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.#queue.push({ row, resolve, reject })
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing) return
    this.#scheduled = true
    // After the current turn of the event loop: entries recorded by the requests handled
    // in it share the INSERT.
    setImmediate(() => {
      this.#scheduled = false
      void this.#write()
    })
  }

  async #write(): Promise<void> {
    if (this.#writing || this.#queue.length === 0) return
    this.#writing = true
    const batch = this.#queue.splice(0, maxBatch)
    try {
      if (batch.length === 1) {
        const only = batch[0] as Waiting
        try {
          only.resolve(await insertOne(this.#db, { ...only.row, at: sql<Date>`clock_timestamp()` }))
        } catch (err) {
          only.reject(err)
        }
      } else {
        await this.#writeMany(batch)
      }
    } finally {
      this.#writing = false
      if (this.#queue.length > 0) this.#schedule()
    }
  }

  async #writeMany(batch: Waiting[]): Promise<void> {
    let ids: string[]
    try {
      // RETURNING gives the rows of a VALUES list in its order (PostgreSQL inserts them in
      // that order); the ids are matched back by position.
      const rows = await this.#db
        .insertInto('audit_events')
        .values(batch.map((w) => ({ ...w.row, at: sql<Date>`clock_timestamp()` })))
        .returning('id')
        .execute()
      ids = rows.map((r) => r.id)
    } catch {
      // One entry's failure must not take the others with it: write each on its own.
      await Promise.all(
        batch.map(async (w) => {
          try {
            w.resolve(await insertOne(this.#db, w.row))
          } catch (err) {
            w.reject(err)
          }
        }),
      )
      return
    }
    batch.forEach((w, i) => {
      const id = ids[i]
      if (id === undefined) w.reject(new Error('audit: the database returned fewer ids than rows'))
      else w.resolve(id)
    })
  }
}

const batchers = new WeakMap<Kysely<Database>, AuditBatcher>()

function batcherFor(db: Kysely<Database>): AuditBatcher {
  let b = batchers.get(db)
  if (b === undefined) {
    b = new AuditBatcher(db)
    batchers.set(db, b)
  }
  return b
}

/** A citizen's trail, newest first (for the account page and the data export). */
export async function listAuditForSubject(
  db: Kysely<Database>,
  subjectId: string,
  options: { readonly limit?: number; readonly before?: Date; readonly actorKind?: 'client' | 'officer' } = {},
): Promise<AuditEvent[]> {
  if (!UUID.test(subjectId)) return []
  const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 1000)
  let query = db.selectFrom('audit_events').selectAll().where('subject_id', '=', subjectId)
  if (options.before !== undefined) query = query.where('at', '<', options.before)
  // Who acted, by the kind of actor (AuditActor): an agency's systems, or an officer.
  if (options.actorKind !== undefined) query = query.where('actor', 'like', `${options.actorKind}:%`)
  return query.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit).execute()
}
