import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino'
import { referenceCode } from './reference-code.ts'

/**
 * Per-request loggers that are made only when something is logged.
 *
 * Fastify gives every request a child logger (`req.log`, bound to the request id). With
 * pino that is `logger.child({ reqId })`, which serialises and redacts the bindings at
 * once: ~5 µs and several objects per request in the gateway's profile (~10 µs in the idp's), for a logger that
 * at the `warn` level almost never writes. Here the child is made on the first call at an
 * enabled level; until then the request holds a small object. What is written, and with
 * which bindings, is exactly what pino's own child would write.
 *
 * A route with its own `logLevel` or serialisers (child options) gets pino's child at
 * once, since its level is not the parent's.
 */

const levels: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']

type LogFn = (...args: unknown[]) => void

class LazyChildLogger {
  #parent: Logger
  #bindings: Bindings
  #real: Logger | undefined

  constructor(parent: Logger, bindings: Bindings) {
    this.#parent = parent
    this.#bindings = bindings
  }

  #child(): Logger {
    this.#real ??= this.#parent.child(withReference(this.#bindings))
    return this.#real
  }

  #log(level: Level, args: unknown[]): void {
    // The parent's level is the child's until the child exists (children inherit it).
    if (this.#real === undefined && !this.#parent.isLevelEnabled(level)) return
    ;(this.#child()[level] as LogFn)(...args)
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args)
  }
  error(...args: unknown[]): void {
    this.#log('error', args)
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args)
  }
  info(...args: unknown[]): void {
    this.#log('info', args)
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args)
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args)
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.#child().child(bindings, options)
  }
  bindings(): Bindings {
    return this.#child().bindings()
  }
  isLevelEnabled(level: string): boolean {
    return (this.#real ?? this.#parent).isLevelEnabled(level)
  }
  get level(): string {
    return (this.#real ?? this.#parent).level
  }
  set level(level: string) {
    this.#child().level = level
  }
}

// Every level method exists (validated by Fastify for a custom factory).
for (const l of levels)
  if (typeof LazyChildLogger.prototype[l] !== 'function') throw new Error(`LazyChildLogger lacks ${l}`)

/**
 * The request's short reference code (`ref`, src/http/reference-code.ts) beside its full
 * id, so that the code a citizen reads out from an error page finds the request's lines.
 * Made with the child logger, so a request that logs nothing never computes it.
 */
function withReference(bindings: Bindings): Bindings {
  const id: unknown = bindings.reqId
  return typeof id === 'string' ? { ...bindings, ref: referenceCode(id) } : bindings
}

/**
 * Makes `app`'s per-request loggers lazy; call before routes are registered. `extra` adds
 * bindings of its own to a request's logger (the caller's request id, src/http/app.ts).
 */
export function useLazyRequestLoggers(
  app: FastifyInstance,
  extra?: (raw: IncomingMessage) => Bindings | undefined,
): void {
  app.setChildLoggerFactory(function lazyRequestLogger(logger, given, options, raw) {
    const parent = logger as unknown as Logger
    const more = extra?.(raw)
    const bindings = more === undefined ? given : { ...given, ...more }
    if (Object.keys(options).length > 0)
      return parent.child(withReference(bindings), options) as unknown as FastifyBaseLogger
    // The cast: the object has every method Fastify and our routes call on req.log.
    return new LazyChildLogger(parent, bindings) as unknown as FastifyBaseLogger
  })
}
