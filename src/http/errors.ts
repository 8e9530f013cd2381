import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { databaseUnavailable, isDatabaseUnavailable } from '../db/errors.ts'
import { AppError, isAppError } from '../errors/app-error.ts'
import { errorCodes, type ErrorCode } from '../errors/codes.ts'
import { referenceCode } from './reference-code.ts'

/** The JSON error body every API answers with. */
export interface ErrorBody {
  error: ErrorCode
  message: string
  request_id: string
  details?: Record<string, unknown>
}

export interface ErrorPageInput {
  status: number
  code: ErrorCode
  /** Safe to show: the exposed message of a 4xx, never a 5xx's internals. */
  message: string
  requestId: string
}

export interface ErrorHandlerOptions {
  /** Renders the page for a browser; without it a minimal built-in page is sent. */
  renderPage?: (req: FastifyRequest, reply: FastifyReply, input: ErrorPageInput) => string
}

/** Fastify's own error codes mapped to ours, so a client sees one vocabulary. */
const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_VALIDATION: 'validation_failed',
  FST_ERR_BAD_URL: 'bad_request',
  FST_ERR_ASYNC_CONSTRAINT: 'bad_request',
  FST_REQ_FILE_TOO_LARGE: 'payload_too_large',
  FST_PARTS_LIMIT: 'payload_too_large',
  FST_FILES_LIMIT: 'payload_too_large',
  FST_FIELDS_LIMIT: 'payload_too_large',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'unsupported_media_type',
}

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'bad_request'
    case 401:
      return 'unauthorized'
    case 403:
      return 'forbidden'
    case 404:
      return 'not_found'
    case 405:
      return 'method_not_allowed'
    case 409:
      return 'conflict'
    case 413:
      return 'payload_too_large'
    case 415:
      return 'unsupported_media_type'
    case 429:
      return 'too_many_requests'
    case 431:
      return 'headers_too_large'
    case 502:
      return 'upstream_unavailable'
    case 503:
      return 'not_ready'
    case 504:
      return 'upstream_timeout'
    default:
      return status >= 500 ? 'internal' : 'bad_request'
  }
}

/** Normalises any thrown value into an AppError without losing the original as `cause`. */
export function toAppError(err: unknown): AppError {
  // A database that cannot serve is 503 with Retry-After wherever it surfaced, also when
  // some layer wrapped it as an internal error (docs/security.md line 31).
  if (isAppError(err) && (err.statusCode < 500 || err.code === 'database_unavailable')) return err
  if (isDatabaseUnavailable(err)) return databaseUnavailable(err)
  if (isAppError(err)) return err
  const fe = err as Partial<FastifyError> | undefined
  const mapped = fe?.code !== undefined ? fastifyCodes[fe.code] : undefined
  if (mapped !== undefined) {
    return new AppError(mapped, mapped === 'validation_failed' ? fe?.message : undefined, { cause: err })
  }
  const status = typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500
  const code = codeForStatus(status)
  // A 4xx from a library (Fastify, a plugin) says what is wrong with the request; a 5xx
  // says something about us, and its text stays in the log.
  return new AppError(code, status < 500 ? (fe?.message ?? undefined) : undefined, { cause: err })
}

/** Does this client want a page rather than JSON? Browsers send Accept: text/html. */
export function wantsHtml(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? ''
  return /\btext\/html\b/.test(accept) && !/^application\/json\b/.test(accept)
}

export function sendError(
  req: FastifyRequest,
  reply: FastifyReply,
  err: AppError,
  opts: ErrorHandlerOptions,
): FastifyReply {
  const message = err.expose ? err.message : errorCodes[err.code].message
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v)
  reply.code(err.statusCode)
  if (wantsHtml(req)) {
    const input: ErrorPageInput = { status: err.statusCode, code: err.code, message, requestId: req.id }
    const html = opts.renderPage ? opts.renderPage(req, reply, input) : minimalPage(input)
    return reply.header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html)
  }
  const body: ErrorBody = { error: err.code, message, request_id: req.id }
  if (err.expose && err.details !== undefined) body.details = { ...err.details }
  return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body)
}

function minimalPage(input: ErrorPageInput): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html><html lang="id"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${input.status}</title></head><body><h1>${input.status}</h1><p>${esc(input.message)}</p><p>Kode referensi: ${esc(referenceCode(input.requestId))}</p></body></html>`
}

/**
 * The error and not-found handlers of a service: JSON with a stable `error` code for API
 * callers, a readable page for browsers; the request id in both; 5xx details only in the
 * log (STYLE.md habit 4, DESIGN.md "Errors").
 */
export const errorHandling = fp<ErrorHandlerOptions>(
  async (app: FastifyInstance, opts) => {
    app.setErrorHandler((error, req, reply) => {
      const err = toAppError(error)
      // An outage is one log line per request, not a stack trace each: the pool's own
      // connection errors say what happened.
      if (err.code === 'database_unavailable')
        req.log.warn({ code: err.code, reason: (err.cause as Error | undefined)?.message }, 'database unavailable: 503')
      else if (err.statusCode >= 500) req.log.error({ err: error }, 'request failed')
      else req.log.info({ code: err.code, reason: err.message }, 'request refused')
      return sendError(req, reply, err, opts)
    })
    app.setNotFoundHandler((req, reply) => sendError(req, reply, new AppError('not_found'), opts))
  },
  { name: 'satupintu-errors' },
)
