/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by area
 * (our src/ folders, each npm package, Node internals, GC), optionally skipping the
 * first milliseconds (start-up).
 *
 *   node bench/profile-summary.ts <file.cpuprofile> [--top 25] [--skip-ms 3000]
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  file: string
  /** Milliseconds of samples considered (after the skip), idle included. */
  sampledMs: number
  idleMs: number
  /** Busy time (not idle), ms. */
  busyMs: number
  functions: { name: string; where: string; area: string; selfMs: number; share: number }[]
  areas: { area: string; selfMs: number; share: number }[]
}

const projectRoot = fileURLToPath(new URL('../', import.meta.url))

/** Which part of the program a function belongs to. */
export function areaOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC'
    if (functionName === '(idle)') return 'idle'
    if (functionName === '(program)') return 'V8/native (program)'
    return `native: ${functionName || '(anonymous)'}`
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`
  const p = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = p.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = p.slice(nm + 14).split('/')
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? '?')
    return `npm: ${pkg}`
  }
  const rel = path.relative(projectRoot, p)
  if (!rel.startsWith('..')) {
    const parts = rel.split(path.sep)
    return parts[0] === 'src' && parts.length > 2 ? `src/${parts[1]}/${parts[2]}` : rel
  }
  return p
}

function whereOf(cf: CallFrame): string {
  if (cf.url === '') return ''
  const p = cf.url.startsWith('file://') ? fileURLToPath(cf.url) : cf.url
  const nm = p.lastIndexOf('/node_modules/')
  const short =
    nm >= 0 ? p.slice(nm + 14) : path.relative(projectRoot, p).startsWith('..') ? p : path.relative(projectRoot, p)
  return `${short}:${cf.lineNumber + 1}`
}

export function summarizeProfile(file: string, opts: { top?: number; skipMs?: number } = {}): ProfileSummary {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const n of prof.nodes) byId.set(n.id, n)
  const selfUs = new Map<number, number>()
  const skipUs = (opts.skipMs ?? 0) * 1000
  let t = prof.startTime
  let sampled = 0
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0
    t += dt
    if (t - prof.startTime < skipUs) continue
    // A sample's time is the gap to the next sample (what the stack held meanwhile).
    const next = prof.timeDeltas[i + 1] ?? dt
    const id = prof.samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + next)
    sampled += next
  }
  const fnTotals = new Map<string, { name: string; where: string; area: string; us: number }>()
  const areaTotals = new Map<string, number>()
  let idle = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (node === undefined) continue
    const cf = node.callFrame
    const area = areaOf(cf.url, cf.functionName)
    if (area === 'idle') {
      idle += us
      continue
    }
    const key = `${cf.functionName}|${cf.url}|${cf.lineNumber}`
    const entry = fnTotals.get(key) ?? { name: cf.functionName || '(anonymous)', where: whereOf(cf), area, us: 0 }
    entry.us += us
    fnTotals.set(key, entry)
    areaTotals.set(area, (areaTotals.get(area) ?? 0) + us)
  }
  const busy = sampled - idle
  const top = opts.top ?? 25
  return {
    file,
    sampledMs: sampled / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    functions: [...fnTotals.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({
        name: f.name,
        where: f.where,
        area: f.area,
        selfMs: f.us / 1000,
        share: busy > 0 ? f.us / busy : 0,
      })),
    areas: [...areaTotals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, selfMs: us / 1000, share: busy > 0 ? us / busy : 0 })),
  }
}

export function formatProfile(s: ProfileSummary, perOp?: { ops: number; label: string }): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const us = (ms: number) => (perOp === undefined ? '' : `  ${((ms * 1000) / perOp.ops).toFixed(1)} µs/${perOp.label}`)
  const lines = [
    `${path.basename(s.file)}: ${s.busyMs.toFixed(0)} ms busy of ${s.sampledMs.toFixed(0)} ms sampled${perOp ? ` (${perOp.ops} ${perOp.label}s)` : ''}`,
    '  by area (self time):',
    ...s.areas.map((a) => `    ${pct(a.share).padStart(6)}  ${a.area}${us(a.selfMs)}`),
    '  top functions (self time):',
    ...s.functions.map((f) => `    ${pct(f.share).padStart(6)}  ${f.name}  ${f.where}${us(f.selfMs)}`),
  ]
  return lines.join('\n')
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string' }, 'skip-ms': { type: 'string' } },
    allowPositionals: true,
  })
  if (positionals.length === 0) {
    process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile> [--top 25] [--skip-ms 0]\n')
    process.exit(2)
  }
  for (const f of positionals) {
    const s = summarizeProfile(f, { top: Number(values.top ?? 25), skipMs: Number(values['skip-ms'] ?? 0) })
    process.stdout.write(`${formatProfile(s)}\n`)
  }
}
