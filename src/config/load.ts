import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { configSchema, envVars, environments, type Config, type EnvKind } from './schema.ts'

/** The folder of shipped configuration files (config/ at the project root). */
export const configDir = fileURLToPath(new URL('../../config/', import.meta.url))

/**
 * A configuration problem. Its message is one line that names the key and what is wrong,
 * e.g. `config: http.port (env PORT) must be an integer, got "abc"`. The CLI prints it
 * and exits 1, without a stack trace.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(`config: ${message}`)
    this.name = 'ConfigError'
  }
}

/** Keys whose values are never printed in an error message. */
const sensitiveKeys = new Set([
  'database.url',
  'secrets.keyEncryptionKey',
  'gateway.clientSecret',
  'delivery.email.smtp.password',
  'delivery.email.smtp.dkim.privateKey',
  'delivery.sms.http.secret',
  'delivery.sms.whatsapp.accessToken',
  'documents.s3.secretAccessKey',
])

type Env = Readonly<Record<string, string | undefined>>
type Plain = Record<string, unknown>

export interface LoadOptions {
  /** The environment to read; process.env by default. Tests pass their own. */
  env?: Env
  /** Values applied last, after the environment (used by tests and the CLI flags). */
  overrides?: Plain
  /** Folder holding default.yaml and the per-environment overlays. */
  dir?: string
}

/**
 * Reads config/default.yaml, the overlay for the environment (config/<env>.yaml), the
 * optional file named by SATUPINTU_CONFIG, then environment variables, and validates the
 * result once. The returned object is deeply frozen. This is the only reader of
 * process.env in the project (STYLE.md, Layout).
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env
  const dir = options.dir ?? configDir

  const nodeEnv = env.NODE_ENV ?? 'development'
  if (!(environments as readonly string[]).includes(nodeEnv)) {
    throw new ConfigError(
      `env (env NODE_ENV) must be one of ${environments.join(', ')}, got ${JSON.stringify(nodeEnv)}`,
    )
  }

  const merged: Plain = {}
  mergeInto(merged, readYaml(path.join(dir, 'default.yaml'), true))
  mergeInto(merged, readYaml(path.join(dir, `${nodeEnv}.yaml`), false))
  if (env.SATUPINTU_CONFIG !== undefined && env.SATUPINTU_CONFIG !== '') {
    mergeInto(merged, readYaml(path.resolve(env.SATUPINTU_CONFIG), true))
  }

  const sources = new Map<string, string>()
  for (const v of envVars) {
    const raw = env[v.name]
    if (raw === undefined || raw === '') continue
    setPath(merged, v.key, parseEnv(v.name, v.key, v.kind, raw))
    sources.set(v.key, v.name)
  }
  if (options.overrides) mergeInto(merged, options.overrides)

  const result = configSchema.safeParse(merged)
  if (!result.success) {
    const issue = result.error.issues[0]
    if (issue === undefined) throw new ConfigError('invalid configuration')
    const key = issue.path.map(String).join('.') || '(root)'
    const from = sources.get(key)
    const got = valueAt(merged, issue.path)
    // Never echo a secret (a database URL may hold a password) into a log or terminal.
    const shown = got === undefined || sensitiveKeys.has(key) ? '' : `, got ${JSON.stringify(got)}`
    throw new ConfigError(`${key}${from === undefined ? '' : ` (env ${from})`} ${describeIssue(issue)}${shown}`)
  }
  return deepFreeze(result.data)
}

function describeIssue(issue: { code: string; message: string; keys?: unknown }): string {
  if (issue.code === 'unrecognized_keys' && Array.isArray(issue.keys)) {
    return `has unknown key(s): ${issue.keys.join(', ')}`
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return 'is required'
  // zod's messages start with a capital ("Invalid input: …"); keep them readable in one line.
  const m = issue.message.replace(/^Invalid input: /, '')
  return /^(must|is|has)\b/.test(m) ? m : `is not valid: ${m.charAt(0).toLowerCase()}${m.slice(1)}`
}

function parseEnv(name: string, key: string, kind: EnvKind, raw: string): unknown {
  switch (kind) {
    case 'string':
      return raw
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) {
        throw new ConfigError(`${key} (env ${name}) must be an integer, got ${JSON.stringify(raw)}`)
      }
      return Number.parseInt(raw, 10)
    }
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(v)) return true
      if (['0', 'false', 'no', 'off'].includes(v)) return false
      throw new ConfigError(`${key} (env ${name}) must be true or false, got ${JSON.stringify(raw)}`)
    }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
  }
}

function readYaml(file: string, required: boolean): Plain {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read ${path.basename(file)}: ${(err as Error).message}`)
  }
  let data: unknown
  try {
    data = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`${path.basename(file)} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (data === null || data === undefined) return {}
  if (!isPlain(data)) throw new ConfigError(`${path.basename(file)} must hold a mapping at the top level`)
  return data
}

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function mergeInto(target: Plain, source: Plain): void {
  for (const [k, v] of Object.entries(source)) {
    const cur = target[k]
    if (isPlain(v) && isPlain(cur)) mergeInto(cur, v)
    else if (isPlain(v)) {
      const copy: Plain = {}
      mergeInto(copy, v)
      target[k] = copy
    } else target[k] = v
  }
}

function setPath(target: Plain, key: string, value: unknown): void {
  const parts = key.split('.')
  let node = target
  for (const p of parts.slice(0, -1)) {
    const next = node[p]
    if (isPlain(next)) node = next
    else {
      const created: Plain = {}
      node[p] = created
      node = created
    }
  }
  node[parts[parts.length - 1] as string] = value
}

function valueAt(root: unknown, p: readonly PropertyKey[]): unknown {
  let node = root
  for (const k of p) {
    if (typeof node !== 'object' || node === null) return undefined
    node = (node as Record<PropertyKey, unknown>)[k]
  }
  return typeof node === 'object' ? undefined : node
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
