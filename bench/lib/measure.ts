/**
 * One measured round: CPU time of each measured process (set) before and after, the load
 * generator's figures, and resident memory at the end.
 */
import { cpuMicros, rssBytes, type Measured } from './proc.ts'

export interface Sample {
  /** CPU time per unit of work (request, grant, flow), µs, per measured process. */
  cpuPerOp: Record<string, number>
  /** CPU used during the round as a share of one core, per measured process. */
  coreShare: Record<string, number>
  rssBytes: Record<string, number>
}

/** Runs `work` and measures `servers` around it; `ops` is read from the result. */
export async function measured<T>(
  servers: readonly Measured[],
  work: () => Promise<T>,
  ops: (r: T) => number,
): Promise<{ result: T; sample: Sample; wallSeconds: number }> {
  const before = servers.map((s) => ({ s, pids: s.pids() }))
  const cpu0 = before.map((b) => cpuMicros(b.pids))
  const t0 = process.hrtime.bigint()
  const result = await work()
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  const n = Math.max(1, ops(result))
  const sample: Sample = { cpuPerOp: {}, coreShare: {}, rssBytes: {} }
  servers.forEach((s, i) => {
    const pids = s.pids()
    const used = cpuMicros(pids) - (cpu0[i] ?? 0)
    sample.cpuPerOp[s.name] = used / n
    sample.coreShare[s.name] = used / 1e6 / wallSeconds
    sample.rssBytes[s.name] = rssBytes(pids)
  })
  return { result, sample, wallSeconds }
}
