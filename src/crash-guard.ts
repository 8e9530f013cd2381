import type { Logger } from 'pino'

/**
 * Exit code after an uncaught exception or an unhandled rejection: EX_SOFTWARE from
 * sysexits.h ("an internal software error"), distinct from a configuration failure (1).
 */
export const crashExitCode = 70

/**
 * A thrown error that nothing caught, or a rejected promise that nothing handled, leaves
 * the process in a state no one reasoned about (half-written responses, a pool missing a
 * client, timers that never fire). Never swallow it and carry on: write one fatal log line
 * (pino's default destination writes synchronously, so the line is out before the exit)
 * and exit non-zero, so that the supervisor (systemd, Kubernetes, compose) starts a clean
 * process. Returns the function that removes the handlers again.
 */
export function exitOnUncaught(
  logger: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): () => void {
  let exiting = false
  const fail = (kind: string, err: unknown) => {
    if (exiting) return
    exiting = true
    try {
      logger.fatal(
        { err, kind },
        `${kind}: exiting with code ${crashExitCode} so that a supervisor restarts the service`,
      )
    } finally {
      exit(crashExitCode)
    }
  }
  const onException = (err: unknown, origin: string) =>
    fail(origin === 'unhandledRejection' ? 'unhandled promise rejection' : 'uncaught exception', err)
  const onRejection = (reason: unknown) => fail('unhandled promise rejection', reason)
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}
