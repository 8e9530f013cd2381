/**
 * Identity-provider benchmark (issue 6), on PostgreSQL, in one run:
 *   cc       client-credentials grants/s (JWT access token for the gateway resource);
 *   refresh  refresh-token grants/s with rotation (chains obtained by code flows first;
 *            each grant uses the token the previous one returned);
 *   flows    complete authorization-code + PKCE flows/s with the password sign-in and
 *            the consent page (a fresh browser each), ending with the code exchange;
 *   argon2   argon2id verifications/s at the configured parameters on the same CPUs
 *            with the same UV_THREADPOOL_SIZE: the physical bound for sign-ins.
 * Rounds alternate the four (the start rotates). CPU per operation of the idp and of the
 * PostgreSQL backends serving the bench database; "per core" = 1 s of CPU ÷ CPU per op.
 *
 *   node bench/idp.ts [--seconds 10] [--rounds 3] [--warmup 3] [--connections 32]
 *                     [--flow-concurrency 8] [--only cc,refresh,flows,argon2] [--profile]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { commonOptions, cpuCount } from './lib/args.ts'
import { codeFlow } from './lib/browser.ts'
import type { IdpJob, IdpLoadResult } from './lib/idp-load.ts'
import { measured, type Sample } from './lib/measure.ts'
import {
  canPin,
  nodeBin,
  onCleanup,
  pinSelf,
  projectRoot,
  runMain,
  startProcess,
  treeOf,
  type Measured,
  type Proc,
} from './lib/proc.ts'
import {
  describeMachine,
  fmt,
  fmtSpread,
  log,
  machine,
  spread,
  table,
  writeResults,
  type Spread,
} from './lib/report.ts'
import { databaseCounters, postgresBackends, prepareStack, startIdp, type Stack } from './lib/stack.ts'
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile-summary.ts'

const usage = 'node bench/idp.ts — grants and sign-ins per second on PostgreSQL, against the argon2 bound.'
type Mode = 'cc' | 'refresh' | 'flows' | 'argon2'
const labels: Record<Mode, string> = {
  cc: 'client-credentials grants',
  refresh: 'refresh grants (rotation)',
  flows: 'code + PKCE flows with sign-in',
  argon2: 'argon2id verifies (bound)',
}

interface Outcome {
  ops: number
  seconds: number
  opsPerSecond: number
  errors: number
  firstErrors: string[]
  latencyMs: { p50: number; p99: number } | undefined
}

interface RoundRecord {
  mode: Mode
  round: number
  outcome: Outcome
  sample: Sample
}

async function main(): Promise<void> {
  const opts = commonOptions(
    { seconds: 10, rounds: 3, warmup: 3, connections: 32 },
    { 'flow-concurrency': { type: 'string' } },
    usage,
  )
  const flowConcurrency = Math.max(1, Math.min(64, Number(opts.extra['flow-concurrency'] ?? 8)))
  pinSelf(opts.loadCpus)
  const threadpool = cpuCount(opts.serverCpus)
  const m = machine(
    `idp and argon2 on CPU ${opts.serverCpus} (UV_THREADPOOL_SIZE=${threadpool}), load generator and this orchestrator on CPU ${opts.loadCpus}, PostgreSQL unpinned`,
  )
  log(describeMachine(m))

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satupintu-bench-idp-'))
  if (!opts.keep) onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }))
  else log(`run folder kept: ${dir}`)

  const stack = await prepareStack({ dir, keep: opts.keep, citizens: flowConcurrency })
  let idp = await startIdp(stack, { cpus: opts.serverCpus, threadpool })

  // Refresh chains: one code flow each (offline_access, prompt=consent), a citizen at a time per worker.
  const chainCount = opts.connections
  log(`obtaining ${chainCount} refresh tokens by code flows`)
  const chains: string[] = []
  const client = {
    issuer: stack.issuer,
    clientId: stack.app.clientId,
    secret: stack.app.secret,
    redirectUri: stack.app.redirectUri,
    scope: 'openid profile offline_access',
    resource: stack.gatewayResource,
  }
  await Promise.all(
    stack.citizens.map(async (c, w) => {
      for (let i = w; i < chainCount; i += stack.citizens.length) {
        const t = await codeFlow(client, { username: c.nik, password: c.password })
        if (t.refresh_token === undefined) throw new Error('the code flow gave no refresh token')
        chains.push(t.refresh_token)
      }
    }),
  )

  const modes = (['cc', 'refresh', 'flows', 'argon2'] as const).filter(
    (x) => opts.only === undefined || opts.only.includes(x),
  )
  const servers = (): Measured[] => [treeOf('idp', idp.pid), postgresBackends()]

  async function runMode(mode: Mode, seconds: number): Promise<{ outcome: Outcome; sample: Sample }> {
    if (mode === 'argon2') {
      // Measured by the process itself (process.cpuUsage, all threads): it has exited when we read.
      const bound = startProcess(
        'argon2',
        nodeBin,
        [path.join(projectRoot, 'bench', 'lib', 'argon2-bound.ts'), String(seconds)],
        {
          cpus: opts.serverCpus,
          env: { UV_THREADPOOL_SIZE: String(threadpool) },
        },
      )
      const j = await lineOf<{ ops: number; seconds: number; opsPerSecond: number; cpuMicros: number }>(
        bound,
        'ARGON2 ',
        seconds,
      )
      const sample: Sample = {
        cpuPerOp: { argon2: j.cpuMicros / Math.max(1, j.ops) },
        coreShare: { argon2: j.cpuMicros / 1e6 / j.seconds },
        rssBytes: {},
      }
      return {
        outcome: {
          ops: j.ops,
          seconds: j.seconds,
          opsPerSecond: j.opsPerSecond,
          errors: 0,
          firstErrors: [],
          latencyMs: undefined,
        },
        sample,
      }
    }
    const job: IdpJob = {
      mode,
      issuer: stack.issuer,
      seconds,
      concurrency: mode === 'flows' ? flowConcurrency : opts.connections,
      clientId: mode === 'cc' ? stack.service.clientId : stack.app.clientId,
      secret: mode === 'cc' ? stack.service.secret : stack.app.secret,
      resource: stack.gatewayResource,
      redirectUri: stack.app.redirectUri,
      citizens: stack.citizens,
      ...(mode === 'refresh' ? { chains } : {}),
    }
    const jobFile = path.join(dir, `job-${mode}.json`)
    fs.writeFileSync(jobFile, JSON.stringify(job))
    const c0 = await databaseCounters(stack)
    const r = await measured(
      servers(),
      async () => {
        const gen = startProcess(
          `load-${mode}`,
          nodeBin,
          [path.join(projectRoot, 'bench', 'lib', 'idp-load.ts'), jobFile],
          { cpus: opts.loadCpus },
        )
        return (await lineOf(gen, 'IDPLOAD ', seconds)) as IdpLoadResult
      },
      (x) => x.ops,
    )
    const j = r.result
    // PostgreSQL publishes its counters within a second.
    await new Promise((res) => setTimeout(res, 1100))
    const c1 = await databaseCounters(stack)
    const n = Math.max(1, j.ops)
    r.sample.cpuPerOp.dbTransactions = (c1.transactions - c0.transactions) / n
    r.sample.cpuPerOp.dbRowsWritten = (c1.rowsWritten - c0.rowsWritten) / n
    if (mode === 'refresh' && j.chains !== undefined) chains.splice(0, chains.length, ...j.chains)
    if (j.errors > 0) log(`${mode}: ${j.errors} errors, e.g. ${j.firstErrors.join(' | ')}`)
    return {
      outcome: {
        ops: j.ops,
        seconds: j.seconds,
        opsPerSecond: j.opsPerSecond,
        errors: j.errors,
        firstErrors: j.firstErrors,
        latencyMs: { p50: j.latencyMs.p50, p99: j.latencyMs.p99 },
      },
      sample: r.sample,
    }
  }

  for (const mode of modes) {
    if (opts.warmup <= 0) break
    log(`warm-up ${mode} (${opts.warmup} s)`)
    await runMode(mode, opts.warmup)
  }
  const records: RoundRecord[] = []
  for (let r = 0; r < opts.rounds; r++) {
    const order = [...modes.slice(r % modes.length), ...modes.slice(0, r % modes.length)]
    for (const mode of order) {
      const { outcome, sample } = await runMode(mode, opts.seconds)
      records.push({ mode, round: r, outcome, sample })
      const cpu = mode === 'argon2' ? sample.cpuPerOp.argon2 : sample.cpuPerOp.idp
      log(
        `round ${r + 1}/${opts.rounds} ${mode}: ${fmt(outcome.opsPerSecond, 1)}/s` +
          (outcome.latencyMs
            ? `, p50 ${outcome.latencyMs.p50.toFixed(1)} ms, p99 ${outcome.latencyMs.p99.toFixed(1)} ms`
            : '') +
          `, ${mode === 'argon2' ? 'argon2' : 'idp'} ${fmt(cpu ?? Number.NaN, 0)} µs/op` +
          (mode === 'argon2' ? '' : `, postgres ${fmt(sample.cpuPerOp.postgres ?? Number.NaN, 0)} µs/op`) +
          (outcome.errors > 0 ? `, ${outcome.errors} errors` : ''),
      )
    }
  }

  // ---- profile: the idp restarted under node --cpu-prof, one round per protocol mode ----
  const profiles: { mode: string; file: string; ops: number; summary: ProfileSummary }[] = []
  if (opts.profile) {
    const profDir = path.join(projectRoot, 'bench', 'results', 'profiles')
    fs.mkdirSync(profDir, { recursive: true })
    for (const mode of modes.filter((x) => x !== 'argon2')) {
      await idp.stop()
      const name = `idp-${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`
      const started = Date.now()
      idp = await startIdp(stack, {
        cpus: opts.serverCpus,
        threadpool,
        nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', name],
      })
      await runMode(mode, Math.min(3, opts.seconds))
      const skipMs = Date.now() - started
      const { outcome } = await runMode(mode, opts.seconds)
      await idp.stop(30_000)
      const file = path.join(profDir, name)
      if (fs.existsSync(file)) {
        const summary = summarizeProfile(file, { top: 25, skipMs })
        profiles.push({ mode, file: path.relative(projectRoot, file), ops: outcome.ops, summary })
        log(
          `profile ${mode}: ${fmt(outcome.opsPerSecond, 1)}/s under --cpu-prof\n${formatProfile(summary, { ops: outcome.ops, label: 'op' })}`,
        )
      }
      idp = await startIdp(stack, { cpus: opts.serverCpus, threadpool })
    }
  }

  const summary = summarise(modes, records)
  const text = render(modes, summary)
  process.stdout.write(`\n${describeMachine(m)}\n${text}\n`)
  const file = writeResults('idp', {
    scenario: 'idp',
    date: new Date().toISOString(),
    machine: m,
    options: { ...opts, extra: undefined, flowConcurrency, threadpool, pinned: canPin },
    summary,
    profiles,
    rounds: records,
  })
  log(`results: ${path.relative(projectRoot, file)}`)
}

/** Waits for the process to print its JSON line (bounded) and exit. */
async function lineOf<T = { ops: number; seconds: number; opsPerSecond: number }>(
  p: Proc,
  prefix: string,
  seconds: number,
): Promise<T> {
  const deadline = Date.now() + (seconds + 60) * 1000
  while (!p.exited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (!p.exited()) {
    await p.stop(1000)
    throw new Error(`${p.name} did not finish in time`)
  }
  await p.stop(1000)
  const line = p
    .output()
    .split('\n')
    .find((l) => l.startsWith(prefix))
  if (line === undefined) throw new Error(`${p.name} printed no result:\n${p.output()}`)
  return JSON.parse(line.slice(prefix.length)) as T
}

interface ModeSummary {
  opsPerSecond: Spread
  p50Ms: Spread
  p99Ms: Spread
  errors: number
  idpCpuUs: Spread
  postgresCpuUs: Spread
  argon2CpuUs: Spread
  /** 1 s ÷ idp CPU per op: what one busy core of the idp process delivers. */
  perCoreIdp: Spread
  /** The same counting the PostgreSQL backends' CPU too. */
  perCoreIdpAndPostgres: Spread
  /** Database transactions and rows written per operation (pg_stat_database). */
  dbTransactions: Spread
  dbRowsWritten: Spread
}

function summarise(modes: readonly Mode[], records: RoundRecord[]): Record<string, ModeSummary> {
  const out: Record<string, ModeSummary> = {}
  for (const mode of modes) {
    const rs = records.filter((r) => r.mode === mode)
    const idp = rs.map((r) => r.sample.cpuPerOp.idp ?? Number.NaN)
    const pgc = rs.map((r) => r.sample.cpuPerOp.postgres ?? Number.NaN)
    out[mode] = {
      opsPerSecond: spread(rs.map((r) => r.outcome.opsPerSecond)),
      p50Ms: spread(rs.map((r) => r.outcome.latencyMs?.p50 ?? Number.NaN)),
      p99Ms: spread(rs.map((r) => r.outcome.latencyMs?.p99 ?? Number.NaN)),
      errors: rs.reduce((a, r) => a + r.outcome.errors, 0),
      idpCpuUs: spread(idp),
      postgresCpuUs: spread(pgc),
      argon2CpuUs: spread(rs.map((r) => r.sample.cpuPerOp.argon2 ?? Number.NaN)),
      perCoreIdp: spread(
        mode === 'argon2' ? rs.map((r) => 1e6 / (r.sample.cpuPerOp.argon2 ?? Number.NaN)) : idp.map((x) => 1e6 / x),
      ),
      perCoreIdpAndPostgres: spread(idp.map((x, i) => 1e6 / (x + (pgc[i] ?? 0)))),
      dbTransactions: spread(rs.map((r) => r.sample.cpuPerOp.dbTransactions ?? Number.NaN)),
      dbRowsWritten: spread(rs.map((r) => r.sample.cpuPerOp.dbRowsWritten ?? Number.NaN)),
    }
  }
  return out
}

function render(modes: readonly Mode[], s: Record<string, ModeSummary>): string {
  const rows: string[][] = [
    [
      'operation',
      'per second',
      'p50 ms',
      'p99 ms',
      'idp CPU µs/op',
      'postgres µs/op',
      'per core (idp)',
      'per core (idp+pg)',
      'db xacts/op',
      'rows written/op',
      'errors',
    ],
  ]
  for (const mode of modes) {
    const x = s[mode]
    if (x === undefined) continue
    rows.push([
      labels[mode],
      fmtSpread(x.opsPerSecond, 1),
      fmtSpread(x.p50Ms, 1),
      fmtSpread(x.p99Ms, 1),
      mode === 'argon2' ? fmtSpread(x.argon2CpuUs, 0) : fmtSpread(x.idpCpuUs, 0),
      mode === 'argon2' ? '–' : fmtSpread(x.postgresCpuUs, 0),
      fmtSpread(x.perCoreIdp, 0),
      mode === 'argon2' ? '–' : fmtSpread(x.perCoreIdpAndPostgres, 0),
      mode === 'argon2' ? '–' : fmtSpread(x.dbTransactions, 1),
      mode === 'argon2' ? '–' : fmtSpread(x.dbRowsWritten, 1),
      String(x.errors),
    ])
  }
  const lines = [table(rows)]
  const flows = s.flows?.opsPerSecond.median
  const bound = s.argon2?.opsPerSecond.median
  if (flows !== undefined && bound !== undefined)
    lines.push(
      `\ncode flows ÷ argon2 bound (medians, same CPUs): ${((flows / bound) * 100).toFixed(1)} % (target ≥ 90 %)`,
    )
  return lines.join('\n')
}

export type { Stack }

await runMain(main, 60 * 60)
