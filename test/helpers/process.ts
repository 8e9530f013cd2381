import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url))
export const cliPath = path.join(projectRoot, 'bin', 'satupintu.js')

/** A port that was free a moment ago (bind to 0, read it, release it). */
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

export interface CliRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the real `satupintu` command with Node (the one running the tests) and waits for it. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Starts the command in the background; the caller stops it. */
export function spawnCli(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  return { child, output: () => out }
}

/** Polls `url` until it answers 200 or `timeoutMs` passes. */
export async function waitForOk(url: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    try {
      const res = await fetch(url)
      if (res.status === 200) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

export function exited(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'timeout'> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode })
      return
    }
    const timer = setTimeout(() => resolve('timeout'), timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  })
}

/**
 * Runs `start` with fresh free ports until it does not meet EADDRINUSE: a port found free
 * a moment ago can be taken by a parallel test file before our server listens on it.
 */
export async function withFreshPorts<T>(
  count: number,
  start: (ports: number[]) => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let i = 1; ; i++) {
    const ports: number[] = []
    for (let j = 0; j < count; j++) ports.push(await freePort())
    try {
      return await start(ports)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i >= attempts) throw err
    }
  }
}

/** Listens on a port the kernel picks (no race with other test files) and returns it. */
export async function listenOnAnyPort(server: import('node:net').Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  return typeof addr === 'object' && addr !== null ? addr.port : 0
}

/** The environment of a quick start (`start --demo`) in `dir` on three free ports, as a new user runs it. */
export async function quickStartEnv(
  dir: string,
  logLevel = 'info',
): Promise<{
  env: Record<string, string>
  ports: { IDP_PORT: number; GATEWAY_PORT: number; DEMO_AGENCY_PORT: number }
}> {
  const ports = { IDP_PORT: await freePort(), GATEWAY_PORT: await freePort(), DEMO_AGENCY_PORT: await freePort() }
  const env = {
    NODE_ENV: 'development',
    LOG_LEVEL: logLevel,
    SATUPINTU_DATA_DIR: dir,
    PGLITE_DATA_DIR: path.join(dir, 'pglite'),
    ISSUER: `http://localhost:${ports.IDP_PORT}`,
    GATEWAY_URL: `http://localhost:${ports.GATEWAY_PORT}`,
    IDP_PORT: String(ports.IDP_PORT),
    GATEWAY_PORT: String(ports.GATEWAY_PORT),
    DEMO_AGENCY_PORT: String(ports.DEMO_AGENCY_PORT),
  }
  return { env, ports }
}
