/**
 * Summaries (median with min and max over rounds), the stdout table, the machine
 * description and the JSON written to bench/results/<scenario>-<timestamp>.json.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { benchDir, canPin } from './proc.ts'

export interface Spread {
  median: number
  min: number
  max: number
  n: number
}

export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 }
  const mid = Math.floor(v.length / 2)
  const median = v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2
  return { median, min: v[0] as number, max: v[v.length - 1] as number, n: v.length }
}

/** "12,345 (12,001–12,600)" with the given digits. */
export function fmtSpread(s: Spread | undefined, digits = 0): string {
  if (s === undefined || s.n === 0 || !Number.isFinite(s.median)) return '–'
  const f = (x: number) => fmt(x, digits)
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}

export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '–'
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A plain text table: first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length)
    })
  const line = (r: readonly string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const out = [line(rows[0] ?? [])]
  out.push(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows.slice(1)) out.push(line(r))
  return out.join('\n')
}

export interface Machine {
  nproc: number
  cpuModel: string
  memoryGiB: number
  node: string
  kernel: string
  loadAverage: number[]
  pinning: string
  tools: Record<string, string>
}

function version(cmd: string, args: string[]): string {
  try {
    return (
      execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .split('\n')[0]
        ?.trim() ?? ''
    )
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string }
    return (e.stderr ?? e.stdout ?? '').split('\n')[0]?.trim() || 'not found'
  }
}

export function machine(pinning: string): Machine {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8')
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown'
  return {
    // os.cpus(): this process may already be pinned to fewer CPUs than the machine has.
    nproc: os.cpus().length,
    cpuModel: model,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    pinning: canPin ? pinning : 'taskset not found: unpinned',
    tools: {
      wrk: version('wrk', ['--version']),
      nginx: version('nginx', ['-v']),
      apache2: version('apache2', ['-v']),
      postgres: version('psql', ['--version']),
    },
  }
}

export function describeMachine(m: Machine): string {
  return `${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}, load ${m.loadAverage.join(' ')} at start; ${m.pinning}`
}

/** Writes the run's JSON; returns its path. */
export function writeResults(scenario: string, data: unknown): string {
  const dir = path.join(benchDir, 'results')
  fs.mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const file = path.join(dir, `${scenario}-${stamp}.json`)
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`)
  return file
}

export function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}
