/** Command-line options shared by the benchmarks (node:util parseArgs). */
import os from 'node:os'
import { parseArgs } from 'node:util'

export interface CommonOptions {
  /** Length of one measured round (s); at most 60. */
  seconds: number
  /** Measured rounds per system. */
  rounds: number
  /** Warm-up per system before the first round (s). */
  warmup: number
  /** Concurrent connections of the load generator. */
  connections: number
  /** CPUs for the servers and for the load generator (taskset lists). */
  serverCpus: string
  loadCpus: string
  /** Only these systems (comma-separated ids), when given. */
  only: string[] | undefined
  /** Also run one round under `node --cpu-prof` and summarise it. */
  profile: boolean
  /** Keep the temporary folder (configs, logs) for inspection. */
  keep: boolean
  extra: Record<string, string | boolean | undefined>
}

export function commonOptions(
  defaults: Partial<Pick<CommonOptions, 'seconds' | 'rounds' | 'warmup' | 'connections'>>,
  extra: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }> = {},
  usage = '',
): CommonOptions {
  const cpus = os.availableParallelism()
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      'server-cpus': { type: 'string' },
      'load-cpus': { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      ...extra,
    },
    strict: true,
    allowPositionals: false,
  })
  if (values.help) {
    process.stdout.write(
      `${usage}\nCommon options:\n  --seconds N      length of a round (default ${defaults.seconds ?? 10}, at most 60)\n  --rounds N       measured rounds per system (default ${defaults.rounds ?? 5})\n  --warmup N       warm-up seconds per system (default ${defaults.warmup ?? 3})\n  --connections N  concurrent connections (default ${defaults.connections ?? 50})\n  --server-cpus L  taskset CPU list for the servers (default 0)\n  --load-cpus L    taskset CPU list for the load generator (default ${cpus > 1 ? 1 : 0})\n  --only a,b       only these systems\n  --profile        one extra round under node --cpu-prof, summarised\n  --keep           keep the temporary folder (configs, logs)\n`,
    )
    process.exit(0)
  }
  const num = (v: unknown, d: number, min: number, max: number, name: string) => {
    if (v === undefined) return d
    const n = Number(v)
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}`)
    return n
  }
  const v = values as Record<string, string | boolean | undefined>
  return {
    seconds: num(v.seconds, defaults.seconds ?? 10, 1, 60, 'seconds'),
    rounds: Math.round(num(v.rounds, defaults.rounds ?? 5, 1, 50, 'rounds')),
    warmup: num(v.warmup, defaults.warmup ?? 3, 0, 60, 'warmup'),
    connections: Math.round(num(v.connections, defaults.connections ?? 50, 1, 1000, 'connections')),
    serverCpus: typeof v['server-cpus'] === 'string' ? v['server-cpus'] : '0',
    loadCpus: typeof v['load-cpus'] === 'string' ? v['load-cpus'] : cpus > 1 ? '1' : '0',
    only:
      typeof v.only === 'string'
        ? v.only
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : undefined,
    profile: v.profile === true,
    keep: v.keep === true,
    extra: v,
  }
}

/** Number of CPUs in a taskset list like "0", "0,1" or "0-3". */
export function cpuCount(list: string): number {
  let n = 0
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number)
    if (a === undefined || !Number.isFinite(a)) continue
    n += b === undefined || !Number.isFinite(b) ? 1 : b - a + 1
  }
  return Math.max(1, n)
}
