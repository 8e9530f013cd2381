import pino, { type Logger, type LoggerOptions } from 'pino'

/**
 * Query parameters whose values never reach a log line: authorization codes, tokens,
 * one-time codes, login hints (an email, a phone or a NIK) and the NIK itself.
 */
const sensitiveQuery = new Set([
  'code',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'id_token_hint',
  'logout_token',
  'login_hint',
  'user_code',
  'client_secret',
  'code_verifier',
  'otp',
  'nik',
  'password',
  'sig',
  'state',
])

/** The URL with the values of sensitive query parameters replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  // A signed document link is a capability (the gateway's /dokumen/<token>): never logged.
  if (url.startsWith('/dokumen/')) return `/dokumen/[redacted]${url.includes('?') ? url.slice(url.indexOf('?')) : ''}`
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = url.slice(q + 1).split('&')
  return (
    url.slice(0, q + 1) +
    params
      .map((p) => {
        const eq = p.indexOf('=')
        const name = decodeSafe(eq === -1 ? p : p.slice(0, eq)).toLowerCase()
        return sensitiveQuery.has(name) && eq !== -1 ? `${p.slice(0, eq)}=[redacted]` : p
      })
      .join('&')
  )
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * Paths pino removes before a line is written (STYLE.md habit 9): credentials, cookies,
 * tokens, one-time codes and NIKs, wherever a module puts them in a log object.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-satupintu-assertion"]',
  'req.headers.dpop',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.accessToken',
  '*.access_token',
  '*.refreshToken',
  '*.refresh_token',
  '*.idToken',
  '*.id_token',
  '*.clientSecret',
  '*.client_secret',
  '*.otp',
  '*.code',
  '*.nik',
  '*.secret',
  'password',
  'token',
  'nik',
  'otp',
  'secret',
]

export interface LogOptions {
  level: LoggerOptions['level']
  /** Name of the service, written on every line. */
  name: string
}

export function loggerOptions(opts: LogOptions): LoggerOptions {
  return {
    level: opts.level ?? 'info',
    name: opts.name,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      req(req: { method?: string; url?: string; ip?: string; id?: string; headers?: Record<string, unknown> }) {
        return {
          method: req.method,
          url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
          remoteAddress: req.ip,
          userAgent: req.headers?.['user-agent'],
        }
      },
      res(res: { statusCode?: number }) {
        return { statusCode: res.statusCode }
      },
      err: pino.stdSerializers.err,
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  }
}

export function createLogger(opts: LogOptions, destination?: pino.DestinationStream): Logger {
  return destination ? pino(loggerOptions(opts), destination) : pino(loggerOptions(opts))
}

/**
 * The process's logger: JSON lines, as production and log collectors want them; in
 * development on a terminal, the same lines made readable by pino-pretty (a development
 * dependency, so it is loaded only then and never needed by the production image).
 * Redaction happens before either, in pino itself.
 */
export async function createProcessLogger(
  opts: LogOptions & { env: string },
  stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Promise<Logger> {
  if (opts.env === 'development' && stdout.isTTY === true) {
    try {
      const { default: pretty } = await import('pino-pretty')
      return createLogger(
        opts,
        pretty({
          colorize: false,
          translateTime: 'SYS:HH:MM:ss',
          ignore: 'pid,hostname',
          sync: true,
          destination: stdout,
        }),
      )
    } catch {
      // Installed without development dependencies: JSON it is.
    }
  }
  return stdout === process.stdout ? createLogger(opts) : createLogger(opts, stdout)
}
