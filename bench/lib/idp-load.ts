/**
 * The idp's load generator, run as its own process (pinned to the load CPUs):
 *
 *   node bench/lib/idp-load.ts <job.json>
 *
 * where the job names a mode and a bound in time:
 *  - "cc": client-credentials grants, `concurrency` requests in flight;
 *  - "refresh": refresh-token grants with rotation: one chain per worker, each request
 *    uses the refresh token the previous answer returned; the chains' latest tokens are
 *    printed so that the next round continues them;
 *  - "flows": complete authorization-code + PKCE flows with the password sign-in and the
 *    consent page, each worker a fresh cookie jar and a citizen of its own (the
 *    per-account throttle counts in-flight attempts), ending with the code exchange.
 * Prints one JSON line: operations, errors, duration, latency percentiles.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { Pool } from 'undici'

export interface IdpJob {
  mode: 'cc' | 'refresh' | 'flows'
  issuer: string
  seconds: number
  concurrency: number
  clientId: string
  secret: string
  resource: string
  redirectUri?: string
  citizens?: { nik: string; password: string }[]
  chains?: string[]
}

export interface IdpLoadResult {
  mode: string
  ops: number
  errors: number
  firstErrors: string[]
  seconds: number
  opsPerSecond: number
  latencyMs: { p50: number; p90: number; p99: number; max: number }
  /** Requests sent (a flow is several). */
  httpRequests: number
  chains?: string[]
}

interface Res {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

async function main(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(process.argv[2] as string, 'utf8')) as IdpJob
  const origin = new URL(job.issuer).origin
  const pool = new Pool(origin, { connections: job.concurrency * 2, pipelining: 1 })
  let httpRequests = 0

  async function send(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Res> {
    httpRequests++
    const u = new URL(url, origin)
    const r = await pool.request({
      path: `${u.pathname}${u.search}`,
      method: (init.method ?? 'GET') as 'GET',
      headers: init.headers ?? {},
      ...(init.body === undefined ? {} : { body: init.body }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    })
    const text = await r.body.text()
    return { status: r.statusCode, headers: r.headers as Res['headers'], text }
  }

  async function token(params: Record<string, string>): Promise<Record<string, unknown>> {
    const r = await send('/token', {
      method: 'POST',
      headers: {
        authorization: basic(job.clientId, job.secret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams(params).toString(),
    })
    if (r.status !== 200) throw new Error(`token ${params.grant_type}: ${r.status} ${r.text.slice(0, 200)}`)
    return JSON.parse(r.text) as Record<string, unknown>
  }

  /** One browser: cookies by name and path (one host). */
  class Jar {
    readonly cookies = new Map<string, { value: string; path: string }>()
    header(path: string): string {
      return [...this.cookies.entries()]
        .filter(([, c]) => path.startsWith(c.path))
        .map(([k, c]) => `${k}=${c.value}`)
        .join('; ')
    }
    store(set: string | string[] | undefined): void {
      for (const line of set === undefined ? [] : Array.isArray(set) ? set : [set]) {
        const [pair, ...attrs] = line.split(';')
        const eq = (pair ?? '').indexOf('=')
        const name = (pair ?? '').slice(0, eq).trim()
        const value = (pair ?? '').slice(eq + 1).trim()
        const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))
        const expired = attrs.some((a) => /max-age=0|expires=thu, 01 jan 1970/i.test(a.trim()))
        if (expired || value === '') this.cookies.delete(name)
        else this.cookies.set(name, { value, path: pathAttr ? pathAttr.slice(5) : '/' })
      }
    }
    async go(url: string, form?: Record<string, string>): Promise<Res> {
      const u = new URL(url, origin)
      const headers: Record<string, string> = { accept: 'text/html' }
      const c = this.header(u.pathname)
      if (c !== '') headers.cookie = c
      let body: string | undefined
      if (form !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded'
        body = new URLSearchParams(form).toString()
      }
      const r = await send(u.toString(), {
        method: form === undefined ? 'GET' : 'POST',
        headers,
        ...(body === undefined ? {} : { body }),
      })
      this.store(r.headers['set-cookie'])
      return r
    }
  }

  const csrf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1]
  const action = (html: string, part: string) =>
    new RegExp(`action="([^"]*${part}[^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&')

  async function flow(citizen: { nik: string; password: string }): Promise<void> {
    const jar = new Jar()
    const verifier = randomBytes(32).toString('base64url')
    const state = randomBytes(16).toString('base64url')
    const auth = new URL('/auth', origin)
    auth.search = new URLSearchParams({
      client_id: job.clientId,
      response_type: 'code',
      redirect_uri: job.redirectUri ?? '',
      scope: 'openid profile',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      resource: job.resource,
    }).toString()
    let url = auth.toString()
    let code: string | undefined
    for (let step = 0; step < 12 && code === undefined; step++) {
      const r = await jar.go(url)
      const loc = r.headers.location
      if (r.status >= 300 && r.status < 400 && typeof loc === 'string') {
        const next = new URL(loc, url)
        if (next.origin !== origin) {
          if (next.searchParams.get('state') !== state)
            throw new Error(`state mismatch at ${next.toString().slice(0, 120)}`)
          code = next.searchParams.get('code') ?? undefined
          if (code === undefined) throw new Error(`no code: ${next.toString().slice(0, 200)}`)
          break
        }
        url = next.toString()
        continue
      }
      if (r.status !== 200) throw new Error(`${r.status} at ${url.slice(0, 120)}: ${r.text.slice(0, 200)}`)
      const token = csrf(r.text)
      let posted: Res
      if (r.text.includes('/login"')) {
        const a = action(r.text, '/login')
        if (a === undefined || token === undefined) throw new Error('login form not found')
        posted = await jar.go(new URL(a, origin).toString(), {
          _csrf: token,
          username: citizen.nik,
          password: citizen.password,
        })
      } else if (r.text.includes('/consent"')) {
        const a = action(r.text, '/consent')
        if (a === undefined || token === undefined) throw new Error('consent form not found')
        posted = await jar.go(new URL(a, origin).toString(), { _csrf: token, decision: 'allow' })
      } else {
        throw new Error(`unexpected page at ${url.slice(0, 120)}`)
      }
      const ploc = posted.headers.location
      if (posted.status !== 303 || typeof ploc !== 'string')
        throw new Error(`form answered ${posted.status}: ${posted.text.slice(0, 200)}`)
      url = new URL(ploc, origin).toString()
    }
    if (code === undefined) throw new Error('the flow did not end with a code')
    const t = await token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: job.redirectUri ?? '',
      code_verifier: verifier,
      resource: job.resource,
    })
    if (typeof t.access_token !== 'string' || typeof t.id_token !== 'string')
      throw new Error('token response without access_token or id_token')
  }

  const latencies: number[] = []
  const firstErrors: string[] = []
  let errors = 0
  let ops = 0
  const chains = [...(job.chains ?? [])]
  const start = performance.now()
  const deadline = start + job.seconds * 1000

  async function worker(i: number): Promise<void> {
    const citizen = job.citizens?.[i % Math.max(1, job.citizens.length)]
    // Bounded: the deadline, and at most 1e7 operations per worker.
    for (let n = 0; n < 10_000_000 && performance.now() < deadline; n++) {
      const t0 = performance.now()
      try {
        if (job.mode === 'cc') {
          const t = await token({ grant_type: 'client_credentials', resource: job.resource })
          if (typeof t.access_token !== 'string') throw new Error('no access_token')
        } else if (job.mode === 'refresh') {
          const current = chains[i]
          if (current === undefined) return
          const t = await token({ grant_type: 'refresh_token', refresh_token: current, resource: job.resource })
          if (typeof t.refresh_token !== 'string' || t.refresh_token === current)
            throw new Error('the refresh token was not rotated')
          chains[i] = t.refresh_token
        } else {
          if (citizen === undefined) throw new Error('no citizen for this worker')
          await flow(citizen)
        }
        ops++
        latencies.push(performance.now() - t0)
      } catch (err) {
        errors++
        if (firstErrors.length < 5) firstErrors.push(String((err as Error).message))
        // A broken refresh chain cannot continue; other modes go on.
        if (job.mode === 'refresh') return
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }

  const workers = job.mode === 'refresh' ? Math.min(job.concurrency, chains.length) : job.concurrency
  await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)))
  const seconds = (performance.now() - start) / 1000
  await pool.close()
  latencies.sort((a, b) => a - b)
  const result: IdpLoadResult = {
    mode: job.mode,
    ops,
    errors,
    firstErrors,
    seconds,
    opsPerSecond: ops / seconds,
    latencyMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? Number.NaN,
    },
    httpRequests,
    ...(job.mode === 'refresh' ? { chains } : {}),
  }
  process.stdout.write(`IDPLOAD ${JSON.stringify(result)}\n`)
}

await main()
