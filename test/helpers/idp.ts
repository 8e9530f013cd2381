import { Agent, fetch as undiciFetch } from 'undici'
/**
 * The idp on a real port for end-to-end tests, and a tiny cookie-keeping "browser" that
 * walks the sign-in and consent pages the way a citizen's browser would (no JavaScript).
 */
import type { FastifyInstance } from 'fastify'
import * as oidc from 'openid-client'
import type { Test } from 'tap'
import type { Config } from '../../src/config/schema.ts'
import { createKeyEncryption } from '../../src/keys/encryption.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { insertClient, prepareClient, type ClientInput } from '../../src/idp/oidc/clients.ts'
import { silentLogger, testConfig } from './config.ts'
import type { TestDatabase } from './db.ts'
import { withFreshPorts } from './process.ts'

export const testKek = createKeyEncryption('test-key-encryption-secret-0123456789abcdef')

export interface RunningIdp {
  app: FastifyInstance
  issuer: string
  config: Config
}

export async function startIdp(
  t: Test,
  db: TestDatabase,
  overrides: Record<string, unknown> = {},
  options: {
    /** The issuer's host name; `localhost` where an IP address will not do (a WebAuthn RP ID is a domain). */
    host?: 'localhost' | '127.0.0.1'
    /** The clock of the officer console's sessions (buildIdp's `now`). */
    now?: () => Date
  } = {},
): Promise<RunningIdp> {
  return withFreshPorts(1, async ([port]) => {
    const issuer = `http://${options.host ?? '127.0.0.1'}:${port}`
    const config = testConfig({
      ...overrides,
      idp: { ...(overrides.idp as Record<string, unknown> | undefined), issuer, port },
      gateway: { publicUrl: 'http://127.0.0.1:1', port: 1 },
    })
    const app = await buildIdp({
      config,
      database: db,
      logger: silentLogger(),
      keyEncryption: testKek,
      ...(options.now ? { now: options.now } : {}),
    })
    try {
      await app.listen({ host: '127.0.0.1', port: port as number })
    } catch (err) {
      await app.close()
      throw err
    }
    t.teardown(() => app.close())
    return { app, issuer, config }
  })
}

/** The gateway resource of an idp from startIdp (its gateway.publicUrl), unless a test overrides it. */
export const testGatewayResource = 'http://127.0.0.1:1'

export async function registerClient(db: TestDatabase, input: Partial<ClientInput> & { redirectUris: string[] }) {
  const prepared = prepareClient(
    {
      name: 'Aplikasi Uji',
      agencyId: 'dinas-uji',
      authMethod: 'client_secret_basic',
      scopes: ['openid', 'profile', 'email', 'phone', 'nik', 'offline_access'],
      // startIdp's gateway resource (gateway.publicUrl there): the idp issues tokens only
      // for resources registered on the client (issue 10 §3).
      resources: [testGatewayResource],
      // Most tests are about something else than subjects: a first-party client sees the
      // account id. Agencies' pairwise subjects are tested in test/idp/pairwise-subjects.test.ts.
      firstParty: true,
      ...input,
    },
    { allowLoopbackHttp: true },
  )
  await insertClient(db.db, prepared)
  return prepared
}

/** Connects every name to 127.0.0.1 (for <agency>.localhost origins). */
const loopbackAgent = new Agent({
  connect: {
    lookup: ((
      _host: string,
      opts: { all?: boolean },
      cb: (err: Error | null, address: string | { address: string; family: number }[], family?: number) => void,
    ) =>
      opts.all === true
        ? cb(null, [{ address: '127.0.0.1', family: 4 }])
        : cb(null, '127.0.0.1', 4)) as unknown as import('node:net').LookupFunction,
  },
})

/** A cookie jar with just enough of RFC 6265 for one host and paths. */
export class Browser {
  readonly cookies = new Map<string, { value: string; path: string }>()

  cookieHeader(url: URL): string {
    return [...this.cookies.entries()]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([k, c]) => `${k}=${c.value}`)
      .join('; ')
  }

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';')
      const eq = (pair ?? '').indexOf('=')
      const name = (pair ?? '').slice(0, eq).trim()
      const value = (pair ?? '').slice(eq + 1).trim()
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))
      const path = pathAttr ? pathAttr.slice(5) : '/'
      const expired = attrs.some((a) => /max-age=0|expires=thu, 01 jan 1970/i.test(a.trim()))
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, { value, path })
    }
  }

  async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const u = new URL(url)
    const headers: Record<string, string> = { accept: 'text/html', ...init.headers }
    const cookie = this.cookieHeader(u)
    if (cookie) headers.cookie = cookie
    let body: string | undefined
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(init.form).toString()
    }
    const options = {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      redirect: 'manual' as const,
      ...(body === undefined ? {} : { body }),
    }
    // *.localhost is loopback (RFC 6761 §6.3), as browsers resolve it; Node's resolver may not.
    const res = u.hostname.endsWith('.localhost')
      ? ((await undiciFetch(u, { ...options, dispatcher: loopbackAgent })) as unknown as Response)
      : await fetch(u, options)
    this.store(res)
    return res
  }

  /** Follows redirects on the idp's own origin; stops at the first one that leaves it (the RP callback). */
  async follow(url: string, origin: string, limit = 10): Promise<{ res: Response; url: string }> {
    let current = url
    for (let i = 0; i < limit; i++) {
      const res = await this.request(current)
      const location = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current }
      const next = new URL(location, current).toString()
      if (!next.startsWith(origin)) return { res, url: next }
      current = next
    }
    throw new Error('too many redirects')
  }
}

export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html)
  if (!m?.[1]) throw new Error('no CSRF token on the page')
  return m[1]
}

export function formAction(html: string, pathPart: string): string {
  const m = new RegExp(`action="([^"]*${pathPart}[^"]*)"`).exec(html)
  if (!m?.[1]) throw new Error(`no form posting to ${pathPart}`)
  return m[1].replace(/&amp;/g, '&')
}

/**
 * Walks authorize → sign-in → consent and returns the URL the idp finally redirects to
 * (the RP's redirect_uri with code and state, or an error).
 */
export async function signIn(
  browser: Browser,
  authorizationUrl: string,
  issuer: string,
  credentials: { username: string; password: string; secondFactor?: () => string },
  consent: 'allow' | 'deny' = 'allow',
): Promise<string> {
  let step = await browser.follow(authorizationUrl, issuer)
  for (let i = 0; i < 5; i++) {
    if (!step.url.startsWith(issuer)) return step.url
    const html = await step.res.text()
    if (html.includes('/login"')) {
      const res = await browser.request(new URL(formAction(html, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(html), username: credentials.username, password: credentials.password },
      })
      if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`)
      step = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
    } else if (html.includes('/kode"') && credentials.secondFactor) {
      // Two-step sign-in: the code from the authenticator app (or a recovery code).
      const res = await browser.request(new URL(formAction(html, '/kode'), issuer).toString(), {
        form: { _csrf: csrfFrom(html), code: credentials.secondFactor() },
      })
      if (res.status !== 303) throw new Error(`the second-factor step answered ${res.status}`)
      step = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
    } else if (html.includes('/consent"')) {
      const res = await browser.request(new URL(formAction(html, '/consent'), issuer).toString(), {
        form: { _csrf: csrfFrom(html), decision: consent },
      })
      if (res.status !== 303) throw new Error(`consent answered ${res.status}`)
      step = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
    } else {
      throw new Error(`unexpected page at ${step.url}: ${step.res.status}`)
    }
  }
  return step.url
}

/**
 * A relying party's tokens for the citizen `credentials` through the ordinary code flow
 * with PKCE, walked by `browser` (which keeps the idp session for later steps).
 */
export async function codeFlowTokens(
  issuer: string,
  client: { clientId: string; secret?: string | undefined },
  browser: Browser,
  options: { redirectUri: string; credentials: { username: string; password: string }; scope?: string },
): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  })
  const verifier = oidc.randomPKCECodeVerifier()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: options.redirectUri,
    scope: options.scope ?? 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })
  const callback = await signIn(browser, url.href, issuer, options.credentials)
  return oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, idTokenExpected: true })
}

/**
 * Opens `url` on the idp without a session, signs in with `credentials` on the sign-in
 * page it leads to, and follows the way back: the page the browser lands on afterwards.
 */
export async function signInAt(
  browser: Browser,
  url: string,
  issuer: string,
  credentials: { nik: string; password: string },
): Promise<{ res: Response; url: string; html: string }> {
  const step = await browser.follow(url, issuer)
  const login = await step.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: credentials.nik, password: credentials.password },
  })
  const back = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
  return { ...back, html: back.res.status === 200 ? await back.res.text() : '' }
}
