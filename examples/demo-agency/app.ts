import { randomBytes } from 'node:crypto'
import cookie from '@fastify/cookie'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import * as oidc from 'openid-client'
import type { Logger } from 'pino'

/**
 * A stand-in for an agency's own system. It depends on nothing of Satu Pintu's code: it
 * is written as an agency would write it, with public libraries only, so it doubles as
 * the sample for docs/agency-integration.md.
 *
 * Direct integration (OpenID Connect relying party): /masuk starts the authorization code
 * flow with PKCE, /oidc/callback finishes it, /keluar signs out at the idp too.
 */
export interface DemoAgencyOptions {
  logger: Logger
  /** Present when the agency integrates over OIDC directly. */
  oidc?: {
    issuer: string
    clientId: string
    clientSecret: string
    /** This app's public base URL, e.g. http://localhost:8081 */
    baseUrl: string
  }
  /** Secret that signs this app's own cookies. */
  cookieSecret?: string
}

interface Visitor {
  sub: string
  name: string
  acr: string
  idToken: string
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page(reply: FastifyReply, title: string, body: string, status = 200): FastifyReply {
  return reply
    .code(status)
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="id"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)} — Dinas Contoh</title>` +
        `<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1b1b1b}a.button{display:inline-block;background:#1d4f91;color:#fff;padding:.75rem 1.25rem;border-radius:.375rem;text-decoration:none;font-weight:600}header{border-bottom:4px solid #1d4f91;margin-bottom:1rem}</style>` +
        `</head><body><header><p><strong>Dinas Contoh</strong> — contoh sistem instansi</p></header><main>${body}</main></body></html>`,
    )
}

export async function buildDemoAgency(opts: DemoAgencyOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.logger.child({ service: 'demo-agency' }) as FastifyBaseLogger })
  await app.register(cookie, { secret: opts.cookieSecret ?? randomBytes(32).toString('base64url') })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async () => ({ status: 'ready' }))

  let config: oidc.Configuration | undefined
  async function oidcConfig(): Promise<oidc.Configuration> {
    if (!opts.oidc) throw new Error('OIDC is not configured')
    config ??= await oidc.discovery(
      new URL(opts.oidc.issuer),
      opts.oidc.clientId,
      opts.oidc.clientSecret,
      undefined,
      // Plain http is only for the quick start on localhost.
      opts.oidc.issuer.startsWith('http://') ? { execute: [oidc.allowInsecureRequests] } : undefined,
    )
    return config
  }

  const secure = opts.oidc?.baseUrl.startsWith('https://') ?? false
  const cookieOpts = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure, signed: true }

  function visitor(raw: string | undefined): Visitor | undefined {
    if (!raw) return undefined
    const un = app.unsignCookie(raw)
    if (!un.valid || un.value === null) return undefined
    try {
      return JSON.parse(un.value) as Visitor
    } catch {
      return undefined
    }
  }

  app.get('/', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    if (v) {
      return page(
        reply,
        'Beranda',
        `<h1>Halo, ${esc(v.name)}</h1><p>Anda masuk melalui Satu Pintu (tingkat jaminan: <code>${esc(v.acr)}</code>).</p><p><a class="button" href="/keluar">Keluar</a></p>`,
      )
    }
    const login = opts.oidc ? '<p><a class="button" href="/masuk">Masuk dengan Satu Pintu</a></p>' : ''
    return page(reply, 'Beranda', `<h1>Dinas Contoh</h1><p>Contoh sistem instansi yang memakai Satu Pintu.</p>${login}`)
  })

  app.get('/masuk', async (_req, reply) => {
    const c = await oidcConfig()
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const nonce = oidc.randomNonce()
    reply.setCookie('demo_login', JSON.stringify({ verifier, state, nonce }), { ...cookieOpts, maxAge: 600 })
    const url = oidc.buildAuthorizationUrl(c, {
      redirect_uri: `${opts.oidc?.baseUrl}/oidc/callback`,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    })
    return reply.redirect(url.href, 303)
  })

  app.get('/oidc/callback', async (req, reply) => {
    const c = await oidcConfig()
    const raw = req.cookies.demo_login ? app.unsignCookie(req.cookies.demo_login) : undefined
    if (!raw?.valid || raw.value === null) return page(reply, 'Gagal', '<h1>Sesi masuk tidak ditemukan</h1><p><a href="/">Mulai lagi</a></p>', 400)
    const { verifier, state, nonce } = JSON.parse(raw.value) as { verifier: string; state: string; nonce: string }
    reply.clearCookie('demo_login', { path: '/' })
    const current = new URL(req.url, opts.oidc?.baseUrl)
    if (current.searchParams.has('error')) {
      return page(reply, 'Dibatalkan', '<h1>Masuk dibatalkan</h1><p><a href="/">Kembali</a></p>', 400)
    }
    const tokens = await oidc.authorizationCodeGrant(c, current, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })
    const claims = tokens.claims()
    if (!claims) throw new Error('no ID token')
    const info = await oidc.fetchUserInfo(c, tokens.access_token, claims.sub)
    const v: Visitor = { sub: claims.sub, name: String(info.name ?? ''), acr: String(claims.acr ?? ''), idToken: tokens.id_token ?? '' }
    reply.setCookie('demo_session', JSON.stringify(v), { ...cookieOpts, maxAge: 3600 })
    return reply.redirect('/', 303)
  })

  app.get('/keluar', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    reply.clearCookie('demo_session', { path: '/' })
    if (!v || !opts.oidc) return reply.redirect('/', 303)
    const c = await oidcConfig()
    const url = oidc.buildEndSessionUrl(c, { id_token_hint: v.idToken, post_logout_redirect_uri: `${opts.oidc.baseUrl}/` })
    return reply.redirect(url.href, 303)
  })

  return app
}
