/**
 * Memory benchmark (issue 6), on PostgreSQL: resident memory (RSS) of each service
 *  - idle: just started, and again after a warm-up (10,000 requests) and a quiet pause;
 *  - across 1,000,000 requests proxied through the gateway (bearer token, 50
 *    connections), read after every chunk and after a quiet pause: growth beyond noise
 *    would be a leak;
 *  - during a 100 MB streamed upload through the gateway to the backend, and a 100 MB
 *    download from it (sampled every 50 ms): constant memory means the peak stays near idle.
 *
 *   node bench/memory.ts [--requests 1000000] [--chunk 250000] [--upload-mb 100] [--connections 50]
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { commonOptions, cpuCount } from './lib/args.ts'
import { codeFlow, tokenRequest, type TokenResponse } from './lib/browser.ts'
import { loadGenerator, runLoad } from './lib/load.ts'
import {
  freePort,
  nodeBin,
  onCleanup,
  pinSelf,
  processTree,
  projectRoot,
  rssBytes,
  runMain,
  sleep,
  startProcess,
  waitForHttp,
  type Proc,
} from './lib/proc.ts'
import { describeMachine, fmt, log, machine, table, writeResults } from './lib/report.ts'
import { prepareStack, startGateway, startIdp, type Stack } from './lib/stack.ts'

const usage = 'node bench/memory.ts — RSS idle, across 1 M proxied requests, and during a 100 MB upload and download.'
const MiB = 2 ** 20

async function main(): Promise<void> {
  const opts = commonOptions(
    { seconds: 10, rounds: 1, warmup: 3, connections: 50 },
    { requests: { type: 'string' }, chunk: { type: 'string' }, 'upload-mb': { type: 'string' } },
    usage,
  )
  const total = Math.max(1, Math.min(5_000_000, Number(opts.extra.requests ?? 1_000_000)))
  const chunk = Math.max(1000, Math.min(total, Number(opts.extra.chunk ?? 250_000)))
  const uploadMB = Math.max(1, Math.min(1024, Number(opts.extra['upload-mb'] ?? 100)))
  pinSelf(opts.loadCpus)
  const m = machine(
    `services on CPU ${opts.serverCpus}, load generator (${loadGenerator}) and this orchestrator on CPU ${opts.loadCpus}, PostgreSQL unpinned`,
  )
  log(describeMachine(m))

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satupintu-bench-mem-'))
  if (!opts.keep) onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }))
  const backendPort = await freePort()
  const backend = startProcess(
    'backend',
    nodeBin,
    [path.join(projectRoot, 'bench', 'lib', 'backend.ts'), String(backendPort)],
    { cpus: opts.serverCpus },
  )
  await waitForHttp(`http://127.0.0.1:${backendPort}/`, backend)
  const stack = await prepareStack({
    dir,
    keep: opts.keep,
    backendPort,
    citizens: 1,
    services: [{ id: 'unggah', path: '/unggah', maxBodyBytes: (uploadMB + 10) * MiB, timeoutMs: 300_000 }],
  })
  const idp = await startIdp(stack, { cpus: opts.serverCpus, threadpool: cpuCount(opts.serverCpus) })
  const gateway = await startGateway(stack, { cpus: opts.serverCpus })
  const procs: Record<string, Proc> = { idp, gateway, backend }
  const rss = () => Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, rssBytes(processTree(p.pid)) / MiB]))

  await sleep(2000)
  const idleStart = rss()
  log(`idle after start: ${show(idleStart)}`)

  const citizen = stack.citizens[0] as { nik: string; password: string }
  let tokens: TokenResponse = await codeFlow(
    {
      issuer: stack.issuer,
      clientId: stack.app.clientId,
      secret: stack.app.secret,
      redirectUri: stack.app.redirectUri,
      scope: 'openid profile offline_access',
      resource: stack.gatewayResource,
    },
    { username: citizen.nik, password: citizen.password },
  )
  const refresh = async () => {
    tokens = await tokenRequest(stack.issuer, stack.app.clientId, stack.app.secret, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token ?? '',
      resource: stack.gatewayResource,
    })
  }
  const url = `${stack.gatewayUrl}/layanan/bench/`
  await runLoad({
    url,
    seconds: 30,
    connections: opts.connections,
    headers: { authorization: `Bearer ${tokens.access_token}` },
    limit: 10_000,
    cpus: opts.loadCpus,
  })
  await sleep(5000)
  const idleWarm = rss()
  log(`idle after 10,000 requests and 5 s: ${show(idleWarm)}`)

  // ---- 1 M requests in chunks ----
  const chunks: {
    requests: number
    rps: number
    errors: number
    underLoad: Record<string, number>
    quiet: Record<string, number>
  }[] = []
  let done = 0
  for (let i = 0; done < total && i < 100; i++) {
    await refresh()
    const n = Math.min(chunk, total - done)
    // Bounded in time too: 600 s per chunk at most.
    const before = rssSampler(procs)
    const r = await runLoad({
      url,
      seconds: 600,
      connections: opts.connections,
      headers: { authorization: `Bearer ${tokens.access_token}` },
      limit: n,
      cpus: opts.loadCpus,
    })
    const underLoad = before.stop()
    done += r.requests
    await sleep(3000)
    const quiet = rss()
    const errors = r.errors.status + r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout
    chunks.push({ requests: done, rps: r.rps, errors, underLoad, quiet })
    log(
      `${fmt(done)} requests (${fmt(r.rps)} req/s${errors > 0 ? `, ${errors} errors` : ''}): peak under load ${show(underLoad)}; quiet ${show(quiet)}`,
    )
  }

  // ---- 100 MB upload and download through the gateway ----
  await refresh()
  const uploadBytes = uploadMB * MiB
  const up = rssSampler(procs)
  const t0 = performance.now()
  const upAnswer = await upload(`${stack.gatewayUrl}/layanan/bench/unggah`, tokens.access_token, uploadBytes)
  const upSeconds = (performance.now() - t0) / 1000
  const upPeak = up.stop()
  log(
    `upload ${uploadMB} MB in ${upSeconds.toFixed(1)} s (backend received ${fmt(upAnswer.bytes)} bytes): peak ${show(upPeak)}`,
  )
  if (upAnswer.bytes !== uploadBytes) throw new Error(`the backend received ${upAnswer.bytes} bytes of ${uploadBytes}`)
  await sleep(2000)
  const down = rssSampler(procs)
  const t1 = performance.now()
  const got = await download(
    `${stack.gatewayUrl}/layanan/bench/unduh/__download?bytes=${uploadBytes}`,
    tokens.access_token,
  )
  const downSeconds = (performance.now() - t1) / 1000
  const downPeak = down.stop()
  log(`download ${uploadMB} MB in ${downSeconds.toFixed(1)} s (${fmt(got)} bytes): peak ${show(downPeak)}`)
  if (got !== uploadBytes) throw new Error(`downloaded ${got} bytes of ${uploadBytes}`)

  // ---- report ----
  const first = chunks[0]
  const last = chunks[chunks.length - 1]
  const names = Object.keys(procs)
  const rows: string[][] = [['RSS MB', ...names]]
  rows.push(['idle, just started', ...names.map((n) => fmt(idleStart[n] ?? Number.NaN, 1))])
  rows.push(['idle, after 10,000 requests + 5 s', ...names.map((n) => fmt(idleWarm[n] ?? Number.NaN, 1))])
  for (const c of chunks)
    rows.push([`after ${fmt(c.requests)} requests (quiet 3 s)`, ...names.map((n) => fmt(c.quiet[n] ?? Number.NaN, 1))])
  if (first && last)
    rows.push([
      `growth from ${fmt(first.requests)} to ${fmt(last.requests)}`,
      ...names.map((n) => fmt((last.quiet[n] ?? 0) - (first.quiet[n] ?? 0), 1)),
    ])
  rows.push([
    `peak during ${uploadMB} MB upload (${(uploadMB / upSeconds).toFixed(0)} MB/s)`,
    ...names.map((n) => fmt(upPeak[n] ?? Number.NaN, 1)),
  ])
  rows.push([
    `peak during ${uploadMB} MB download (${(uploadMB / downSeconds).toFixed(0)} MB/s)`,
    ...names.map((n) => fmt(downPeak[n] ?? Number.NaN, 1)),
  ])
  process.stdout.write(`\n${describeMachine(m)}\n${table(rows)}\n`)
  const file = writeResults('memory', {
    scenario: 'memory',
    date: new Date().toISOString(),
    machine: m,
    loadGenerator,
    options: { ...opts, extra: undefined, total, chunk, uploadMB },
    idleStart,
    idleWarm,
    chunks,
    upload: { bytes: uploadBytes, seconds: upSeconds, peak: upPeak },
    download: { bytes: got, seconds: downSeconds, peak: downPeak },
  })
  log(`results: ${path.relative(projectRoot, file)}`)
}

function show(r: Record<string, number>): string {
  return Object.entries(r)
    .map(([k, v]) => `${k} ${v.toFixed(1)} MB`)
    .join(', ')
}

/** Samples RSS every 50 ms until stopped; returns the peaks. */
function rssSampler(procs: Record<string, Proc>): { stop(): Record<string, number> } {
  const peak: Record<string, number> = {}
  const trees = Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, processTree(p.pid)]))
  const sample = () => {
    for (const [k, pids] of Object.entries(trees)) peak[k] = Math.max(peak[k] ?? 0, rssBytes(pids) / MiB)
  }
  sample()
  const timer = setInterval(sample, 50)
  return {
    stop() {
      clearInterval(timer)
      sample()
      return { ...peak }
    },
  }
}

/** Streams `bytes` of generated data (never held whole) as the request body. */
function upload(url: string, token: string, bytes: number): Promise<{ bytes: number }> {
  const block = Buffer.alloc(65536, 97)
  let sent = 0
  const body = new Readable({
    read() {
      if (sent >= bytes) {
        this.push(null)
        return
      }
      const n = Math.min(block.length, bytes - sent)
      sent += n
      this.push(n === block.length ? block : block.subarray(0, n))
    },
  })
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'content-length': bytes,
        },
        timeout: 300_000,
      },
      (res) => {
        let text = ''
        res.on('data', (d: Buffer) => (text += d.toString()))
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`upload answered ${res.statusCode}: ${text.slice(0, 300)}`))
          else resolve(JSON.parse(text) as { bytes: number })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('upload timed out')))
    req.on('error', reject)
    body.pipe(req)
  })
}

function download(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${token}` }, timeout: 300_000 }, (res) => {
      let n = 0
      res.on('data', (d: Buffer) => (n += d.length))
      res.on('end', () =>
        res.statusCode === 200 ? resolve(n) : reject(new Error(`download answered ${res.statusCode}`)),
      )
    })
    req.on('timeout', () => req.destroy(new Error('download timed out')))
    req.on('error', reject)
  })
}

export type { Stack }

await runMain(main, 60 * 60)
