/**
 * Gateway benchmark (issue 6): the same 1 KiB Node backend measured
 *   (a) directly;
 *   (b) behind nginx, a plain reverse proxy adding two headers;
 *   (c) behind Apache httpd + mod_auth_openidc validating an ES256 bearer JWT from our idp
 *       and passing its claims as headers (the closest existing peer);
 *   (d) behind our gateway with an ES256 bearer access token from our idp: full policy,
 *       header stripping and injection, the signed assertion;
 *   (e) the same with a browser session cookie (signed in once through the idp's pages);
 *   (f) the same as (d) on a service that asks for two documents (KTP and KK): the citizen
 *       uploaded both and granted them, so every request carries two fresh signed links
 *       (the `documents` claim in an assertion signed for that request, and `Link`);
 *   (r) a hand-written Fastify + @fastify/reply-from proxy with no checks: the floor of
 *       our stack, measured in the same run (the issue quotes ~86 µs for it);
 *   (d+log) (d) with log.level=info (two JSON lines per request, to /dev/null): what an
 *       operator running the default log level pays.
 * Two load shapes: throughput (--connections, default 50) and latency at one connection.
 * Rounds alternate the systems (the start rotates each round); medians with min–max.
 *
 *   node bench/gateway.ts [--seconds 10] [--rounds 5] [--warmup 3] [--connections 50]
 *                         [--latency-seconds 5] [--only a,b,c,d,e,f] [--profile] [--keep]
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { commonOptions, cpuCount } from './lib/args.ts'
import { Browser, signIn, tokenRequest, codeFlow } from './lib/browser.ts'
import { runLoad, runProbe, loadGenerator, type LoadResult, type ProbeResult } from './lib/load.ts'
import { measured, type Sample } from './lib/measure.ts'
import { peersInstalled, startApache, startNginx } from './lib/peers.ts'
import {
  freePort,
  nodeBin,
  onCleanup,
  pinSelf,
  projectRoot,
  runMain,
  setAffinity,
  sleep,
  startProcess,
  treeOf,
  waitForHttp,
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
import { databaseCounters, postgresBackends, prepareStack, startGateway, startIdp, type Stack } from './lib/stack.ts'
import { documentService, giveDocuments } from './lib/documents.ts'
import { formatProfile, summarizeProfile, type ProfileSummary } from './profile-summary.ts'

const usage = 'node bench/gateway.ts — the gateway against the backend alone, nginx and Apache mod_auth_openidc.'

interface System {
  id: string
  label: string
  url: string
  headers: () => Record<string, string>
  /** The proxy process (undefined for the backend alone). */
  proxy: Measured | undefined
  servers: Measured[]
}

interface RoundRecord {
  system: string
  shape: 'throughput' | 'latency'
  round: number
  /** wrk (throughput) or the probe (latency): requests and req/s. */
  load: LoadResult
  /** The latency probe: one connection, per-request timing. */
  probe: ProbeResult
  sample: Sample
  /** Transactions committed in the bench database per request (pg_stat_database). */
  dbTransactionsPerRequest: number
}

async function main(): Promise<void> {
  const opts = commonOptions(
    { seconds: 10, rounds: 5, warmup: 3, connections: 50 },
    { 'latency-seconds': { type: 'string' } },
    usage,
  )
  const latencySeconds = Math.min(opts.seconds, Number(opts.extra['latency-seconds'] ?? 5))
  pinSelf(opts.loadCpus)
  const m = machine(
    `servers on CPU ${opts.serverCpus}, load generator (${loadGenerator}) and this orchestrator on CPU ${opts.loadCpus}, PostgreSQL unpinned`,
  )
  log(describeMachine(m))
  const installed = peersInstalled()
  if (!installed.nginx || !installed.apache)
    log(`missing peers (run bench/setup.sh): nginx ${installed.nginx}, apache+mod_auth_openidc ${installed.apache}`)

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satupintu-bench-gw-'))
  fs.chmodSync(dir, 0o755)
  if (!opts.keep) onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }))
  else log(`run folder kept: ${dir}`)

  // ---- the backend, our services, the peers ----
  const backendPort = await freePort()
  const backend = startProcess(
    'backend',
    nodeBin,
    [path.join(projectRoot, 'bench', 'lib', 'backend.ts'), String(backendPort)],
    { cpus: opts.serverCpus },
  )
  await waitForHttp(`http://127.0.0.1:${backendPort}/`, backend)

  const stack = await prepareStack({ dir, keep: opts.keep, backendPort, citizens: 2, services: [documentService] })
  // (f): the first citizen uploads a KTP and a KK and grants both to the document service.
  const docs = await giveDocuments(stack, 0)
  const threadpool = cpuCount(opts.serverCpus)
  const idp = await startIdp(stack, { cpus: opts.serverCpus, threadpool })
  const gateway = await startGateway(stack, { cpus: opts.serverCpus })
  const gwLogPort = await freePort()
  const gatewayLog = await startGateway(stack, {
    cpus: opts.serverCpus,
    port: gwLogPort,
    logLevel: 'info',
    logFile: '/dev/null',
    name: 'gateway-info',
  })

  const refPort = await freePort()
  const reference = startProcess(
    'fastify-proxy',
    nodeBin,
    [path.join(projectRoot, 'bench', 'lib', 'fastify-proxy.ts'), String(refPort), String(backendPort)],
    { cpus: opts.serverCpus },
  )
  await waitForHttp(`http://127.0.0.1:${refPort}/`, reference)

  let nginx: Proc | undefined
  let apache: Proc | undefined
  const nginxPort = await freePort()
  const apachePort = await freePort()
  if (installed.nginx) {
    nginx = startNginx(dir, nginxPort, backendPort, opts.serverCpus)
    await waitForHttp(`http://127.0.0.1:${nginxPort}/`, nginx)
  }
  if (installed.apache) {
    apache = await startApache(dir, apachePort, backendPort, `${stack.issuer}/jwks`, opts.serverCpus)
    await waitForHttp(`http://127.0.0.1:${apachePort}/`, apache, 30_000, 401)
  }

  // ---- credentials: a citizen's JWT access token for the gateway resource, and a gateway session ----
  const citizen = stack.citizens[0] as { nik: string; password: string }
  let tokens = await codeFlow(
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
  let accessToken = tokens.access_token
  async function refreshAccessToken(): Promise<void> {
    if (tokens.refresh_token === undefined) throw new Error('the code flow gave no refresh token')
    tokens = await tokenRequest(stack.issuer, stack.app.clientId, stack.app.secret, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      resource: stack.gatewayResource,
    })
    accessToken = tokens.access_token
  }
  const sessionCookie = await gatewaySession(stack, citizen)

  const gwServers = [
    treeOf('gateway', gateway.pid),
    treeOf('backend', backend.pid),
    treeOf('idp', idp.pid),
    postgresBackends(),
  ]
  const all: System[] = [
    {
      id: 'a',
      label: '(a) backend alone',
      url: `http://127.0.0.1:${backendPort}/`,
      headers: () => ({}),
      proxy: undefined,
      servers: [treeOf('backend', backend.pid)],
    },
  ]
  if (nginx) {
    all.push({
      id: 'b',
      label: '(b) nginx, plain proxy',
      url: `http://127.0.0.1:${nginxPort}/`,
      headers: () => ({}),
      proxy: treeOf('nginx', nginx.pid),
      servers: [treeOf('nginx', nginx.pid), treeOf('backend', backend.pid)],
    })
  }
  if (apache) {
    all.push({
      id: 'c',
      label: '(c) Apache mod_auth_openidc, ES256 bearer',
      url: `http://127.0.0.1:${apachePort}/`,
      headers: () => ({ authorization: `Bearer ${accessToken}` }),
      proxy: treeOf('apache', apache.pid),
      servers: [treeOf('apache', apache.pid), treeOf('backend', backend.pid)],
    })
  }
  all.push(
    {
      id: 'r',
      label: '(r) Fastify + reply-from, no checks',
      url: `http://127.0.0.1:${refPort}/`,
      headers: () => ({}),
      proxy: treeOf('fastify-proxy', reference.pid),
      servers: [treeOf('fastify-proxy', reference.pid), treeOf('backend', backend.pid)],
    },
    {
      id: 'd',
      label: '(d) gateway, ES256 bearer',
      url: `${stack.gatewayUrl}/layanan/bench/`,
      headers: () => ({ authorization: `Bearer ${accessToken}` }),
      proxy: gwServers[0],
      servers: gwServers,
    },
    {
      id: 'e',
      label: '(e) gateway, session cookie',
      url: `${stack.gatewayUrl}/layanan/bench/`,
      headers: () => ({ cookie: sessionCookie }),
      proxy: gwServers[0],
      servers: gwServers,
    },
    {
      id: 'f',
      label: '(f) gateway, bearer, two document links',
      url: `${stack.gatewayUrl}/layanan/bench${documentService.path}/`,
      headers: () => ({ authorization: `Bearer ${accessToken}` }),
      proxy: gwServers[0],
      servers: gwServers,
    },
    {
      id: 'd+log',
      label: '(d+log) gateway, bearer, log.level=info',
      url: `http://127.0.0.1:${gwLogPort}/layanan/bench/`,
      headers: () => ({ authorization: `Bearer ${accessToken}` }),
      proxy: treeOf('gateway', gatewayLog.pid),
      servers: [
        treeOf('gateway', gatewayLog.pid),
        treeOf('backend', backend.pid),
        treeOf('idp', idp.pid),
        postgresBackends(),
      ],
    },
  )
  const systems = all.filter((s) => opts.only === undefined || opts.only.includes(s.id))

  // ---- each system really does what it is measured for ----
  const checks: Record<string, string> = {}
  for (const s of systems) checks[s.id] = await check(s)
  for (const [id, c] of Object.entries(checks)) log(`check ${id}: ${c}`)

  // ---- warm-up, then rounds ----
  for (const s of systems) {
    if (opts.warmup <= 0) break
    log(`warm-up ${s.id} (${opts.warmup} s)`)
    await runLoad({
      url: s.url,
      seconds: opts.warmup,
      connections: opts.connections,
      headers: s.headers(),
      cpus: opts.loadCpus,
    })
  }
  const records: RoundRecord[] = []
  for (const shape of ['throughput', 'latency'] as const) {
    const seconds = shape === 'throughput' ? opts.seconds : latencySeconds
    const connections = shape === 'throughput' ? opts.connections : 1
    for (let r = 0; r < opts.rounds; r++) {
      // A fresh token per round: it lives 5 minutes; both (c) and (d) verify it once, then cache.
      await refreshAccessToken()
      const order = [...systems.slice(r % systems.length), ...systems.slice(0, r % systems.length)]
      for (const s of order) {
        const x0 = await databaseTransactions(stack)
        // Throughput: wrk's connections plus the latency probe's one; latency: the probe alone.
        // Latency percentiles always come from the probe (wrk's are not usable, README).
        const { result, sample } = await measured(
          s.servers,
          async () => {
            const headers = s.headers()
            if (shape === 'latency') {
              const p = await runProbe({ url: s.url, seconds, headers, cpus: opts.loadCpus })
              return { load: probeAsLoad(p), probe: p }
            }
            const [load, probe] = await Promise.all([
              runLoad({ url: s.url, seconds, connections, headers, cpus: opts.loadCpus }),
              runProbe({ url: s.url, seconds: Math.max(1, seconds - 1), headers, cpus: opts.loadCpus }),
            ])
            return { load, probe }
          },
          (x) => x.load.requests + (shape === 'throughput' ? x.probe.requests : 0),
        )
        // PostgreSQL publishes its counters within a second: wait for them.
        const x1 =
          s.id.startsWith('d') || s.id === 'e' || s.id === 'f'
            ? (await sleep(1100), await databaseTransactions(stack))
            : x0
        const served = result.load.requests + (shape === 'throughput' ? result.probe.requests : 0)
        records.push({
          system: s.id,
          shape,
          round: r,
          load: result.load,
          probe: result.probe,
          sample,
          dbTransactionsPerRequest: (x1 - x0) / Math.max(1, served),
        })
        const bad =
          result.load.errors.status +
          result.load.errors.connect +
          result.load.errors.read +
          result.load.errors.write +
          result.load.errors.timeout +
          result.probe.errors
        log(
          `${shape} round ${r + 1}/${opts.rounds} ${s.id}: ${fmt(result.load.rps)} req/s, probe p50 ${result.probe.latencyMs.p50.toFixed(3)} ms, p99 ${result.probe.latencyMs.p99.toFixed(3)} ms` +
            `, ${s.proxy ? `${s.proxy.name} ${fmt(sample.cpuPerOp[s.proxy.name] ?? Number.NaN, 1)} µs/req` : `backend ${fmt(sample.cpuPerOp.backend ?? Number.NaN, 1)} µs/req`}` +
            (bad > 0 ? `, ${bad} errors (${JSON.stringify(result.load.errors)}, probe ${result.probe.errors})` : ''),
        )
      }
    }
  }

  // ---- profile: one round of (d), (e) and (f) with a gateway under node --cpu-prof ----
  const profiles: { mode: string; file: string; requests: number; summary: ProfileSummary }[] = []
  if (opts.profile) {
    const profDir = path.join(projectRoot, 'bench', 'results', 'profiles')
    fs.mkdirSync(profDir, { recursive: true })
    // While profiling, the backend runs on the load CPUs: on the gateway's core it would
    // preempt the gateway at every write, and V8's sampler would book the backend's time to
    // whatever gateway function was on the stack (writev, writeLatin1String, GC).
    setAffinity(backend.pid, opts.loadCpus)
    for (const mode of ['bearer', 'session', 'documents'] as const) {
      if (mode === 'documents' && !systems.some((s) => s.id === 'f')) continue
      await refreshAccessToken()
      const port = await freePort()
      const name = `gateway-${mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`
      const started = Date.now()
      const prof = await startGateway(stack, {
        cpus: opts.serverCpus,
        port,
        name: `gateway-prof-${mode}`,
        nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', name],
      })
      const url = `http://127.0.0.1:${port}/layanan/bench${mode === 'documents' ? `${documentService.path}/` : '/'}`
      const headers = mode === 'session' ? { cookie: sessionCookie } : { authorization: `Bearer ${accessToken}` }
      await runLoad({
        url,
        seconds: Math.min(3, opts.seconds),
        connections: opts.connections,
        headers,
        cpus: opts.loadCpus,
      })
      const skipMs = Date.now() - started
      const r = await runLoad({
        url,
        seconds: opts.seconds,
        connections: opts.connections,
        headers,
        cpus: opts.loadCpus,
      })
      await prof.stop(30_000)
      const file = path.join(profDir, name)
      if (!fs.existsSync(file)) {
        log(`profile ${mode}: no profile written (${file})`)
        continue
      }
      const summary = summarizeProfile(file, { top: 25, skipMs })
      profiles.push({ mode, file: path.relative(projectRoot, file), requests: r.requests, summary })
      log(
        `profile ${mode}: ${fmt(r.rps)} req/s under --cpu-prof\n${formatProfile(summary, { ops: r.requests, label: 'req' })}`,
      )
    }
    setAffinity(backend.pid, opts.serverCpus)
  }

  // ---- summaries ----
  const out = summarise(systems, records, opts.rounds)
  const tables = render(systems, out)
  process.stdout.write(`\n${describeMachine(m)}\n${tables}\n`)
  const file = writeResults('gateway', {
    scenario: 'gateway',
    date: new Date().toISOString(),
    machine: m,
    loadGenerator,
    options: { ...opts, extra: undefined, latencySeconds },
    systems: systems.map((s) => ({ id: s.id, label: s.label })),
    documents: docs,
    checks,
    summary: out,
    profiles,
    rounds: records,
  })
  log(`results: ${path.relative(projectRoot, file)}`)
}

function probeAsLoad(p: ProbeResult): LoadResult {
  return {
    requests: p.requests,
    seconds: p.seconds,
    rps: p.rps,
    bytes: Number.NaN,
    latencyMs: p.latencyMs,
    errors: { connect: 0, read: 0, write: 0, status: p.errors, timeout: 0 },
  }
}

async function databaseTransactions(stack: Stack): Promise<number> {
  return (await databaseCounters(stack)).transactions
}

/** Signs in at the gateway once, as a browser would, and returns the `sp_gw=…` cookie. */
async function gatewaySession(stack: Stack, citizen: { nik: string; password: string }): Promise<string> {
  const browser = new Browser()
  const first = await browser.request(`${stack.gatewayUrl}/layanan/bench/`)
  await first.arrayBuffer()
  const location = first.headers.get('location')
  if (first.status !== 303 || location === null)
    throw new Error(`the gateway did not send the browser to sign in (HTTP ${first.status})`)
  const back = await signIn(browser, new URL(location, stack.gatewayUrl).toString(), stack.issuer, {
    username: citizen.nik,
    password: citizen.password,
  })
  if (!back.startsWith(`${stack.gatewayUrl}/oidc/callback`)) throw new Error(`sign-in ended at ${back}`)
  const cb = await browser.request(back)
  const text = await cb.text()
  if (cb.status !== 303) throw new Error(`gateway callback answered ${cb.status}: ${text.slice(0, 300)}`)
  const c = browser.cookies.get('sp_gw')
  if (c === undefined) throw new Error('the gateway set no session cookie')
  return `sp_gw=${c.value}`
}

/** Asks the backend's /__headers through the system and says what arrived. */
async function check(s: System): Promise<string> {
  const url = new URL('__headers', s.url).toString()
  const res = await fetch(url, { headers: s.headers(), signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${s.label}: ${url} answered ${res.status}: ${text.slice(0, 300)}`)
  const h = (JSON.parse(text) as { headers: Record<string, string> }).headers
  const has = (k: string) => typeof h[k] === 'string' && h[k] !== ''
  switch (s.id) {
    case 'a':
      return 'backend answers'
    case 'r':
      return 'proxied without checks'
    case 'b':
      if (!has('x-request-id') || !has('x-forwarded-for')) throw new Error(`nginx did not add its headers: ${text}`)
      return 'x-request-id and x-forwarded-for added'
    case 'c': {
      const claims = Object.keys(h).filter((k) => k.startsWith('oidc_claim_'))
      if (!has('oidc_claim_sub')) throw new Error(`Apache passed no claims: ${text}`)
      return `claims passed: ${claims.join(', ')}${has('authorization') ? '; Authorization passed on to the backend too' : ''}`
    }
    default: {
      if (!has('x-satupintu-assertion') || !has('x-citizen-sub'))
        throw new Error(`${s.label}: no identity injected: ${text}`)
      if (has('authorization') || (h.cookie ?? '').includes('sp_gw='))
        throw new Error(`${s.label}: credentials leaked upstream: ${text}`)
      const base = `assertion (${h['x-satupintu-assertion']?.length} chars) and x-citizen-* injected; credentials stripped`
      if (s.id !== 'f') return base
      const links = (h.link ?? '').split(',').filter((l) => l.includes('rel="satupintu-document"'))
      const claim = JSON.parse(
        Buffer.from((h['x-satupintu-assertion'] ?? '').split('.')[1] ?? '', 'base64url').toString('utf8') || '{}',
      ) as { documents?: unknown[] }
      if (links.length !== 2 || claim.documents?.length !== 2)
        throw new Error(
          `${s.label}: expected two document links, got ${links.length} Link values and ${claim.documents?.length ?? 0} in the assertion: ${text}`,
        )
      return `${base}; two document links in Link and in the assertion's documents claim`
    }
  }
}

interface SystemSummary {
  rps: Spread
  p50Ms: Spread
  p99Ms: Spread
  errors: number
  cpuPerReq: Record<string, Spread>
  rssMB: Record<string, Spread>
  dbTransactionsPerRequest: Spread
}

type Summary = Record<'throughput' | 'latency', Record<string, SystemSummary>>

function summarise(systems: System[], records: RoundRecord[], _rounds: number): Summary {
  const out: Summary = { throughput: {}, latency: {} }
  for (const shape of ['throughput', 'latency'] as const) {
    for (const s of systems) {
      const rs = records.filter((r) => r.system === s.id && r.shape === shape)
      const names = s.servers.map((x) => x.name)
      const cpu: Record<string, Spread> = {}
      const rss: Record<string, Spread> = {}
      for (const n of names) {
        cpu[n] = spread(rs.map((r) => r.sample.cpuPerOp[n] ?? Number.NaN))
        rss[n] = spread(rs.map((r) => (r.sample.rssBytes[n] ?? Number.NaN) / 2 ** 20))
      }
      out[shape][s.id] = {
        rps: spread(rs.map((r) => r.load.rps)),
        p50Ms: spread(rs.map((r) => r.probe.latencyMs.p50)),
        p99Ms: spread(rs.map((r) => r.probe.latencyMs.p99)),
        errors: rs.reduce(
          (a, r) =>
            a +
            r.load.errors.status +
            r.load.errors.connect +
            r.load.errors.read +
            r.load.errors.write +
            r.load.errors.timeout +
            r.probe.errors,
          0,
        ),
        cpuPerReq: cpu,
        rssMB: rss,
        dbTransactionsPerRequest: spread(rs.map((r) => r.dbTransactionsPerRequest)),
      }
    }
  }
  return out
}

function render(systems: System[], s: Summary): string {
  const t = s.throughput
  const ratio = (id: string, ref: string) => {
    const a = t[id]?.rps.median
    const b = t[ref]?.rps.median
    return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b)
      ? `${(a / b).toFixed(2)}×`
      : '–'
  }
  const rows: string[][] = [
    [
      'system',
      'req/s',
      'probe p50 ms',
      'probe p99 ms',
      'proxy CPU µs/req',
      'backend µs/req',
      'proxy RSS MB',
      'vs (a)',
      'vs (c)',
      'errors',
    ],
  ]
  for (const sys of systems) {
    const x = t[sys.id]
    if (x === undefined) continue
    const proxy = sys.proxy?.name
    rows.push([
      sys.label,
      fmtSpread(x.rps),
      fmtSpread(x.p50Ms, 2),
      fmtSpread(x.p99Ms, 2),
      proxy === undefined ? '–' : fmtSpread(x.cpuPerReq[proxy], 1),
      fmtSpread(x.cpuPerReq.backend, 1),
      proxy === undefined ? fmtSpread(x.rssMB.backend, 0) : fmtSpread(x.rssMB[proxy], 0),
      ratio(sys.id, 'a'),
      ratio(sys.id, 'c'),
      String(x.errors),
    ])
  }
  const l = s.latency
  const lrows: string[][] = [['system (1 connection)', 'req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms']]
  for (const sys of systems) {
    const x = l[sys.id]
    const a = l.a
    if (x === undefined) continue
    lrows.push([
      sys.label,
      fmtSpread(x.rps),
      fmtSpread(x.p50Ms, 3),
      fmtSpread(x.p99Ms, 3),
      a === undefined ? '–' : fmt(x.p50Ms.median - a.p50Ms.median, 3),
      a === undefined ? '–' : fmt(x.p99Ms.median - a.p99Ms.median, 3),
    ])
  }
  const extra: string[][] = [
    ['our gateway: other processes, CPU µs/req', 'idp', 'postgres (bench db)', 'db transactions/req'],
  ]
  for (const id of ['d', 'e', 'f', 'd+log']) {
    const x = t[id]
    if (x === undefined) continue
    extra.push([
      id,
      fmtSpread(x.cpuPerReq.idp, 2),
      fmtSpread(x.cpuPerReq.postgres, 2),
      fmtSpread(x.dbTransactionsPerRequest, 4),
    ])
  }
  return [
    `Throughput: ${loadGenerator} req/s; latency of a probe connection under that load; median (min–max) over rounds`,
    table(rows),
    '',
    'Latency at one connection',
    table(lrows),
    '',
    table(extra),
  ].join('\n')
}

await runMain(main, 60 * 60)
