/**
 * HTTP load from a separate process: wrk (Debian package, installed by bench/setup.sh) when
 * present, else autocannon from the npm registry at a pinned version (npx). Each run is
 * bounded in time (and optionally in count); the load generator is pinned to the load CPUs.
 */
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'
import { benchDir, canPin } from './proc.ts'

/** The autocannon used when wrk is missing (npx --yes autocannon@<this>). */
export const autocannonVersion = '9.0.0'

export const wrkPath: string | undefined = (() => {
  const r = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' })
  const p = r.stdout.trim()
  return r.status === 0 && p !== '' ? p : undefined
})()

export const loadGenerator = wrkPath !== undefined ? 'wrk' : `autocannon@${autocannonVersion}`

export interface LoadSpec {
  url: string
  seconds: number
  connections: number
  headers?: Record<string, string>
  /** Stop after about this many requests (wrk: per thread; 1 thread is used). */
  limit?: number
  cpus?: string
}

export interface LoadResult {
  requests: number
  seconds: number
  rps: number
  bytes: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
  errors: { connect: number; read: number; write: number; status: number; timeout: number }
}

function pinned(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpus !== undefined && canPin ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args]
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    // A bound on the load generator itself, whatever it does.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return wrkPath !== undefined ? runWrk(spec, wrkPath) : runAutocannon(spec)
}

async function runWrk(spec: LoadSpec, wrk: string): Promise<LoadResult> {
  const args = [
    '-t1',
    `-c${spec.connections}`,
    `-d${Math.ceil(spec.seconds)}s`,
    '--timeout',
    '10s',
    '-s',
    path.join(benchDir, 'lib', 'wrk-report.lua'),
  ]
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}: ${v}`)
  args.push(spec.url)
  const [cmd, argv] = pinned(spec.cpus, wrk, args)
  const t0 = performance.now()
  const r = await run(cmd, argv, { WRK_LIMIT: String(spec.limit ?? 0) }, (spec.seconds + 30) * 1000)
  const wall = (performance.now() - t0) / 1000
  const limited = r.stdout.split('\n').find((l) => l.startsWith('WRKLIMIT '))
  if (limited !== undefined) {
    // Stopped at the request limit: counts and wall time only (wrk exits without its report).
    const [, n, bad] = limited.split(' ').map(Number)
    const none = Number.NaN
    return {
      requests: n ?? 0,
      seconds: wall,
      rps: (n ?? 0) / wall,
      bytes: none,
      latencyMs: { p50: none, p90: none, p99: none, p999: none, max: none, mean: none },
      errors: { connect: 0, read: 0, write: 0, status: bad ?? 0, timeout: 0 },
    }
  }
  const line = r.stdout.split('\n').find((l) => l.startsWith('WRKJSON '))
  if (line === undefined) throw new Error(`wrk gave no report (exit ${r.code}): ${r.stderr || r.stdout}`)
  const j = JSON.parse(line.slice(8)) as {
    requests: number
    duration_us: number
    bytes: number
    errors: LoadResult['errors']
    latency_us: Record<'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'mean', number>
  }
  const secs = j.duration_us / 1e6
  const ms = (x: number) => x / 1000
  return {
    requests: j.requests,
    seconds: secs,
    rps: j.requests / secs,
    bytes: j.bytes,
    latencyMs: {
      p50: ms(j.latency_us.p50),
      p90: ms(j.latency_us.p90),
      p99: ms(j.latency_us.p99),
      p999: ms(j.latency_us.p999),
      max: ms(j.latency_us.max),
      mean: ms(j.latency_us.mean),
    },
    errors: j.errors,
  }
}

async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  const args = [
    '--yes',
    `autocannon@${autocannonVersion}`,
    '-j',
    '-c',
    String(spec.connections),
    '-d',
    String(Math.ceil(spec.seconds)),
  ]
  if (spec.limit !== undefined && spec.limit > 0) args.push('-a', String(spec.limit))
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}=${v}`)
  args.push(spec.url)
  const [cmd, argv] = pinned(spec.cpus, 'npx', args)
  const r = await run(cmd, argv, {}, (spec.seconds + 120) * 1000)
  const start = r.stdout.indexOf('{')
  if (start < 0) throw new Error(`autocannon gave no report (exit ${r.code}): ${r.stderr}`)
  const j = JSON.parse(r.stdout.slice(start)) as {
    requests: { total: number }
    duration: number
    throughput: { total: number }
    latency: { p50: number; p90: number; p99: number; p99_9?: number; p999?: number; max: number; average: number }
    errors: number
    timeouts: number
    non2xx: number
  }
  return {
    requests: j.requests.total,
    seconds: j.duration,
    rps: j.requests.total / j.duration,
    bytes: j.throughput.total,
    latencyMs: {
      p50: j.latency.p50,
      p90: j.latency.p90,
      p99: j.latency.p99,
      p999: j.latency.p99_9 ?? j.latency.p999 ?? Number.NaN,
      max: j.latency.max,
      mean: j.latency.average,
    },
    errors: { connect: j.errors, read: 0, write: 0, status: j.non2xx, timeout: j.timeouts },
  }
}

export interface ProbeResult {
  requests: number
  errors: number
  seconds: number
  rps: number
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
}

/** One connection, one request at a time, timed per request (bench/lib/probe.ts), pinned to `cpus`. */
export async function runProbe(spec: {
  url: string
  seconds: number
  headers?: Record<string, string>
  cpus?: string
}): Promise<ProbeResult> {
  const job = JSON.stringify({ url: spec.url, headers: spec.headers ?? {}, seconds: spec.seconds })
  const [cmd, argv] = pinned(spec.cpus, process.execPath, [path.join(benchDir, 'lib', 'probe.ts'), job])
  const r = await run(cmd, argv, {}, (spec.seconds + 30) * 1000)
  const line = r.stdout.split('\n').find((l) => l.startsWith('PROBE '))
  if (line === undefined) throw new Error(`the latency probe gave no report (exit ${r.code}): ${r.stderr}`)
  return JSON.parse(line.slice(6)) as ProbeResult
}
