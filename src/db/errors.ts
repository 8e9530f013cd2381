import { AppError, isAppError } from '../errors/app-error.ts'

/**
 * Seconds a client is asked to wait (`Retry-After`, RFC 9110 §10.2.3) after a request
 * failed because the database could not be reached. Short: the services reconnect on
 * their own as soon as the database answers again, so a retry soon after usually works.
 */
export const databaseRetryAfterSeconds = 5

/** The one error a request sees when the database is unreachable, slow past its deadline, or gone. */
export function databaseUnavailable(cause: unknown, reason?: string): AppError {
  return new AppError('database_unavailable', reason, {
    cause,
    headers: { 'retry-after': String(databaseRetryAfterSeconds) },
  })
}

/**
 * Socket-level errors. Only meaningful on an error known to come from the database
 * client (the pool wrapper in create.ts checks them there): the same codes from an agency
 * upstream or an HTTP fetch say nothing about the database.
 */
export const socketErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
])

/**
 * SQLSTATEs that say the server cannot serve now (PostgreSQL, Appendix A "Error Codes"):
 * class 08 connection exception; 53300 too_many_connections; 57014 query_canceled (the
 * statement_timeout fired); 57P01–57P05 admin/crash shutdown, cannot_connect_now, idle
 * session timeouts; 25P03 idle_in_transaction_session_timeout.
 */
function unavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') || ['53300', '57014', '57P01', '57P02', '57P03', '57P04', '57P05', '25P03'].includes(code)
  )
}

/**
 * What `pg`, pg-pool, PGlite and Kysely say when there is no usable connection. They
 * carry no code, so the message is all there is to go by.
 */
const unavailableMessages = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^Cannot use a pool after calling end on the pool/,
  /^Query read timeout/,
  /^PGlite is clos(ed|ing)/,
  /^driver has already been destroyed/,
]

/**
 * Whether `err` (or anything in its cause chain) means the database could not serve the
 * request: no connection, a dead connection, a deadline passed, the server shutting down.
 * A constraint violation, a syntax error or a serialisation failure is not that: those are
 * answers from a working database.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  let e: unknown = err
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (isAppError(e) && e.code === 'database_unavailable') return true
    // PGlite's WebAssembly died (out of memory, an abort): it answers nothing any more.
    if (e instanceof Error && e.name === 'RuntimeError' && e.constructor.name === 'RuntimeError') return true
    if (e instanceof AggregateError && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && unavailableSqlState(code)) return true
    const message = (e as { message?: unknown }).message
    if (typeof message === 'string' && unavailableMessages.some((m) => m.test(message))) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}
