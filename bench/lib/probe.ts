/**
 * Latency probe: one keep-alive connection, one request at a time, each timed with the
 * monotonic clock; bounded in time and count. Run as its own process on the load CPU:
 * alone for the one-connection shape, and beside wrk under load (wrk 4.1's own latency
 * figures are not usable here: their sums exceed the physical bound, see bench/README.md).
 *
 *   node bench/lib/probe.ts '<json: {"url","headers","seconds"}>'
 */
import http from 'node:http'

const job = JSON.parse(process.argv[2] ?? '{}') as { url: string; headers?: Record<string, string>; seconds: number }
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
const latencies: number[] = []
let errors = 0
const start = performance.now()
const deadline = start + Math.min(60, job.seconds) * 1000

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(job.url, { agent, headers: job.headers ?? {}, timeout: 10_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

for (let n = 0; n < 1_000_000 && performance.now() < deadline; n++) {
  const t = performance.now()
  try {
    const status = await once()
    if (status >= 400) errors++
    latencies.push(performance.now() - t)
  } catch {
    errors++
  }
}
const seconds = (performance.now() - start) / 1000
agent.destroy()
latencies.sort((a, b) => a - b)
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN
const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)
process.stdout.write(
  `PROBE ${JSON.stringify({ requests: latencies.length, errors, seconds, rps: latencies.length / seconds, latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: latencies[latencies.length - 1] ?? Number.NaN, mean } })}\n`,
)
