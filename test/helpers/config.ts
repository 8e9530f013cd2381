import { Writable } from 'node:stream'
import type { Logger } from 'pino'
import { loadConfig } from '../../src/config/load.ts'
import type { Config } from '../../src/config/schema.ts'
import { createLogger } from '../../src/http/logging.ts'

/** Test configuration: the shipped defaults with NODE_ENV=test, plus `overrides`. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ env: { NODE_ENV: 'test' }, overrides })
}

/** A logger that keeps every line in memory, for tests that assert on what is logged. */
export function memoryLogger(level = 'trace'): {
  logger: Logger
  lines: () => Record<string, unknown>[]
  text: () => string
} {
  const chunks: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'))
      cb()
    },
  })
  const logger = createLogger({ level, name: 'test' }, sink)
  const text = () => chunks.join('')
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

/** A logger that drops everything. */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent', name: 'test' })
}
