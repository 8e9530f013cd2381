/**
 * Processes the benchmarks start: each server in a process (group) of its own, pinned to
 * the server cores with taskset when it is there, its CPU time and memory read from /proc,
 * and every one of them stopped when the run ends — normally, on an error, or on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url))
export const benchDir = path.join(projectRoot, 'bench')

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (getconf CLK_TCK). */
export const clockTicks: number = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const n = Number.parseInt(r.stdout ?? '', 10)
  return Number.isFinite(n) && n > 0 ? n : 100
})()

const tasksetPath: string | undefined = (() => {
  for (const p of ['/usr/bin/taskset', '/bin/taskset']) if (fs.existsSync(p)) return p
  return undefined
})()

export const canPin = tasksetPath !== undefined

/** Pins this process (the orchestrator) to `cpus`, so that it stays off the server cores. */
export function pinSelf(cpus: string | undefined): void {
  if (cpus === undefined || tasksetPath === undefined) return
  spawnSync(tasksetPath, ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' })
}

/** Moves a running process (all its threads) to `cpus`. */
export function setAffinity(pid: number, cpus: string): void {
  if (tasksetPath === undefined) return
  for (const p of processTree(pid)) spawnSync(tasksetPath, ['-a', '-p', '-c', cpus, String(p)], { stdio: 'ignore' })
}

export interface StartOptions {
  /** CPU list for taskset (e.g. "0"); unpinned when undefined or taskset is missing. */
  cpus?: string | undefined
  env?: Record<string, string | undefined>
  cwd?: string
  /** File receiving stdout and stderr (default: kept in memory, last 64 KiB). */
  logFile?: string
  /** Signal that stops it gracefully (default SIGTERM). */
  stopSignal?: NodeJS.Signals
}

export interface Proc {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** The last output (for error messages). */
  output(): string
  exited(): boolean
  /** Graceful stop, then SIGKILL of the whole group after `graceMs`. */
  stop(graceMs?: number): Promise<void>
}

const running = new Set<Proc>()

/** Starts `cmd args` in a new process group (so its workers are stopped with it). */
export function startProcess(name: string, cmd: string, args: readonly string[], opts: StartOptions = {}): Proc {
  const pinned = opts.cpus !== undefined && tasksetPath !== undefined
  // taskset execs the command: the pid we get is the server's own.
  const file = pinned ? (tasksetPath as string) : cmd
  const argv = pinned ? ['-c', opts.cpus as string, cmd, ...args] : [...args]
  let out = ''
  let logFd: number | undefined
  if (opts.logFile !== undefined) logFd = fs.openSync(opts.logFile, 'a')
  const child = spawn(file, argv, {
    cwd: opts.cwd ?? projectRoot,
    env: { ...process.env, ...opts.env } as NodeJS.ProcessEnv,
    stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
    detached: true,
  })
  if (logFd !== undefined) fs.closeSync(logFd)
  const keep = (d: Buffer) => {
    out += d.toString('utf8')
    if (out.length > 65536) out = out.slice(-65536)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`)
  const pid = child.pid
  let exitedFlag = false
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exitedFlag = true
      resolve()
    })
    child.once('error', (err) => {
      out += `\n${String(err)}`
      exitedFlag = true
      resolve()
    })
  })
  const proc: Proc = {
    name,
    pid,
    child,
    output: () => (opts.logFile !== undefined ? tail(opts.logFile) : out),
    exited: () => exitedFlag,
    async stop(graceMs = 15_000) {
      if (!exitedFlag) {
        try {
          process.kill(pid, opts.stopSignal ?? 'SIGTERM')
        } catch {
          // already gone
        }
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref())
        if ((await Promise.race([exitPromise, timer])) === 'timeout') {
          try {
            process.kill(-pid, 'SIGKILL')
          } catch {
            // already gone
          }
          await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2000).unref())])
        }
      }
      // Workers of a master that exited (nginx, Apache) go with the group.
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // no group left
      }
      running.delete(proc)
    },
  }
  running.add(proc)
  return proc
}

function tail(file: string): string {
  try {
    const text = fs.readFileSync(file, 'utf8')
    return text.slice(-8192)
  } catch {
    return ''
  }
}

/** Stops everything still running, newest first (load generators before servers, servers before the backend). */
export async function stopAll(): Promise<void> {
  const procs = [...running].reverse()
  for (const p of procs) await p.stop(10_000).catch(() => undefined)
}

const cleanups: Array<() => Promise<void> | void> = []
/** Runs at the end whatever happens (temporary folders, databases). Last registered runs first. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn)
}

let exiting = false
let cleaning: Promise<void> | undefined
/** Stops everything and runs the cleanups, once: every caller awaits the same run. */
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll()
    for (const fn of cleanups.reverse()) {
      try {
        await fn()
      } catch (err) {
        process.stderr.write(`cleanup: ${String(err)}\n`)
      }
    }
    cleanups.length = 0
  })()
  return cleaning
}

/**
 * Runs a benchmark's main function with everything stopped afterwards: on return, on an
 * error, on SIGINT/SIGTERM (Ctrl-C), and after `maxSeconds` at most (a bound on the run).
 */
export async function runMain(main: () => Promise<void>, maxSeconds: number): Promise<void> {
  const onSignal = (sig: NodeJS.Signals) => {
    if (exiting) {
      process.stderr.write(`\n${sig} again: killing everything now\n`)
      for (const p of running) {
        try {
          process.kill(-p.pid, 'SIGKILL')
        } catch {
          // gone
        }
      }
      process.exit(130)
    }
    exiting = true
    process.stderr.write(`\n${sig}: stopping everything this run started…\n`)
    void cleanupAll().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const watchdog = setTimeout(() => {
    process.stderr.write(`\nthe run exceeded its bound of ${maxSeconds} s: stopping\n`)
    exiting = true
    void cleanupAll().finally(() => process.exit(1))
  }, maxSeconds * 1000)
  watchdog.unref()
  let code = 0
  try {
    await main()
  } catch (err) {
    process.stderr.write(`\nbenchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    code = 1
  } finally {
    clearTimeout(watchdog)
    exiting = true
    // Also when a signal started the cleanup first (main then fails as its children die):
    // exit only once everything is stopped.
    await cleanupAll()
  }
  process.exit(code)
}

// ---- /proc readings ----

interface StatLine {
  pid: number
  ppid: number
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number
}

function readStat(pid: number): StatLine | undefined {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces: split after its closing parenthesis.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); utime is field 14 → rest[11].
  const num = (i: number) => Number(rest[i] ?? 0)
  return { pid, ppid: num(1), ticks: num(11) + num(12) + num(13) + num(14) }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
}

/** The pid and every descendant of it that is alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const pid of allPids()) {
    const s = readStat(pid)
    if (s === undefined) continue
    const list = children.get(s.ppid) ?? []
    list.push(pid)
    children.set(s.ppid, list)
  }
  const out: number[] = []
  const stack = [root]
  while (stack.length > 0 && out.length < 10_000) {
    const p = stack.pop() as number
    out.push(p)
    for (const c of children.get(p) ?? []) stack.push(c)
  }
  return out
}

/** CPU time (user + system, children reaped included) of a set of processes, in µs. */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) ticks += readStat(pid)?.ticks ?? 0
  return (ticks * 1e6) / clockTicks
}

/** Resident memory (VmRSS) of a set of processes, in bytes. */
export function rssBytes(pids: readonly number[]): number {
  let kb = 0
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
      kb += Number(m?.[1] ?? 0)
    } catch {
      // gone
    }
  }
  return kb * 1024
}

/** Processes whose command line contains `needle` (PostgreSQL backends name their database). */
export function pidsWithCmdline(needle: string, ownerTree?: number): number[] {
  const inTree = ownerTree === undefined ? undefined : new Set(processTree(ownerTree))
  const out: number[] = []
  for (const pid of allPids()) {
    if (inTree !== undefined && !inTree.has(pid)) continue
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmd.includes(needle)) out.push(pid)
    } catch {
      // gone
    }
  }
  return out
}

/**
 * What a measured server is made of, for CPU and memory: its process tree (nginx and
 * Apache fork workers), or a dynamic set (PostgreSQL backends of the bench database).
 */
export interface Measured {
  readonly name: string
  pids(): number[]
}

export function treeOf(name: string, pid: number): Measured {
  return { name, pids: () => processTree(pid) }
}

// ---- ports and readiness ----

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0))
    })
  })
}

/** Polls `url` until it answers `status` (200 by default), the process dies, or `timeoutMs` passes. */
export async function waitForHttp(
  url: string,
  proc: Proc | undefined,
  timeoutMs = 60_000,
  status = 200,
): Promise<void> {
  const end = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < end) {
    if (proc?.exited()) throw new Error(`${proc.name} exited while starting:\n${proc.output()}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === status) return
      last = `HTTP ${res.status}`
    } catch (err) {
      last = String((err as Error).message)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(
    `${url} did not answer ${status} within ${timeoutMs} ms (${last})${proc ? `:\n${proc.output()}` : ''}`,
  )
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** The Node binary running this script (node_modules/.bin/node through npm, Node 24). */
export const nodeBin = process.execPath
