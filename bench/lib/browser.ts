/**
 * A cookie-keeping "browser" without JavaScript, and the OIDC steps the benchmarks need:
 * walking the idp's sign-in and consent pages, and the token endpoint calls. The same
 * idea as test/helpers/idp.ts, kept here so that bench/ depends on no test file. Used by
 * the orchestrators (fetch) and, in a leaner form, by the load generator (idp-load.ts).
 */
import { createHash, randomBytes } from 'node:crypto'

export class Browser {
  /** One jar for 127.0.0.1: cookies are not port-specific (RFC 6265 §8.5), as in a real browser. */
  readonly cookies = new Map<string, { value: string; path: string }>()

  cookieHeader(url: URL): string {
    return [...this.cookies.entries()]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([k, c]) => `${k}=${c.value}`)
      .join('; ')
  }

  store(setCookies: readonly string[]): void {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';')
      const eq = (pair ?? '').indexOf('=')
      const name = (pair ?? '').slice(0, eq).trim()
      const value = (pair ?? '').slice(eq + 1).trim()
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))
      const p = pathAttr ? pathAttr.slice(5) : '/'
      const expired = attrs.some((a) => /max-age=0|expires=thu, 01 jan 1970/i.test(a.trim()))
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, { value, path: p })
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
    const res = await fetch(u, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
      ...(body === undefined ? {} : { body }),
    })
    this.store(res.headers.getSetCookie())
    return res
  }

  /** Follows redirects while they stay below `origin`; returns the first response that does not redirect there. */
  async follow(url: string, origin: string, limit = 10): Promise<{ res: Response; url: string }> {
    let current = url
    for (let i = 0; i < limit; i++) {
      const res = await this.request(current)
      const location = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current }
      await res.arrayBuffer()
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
 * Walks authorize → sign-in → consent at the idp and returns the URL it finally sends the
 * browser to (the relying party's redirect_uri with code and state).
 */
export async function signIn(
  browser: Browser,
  authorizationUrl: string,
  issuer: string,
  credentials: { username: string; password: string },
): Promise<string> {
  let step = await browser.follow(authorizationUrl, issuer)
  for (let i = 0; i < 4; i++) {
    if (!step.url.startsWith(issuer)) return step.url
    const html = await step.res.text()
    let res: Response
    if (html.includes('/login"')) {
      res = await browser.request(new URL(formAction(html, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(html), username: credentials.username, password: credentials.password },
      })
    } else if (html.includes('/consent"')) {
      res = await browser.request(new URL(formAction(html, '/consent'), issuer).toString(), {
        form: { _csrf: csrfFrom(html), decision: 'allow' },
      })
    } else {
      throw new Error(`unexpected page at ${step.url}: ${step.res.status} ${html.slice(0, 300)}`)
    }
    if (res.status !== 303)
      throw new Error(`${step.url} form answered ${res.status}: ${(await res.text()).slice(0, 300)}`)
    await res.arrayBuffer()
    step = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
  }
  return step.url
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export function basicAuth(id: string, secret: string): string {
  // RFC 6749 §2.3.1: form-urlencode each part before base64.
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
}

export interface TokenResponse {
  access_token: string
  refresh_token?: string
  id_token?: string
  expires_in: number
  token_type: string
  scope?: string
}

export async function tokenRequest(
  issuer: string,
  clientId: string,
  secret: string,
  params: Record<string, string>,
): Promise<TokenResponse> {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: basicAuth(clientId, secret),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as TokenResponse
}

export interface CodeFlowClient {
  issuer: string
  clientId: string
  secret: string
  redirectUri: string
  scope: string
  resource: string
}

/** One complete authorization-code + PKCE flow with a password sign-in; returns the tokens. */
export async function codeFlow(
  c: CodeFlowClient,
  credentials: { username: string; password: string },
): Promise<TokenResponse> {
  const browser = new Browser()
  const { verifier, challenge } = pkcePair()
  const state = randomBytes(16).toString('base64url')
  const auth = new URL(`${c.issuer}/auth`)
  auth.search = new URLSearchParams({
    client_id: c.clientId,
    response_type: 'code',
    redirect_uri: c.redirectUri,
    scope: c.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: c.resource,
    ...(c.scope.includes('offline_access') ? { prompt: 'consent' } : {}),
  }).toString()
  const back = new URL(await signIn(browser, auth.toString(), c.issuer, credentials))
  const code = back.searchParams.get('code')
  if (code === null || back.searchParams.get('state') !== state)
    throw new Error(`no code in ${back.toString().slice(0, 300)}`)
  return tokenRequest(c.issuer, c.clientId, c.secret, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: c.redirectUri,
    code_verifier: verifier,
    resource: c.resource,
  })
}
