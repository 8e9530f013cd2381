import { errorCodes, type ErrorCode } from './codes.ts'

/**
 * The one error class of the project. Each instance carries a stable `code` from the
 * registry in `codes.ts`, the HTTP status it maps to, and whether its message may be
 * shown to a client (`expose`). Lower-level errors are wrapped with `{ cause }`.
 * Modelled on oidc-provider's OIDCProviderError and Fastify's error registry.
 */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly expose: boolean
  /** Extra response headers (Retry-After, WWW-Authenticate…). */
  readonly headers: Readonly<Record<string, string>>
  /** Machine-readable details safe to return to the client (e.g. which field failed). */
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(
    code: ErrorCode,
    message?: string,
    options: {
      cause?: unknown
      headers?: Record<string, string>
      details?: Record<string, unknown>
    } = {},
  ) {
    const def = errorCodes[code]
    super(message ?? def.message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.statusCode = def.status
    // 5xx messages never reach a client (STYLE.md habit 4).
    this.expose = def.status < 500
    this.headers = Object.freeze({ ...options.headers })
    this.details = options.details === undefined ? undefined : Object.freeze({ ...options.details })
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError
}
