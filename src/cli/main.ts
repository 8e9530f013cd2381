import { Command, CommanderError, Help, type Option } from 'commander'
import { ConfigError, loadConfig } from '../config/load.ts'
import type { Config } from '../config/schema.ts'
import { DatabaseOpenError, openDatabase } from '../db/create.ts'
import { createMigrator, MigrationError, migrateToLatestOrThrow } from '../db/migrator.ts'
import { StartupError, startServices, type ServiceName } from '../main.ts'
import { exitOnUncaught } from '../crash-guard.ts'
import { ClientsFileError } from '../idp/oidc/clients-file.ts'
import { AdminError, registerClientCommands, registerKeyCommands } from './admin.ts'
import { processIo, printJson, printTable, type Io } from './output.ts'
import { registerPeopleCommands } from './people.ts'
import { registerAgencyCommands } from './agencies.ts'
import { registerDocumentCommands } from './documents.ts'
import { registerAuditCommands } from './audit.ts'
import { registerDevCommands } from './dev.ts'
import { registerCounterCommands } from './counters.ts'
import { registerKioskCommands } from './kiosks.ts'

/** Exit codes: 0 success, 1 failure, 2 usage error (as sysexits and most CLIs do). */
export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const

/** A failure the CLI reports as one line on stderr, without a stack trace. */
export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode: number = exitCodes.failure) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

export interface CliContext {
  io: Io
  /** Configuration overrides applied after the environment (tests use them). */
  overrides?: Record<string, unknown>
  env?: Readonly<Record<string, string | undefined>>
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); tests resolve it themselves. */
  stopSignal?: Promise<string>
  /** Called once the servers listen (tests learn the URLs). */
  onListening?: (urls: Record<string, string>) => void
  /** Where streamed output (an audit export) is written; process.stdout by default. */
  stdout?: NodeJS.WritableStream
  /** Where passwords are read from (tests give their own). */
  stdin?: NodeJS.ReadableStream
}

function config(ctx: CliContext, extra: Record<string, unknown> = {}): Config {
  return loadConfig({
    ...(ctx.env ? { env: ctx.env } : {}),
    overrides: { ...ctx.overrides, ...extra },
  })
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (sig: string) => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      // A second Ctrl-C while stopping means "now": exit without waiting.
      process.once('SIGINT', () => process.exit(exitCodes.failure))
      resolve(sig)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

async function runServers(
  ctx: CliContext,
  services: ServiceName[],
  cfg: Config,
  portOverride?: number,
): Promise<number> {
  // Listen for SIGTERM/SIGINT before starting: a stop asked for while the services start
  // (systemd, a container stop, Ctrl-C) waits for the start to finish and then stops them
  // cleanly, instead of the default action killing the process half-started.
  const stopAsked = ctx.stopSignal ?? waitForSignal()
  const running = await startServices(cfg, services, portOverride === undefined ? {} : { portOverride })
  // A long-running server: a crash is logged and ends the process (src/crash-guard.ts).
  // Tests that run the CLI in-process pass their own stopSignal and keep tap's handlers.
  const removeGuard = ctx.stopSignal === undefined ? exitOnUncaught(running.logger) : () => {}
  const urls = Object.fromEntries(running.services.map((s) => [s.name, s.url]))
  running.logger.info({ urls, database: running.database?.kind }, 'listening')
  ctx.io.err(
    banner(
      running.services.map((s) => [s.name, s.url] as const),
      running.database?.location,
      running.demo,
      running.agencies,
    ),
  )
  ctx.onListening?.(urls)
  const signal = await stopAsked
  running.logger.info({ signal }, 'stopping')
  await running.stop()
  running.logger.info('stopped')
  removeGuard()
  return exitCodes.ok
}

const serviceLabels: Record<string, string> = {
  idp: 'identity provider',
  gateway: 'gateway (portal)',
  'demo-agency': 'demo agency',
}

function issuerOf(services: readonly (readonly [string, string])[]): string {
  return (services.find(([n]) => n === 'idp')?.[1] ?? '').replace(/\/+$/, '')
}

/** What a person starting the quick start wants to see among the JSON log lines. */
function banner(
  services: readonly (readonly [string, string])[],
  database: string | undefined,
  demo:
    | {
        clientId: string
        citizen: { nik: string; email: string; password: string }
        officer: { username: string; password: string; totpSecret: string }
        counter?: { name: string; location: string }
      }
    | undefined,
  agencies: readonly { id: string; origin: string }[] = [],
): string {
  const lines = ['', 'Satu Pintu is running:']
  for (const [name, url] of services) lines.push(`  ${(serviceLabels[name] ?? name).padEnd(20)} ${url}`)
  // Each agency behind the gateway at its own origin (issue 10 §2).
  for (const a of agencies) lines.push(`  ${`agency ${a.id}`.padEnd(20)} ${a.origin}/`)
  if (database !== undefined) lines.push(`  ${'database'.padEnd(20)} ${database}`)
  const agency = services.find(([n]) => n === 'demo-agency')?.[1]
  const gateway = services.find(([n]) => n === 'gateway')?.[1]
  if (demo && agency) {
    lines.push(
      '',
      ...(gateway
        ? [
            `Try the portal: open ${gateway} and choose a service of Dinas Contoh (behind the gateway, at ${agencies[0]?.origin ?? 'its own origin'}/).`,
          ]
        : []),
      `Try a direct OIDC sign-in: open ${agency}/oidc-langsung/ and choose "Masuk dengan Satu Pintu".`,
      `  demo citizen: NIK ${demo.citizen.nik} (or ${demo.citizen.email}), password: ${demo.citizen.password}`,
      `  demo relying party: ${demo.clientId}`,
      `Try the officer console: open ${issuerOf(services)}/petugas/masuk`,
      `  demo officer: ${demo.officer.username}, password: ${demo.officer.password}`,
      `  its authenticator app is already set up with the key ${demo.officer.totpSecret}: add that key to an app (Google Authenticator, FreeOTP…), or run \`oathtool --totp -b ${demo.officer.totpSecret}\`, for the 6-digit code`,
      ...(demo.counter
        ? [
            `  demo counter: ${demo.counter.name}, ${demo.counter.location} (choose it after signing in, at /petugas/loket)`,
          ]
        : []),
    )
  }
  lines.push('Stop with Ctrl-C.', '')
  return lines.join('\n')
}

export function buildProgram(ctx: CliContext): { program: Command; result: { code: number } } {
  const result: { code: number } = { code: exitCodes.ok }
  const program = new Command('satupintu')
    .description('Satu Pintu: one citizen account, one sign-in and one upload for every public service of the regency.')
    .exitOverride()
    // Usage errors are written by main(), in words or as JSON (`--json`); commander only
    // reports them (its own line would come first, in neither form).
    .configureOutput({
      writeOut: (s) => ctx.io.out(s.trimEnd()),
      writeErr: (s) => ctx.io.err(s.trimEnd()),
      outputError: () => undefined,
    })
    // Every subcommand inherits this: a required option says so in its --help line.
    .configureHelp({
      optionDescription(this: Help, option: Option): string {
        const text = Help.prototype.optionDescription.call(this, option)
        return option.mandatory ? `${text} (required)`.trimStart() : text
      },
    })

  program
    .command('start')
    .description('Run the idp, the gateway and the demo agency in one process (one machine, quick start).')
    .option('--demo', 'create demo data (a demo relying party and citizen) at start-up')
    .action(async (opts: { demo?: boolean }) => {
      const cfg = config(ctx, opts.demo ? { demo: true } : {})
      const quick = ['idp', 'gateway', 'demo-agency'] as const
      result.code = await runServers(ctx, [...quick], cfg)
    })

  program
    .command('idp')
    .description('Run the identity provider (port: PORT, else IDP_PORT).')
    .action(async () => {
      const cfg = config(ctx)
      result.code = await runServers(ctx, ['idp'], cfg, cfg.http.port)
    })

  program
    .command('gateway')
    .description('Run the gateway (port: PORT, else GATEWAY_PORT).')
    .action(async () => {
      const cfg = config(ctx)
      result.code = await runServers(ctx, ['gateway'], cfg, cfg.http.port)
    })

  program
    .command('migrate')
    .description('Apply pending database migrations (exits 1 if one fails).')
    .option('--status', 'only list migrations and whether each is applied')
    .option('--json', 'machine-readable output')
    .action(async (opts: { status?: boolean; json?: boolean }) => {
      const cfg = config(ctx)
      const database = await openDatabase(cfg.database, { viaRunningServer: true })
      try {
        if (opts.status) {
          const all = await createMigrator(database.db).getMigrations()
          const rows = all.map((m) => ({ name: m.name, applied_at: m.executedAt?.toISOString() ?? null }))
          if (opts.json) printJson(ctx.io, { database: database.kind, migrations: rows })
          else
            printTable(ctx.io, [['MIGRATION', 'APPLIED AT'], ...rows.map((r) => [r.name, r.applied_at ?? 'pending'])])
          return
        }
        const results = await migrateToLatestOrThrow(database.db)
        const applied = results.map((r) => r.migrationName)
        if (opts.json) printJson(ctx.io, { database: database.kind, applied })
        else ctx.io.out(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`)
      } finally {
        await database.close()
      }
    })

  const admin = { io: ctx.io, config: () => config(ctx) }
  registerKeyCommands(program, admin)
  registerClientCommands(program, admin)
  registerPeopleCommands(program, ctx.stdin ? { ...admin, stdin: ctx.stdin } : admin)
  registerAgencyCommands(program, admin)
  registerKioskCommands(program, admin)
  registerCounterCommands(program, admin)
  registerDocumentCommands(program, admin)
  registerAuditCommands(program, { ...admin, output: ctx.stdout ?? process.stdout })
  registerDevCommands(program, admin)

  return { program, result }
}

/** The (sub)command that `argv` names: `citizens show …` → the `show` under `citizens`. */
function commandNamed(program: Command, argv: readonly string[]): Command {
  let cmd = program
  for (const arg of argv) {
    if (arg === '--') break
    if (arg.startsWith('-')) continue
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg))
    if (sub === undefined) break
    cmd = sub
  }
  return cmd
}

function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/** Commander's error codes as the CLI reports them (`--json`): `commander.unknownOption` → `unknown_option`. */
const usageCodes: Record<string, string> = {
  'commander.missingMandatoryOptionValue': 'missing_option',
  'commander.optionMissingArgument': 'missing_option_value',
  'commander.missingArgument': 'missing_argument',
  'commander.excessArguments': 'too_many_arguments',
  'commander.unknownOption': 'unknown_option',
  'commander.unknownCommand': 'unknown_command',
  'commander.invalidArgument': 'invalid_argument',
  'commander.conflictingOption': 'conflicting_options',
}

/** A usage error in plain words: a missing required option is named, with what it is for. */
function usageProblem(
  err: CommanderError,
  program: Command,
  argv: readonly string[],
): { code: string; message: string; command: Command } {
  const command = commandNamed(program, argv)
  const code = usageCodes[err.code] ?? 'usage'
  if (err.code === 'commander.missingMandatoryOptionValue') {
    const flags = /'([^']+)'/.exec(err.message)?.[1] ?? ''
    const option = command.options.find((o) => o.flags === flags)
    const what = option?.description ? `: ${option.description}` : ''
    // "citizens show needs --reason <text>: why you look this citizen up …"
    const verb = command.parent === null ? 'this command' : commandPath(command).split(' ').slice(1).join(' ')
    return { code, message: `${verb} needs ${flags}${what}`, command }
  }
  return { code, message: err.message.replace(/^error: /, ''), command }
}

/** What a failure is called in `--json` output, and its exit code. */
function failureOf(err: unknown): { code: string; message: string; exitCode: number } | undefined {
  if (err instanceof AdminError || err instanceof CliError) {
    return {
      code: err.exitCode === exitCodes.usage ? 'invalid_input' : 'failed',
      message: err.message,
      exitCode: err.exitCode,
    }
  }
  if (err instanceof ConfigError) return { code: 'config_invalid', message: err.message, exitCode: exitCodes.failure }
  if (err instanceof ClientsFileError)
    return { code: 'clients_file_invalid', message: err.message, exitCode: exitCodes.failure }
  if (err instanceof DatabaseOpenError)
    return { code: 'database_unavailable', message: err.message, exitCode: exitCodes.failure }
  if (err instanceof MigrationError)
    return { code: 'migration_failed', message: err.message, exitCode: exitCodes.failure }
  if (err instanceof StartupError) return { code: 'startup_failed', message: err.message, exitCode: exitCodes.failure }
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'EADDRINUSE') {
    return {
      code: 'address_in_use',
      message: `${e.message.replace(/^listen /, 'cannot listen: ')} (is another instance running?)`,
      exitCode: exitCodes.failure,
    }
  }
  return undefined
}

/**
 * Runs the CLI and returns the exit code. Never throws: every failure becomes one line on
 * stderr — with `--json`, one JSON object `{ "error": code, "message": … }`, as the HTTP
 * API answers (stdout stays empty for the script reading it).
 */
export async function main(argv: readonly string[], ctx: CliContext = { io: processIo }): Promise<number> {
  const { program, result } = buildProgram(ctx)
  if (argv.length === 0) {
    program.outputHelp({ error: true })
    return exitCodes.usage
  }
  const end = argv.indexOf('--')
  const json = (end === -1 ? argv : argv.slice(0, end)).includes('--json')
  const report = (code: string, message: string, hint?: string) => {
    if (json) ctx.io.err(JSON.stringify({ error: code, message }))
    else ctx.io.err(`satupintu: ${message}${hint === undefined ? '' : `\n${hint}`}`)
  }
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return result.code
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return exitCodes.ok
      }
      const problem = usageProblem(err, program, argv)
      report(problem.code, problem.message, `(run \`${commandPath(problem.command)} --help\` for usage)`)
      return exitCodes.usage
    }
    const failure = failureOf(err)
    if (failure !== undefined) {
      report(failure.code, failure.message)
      return failure.exitCode
    }
    // Not an expected condition: a bug. The stack helps whoever reports it (not in JSON).
    const e = err as Error
    if (json) report('internal', `unexpected failure: ${e.message ?? String(err)}`)
    else ctx.io.err(`satupintu: unexpected failure: ${e.stack ?? String(err)}`)
    return exitCodes.failure
  }
}
