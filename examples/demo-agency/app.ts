import { createHash, randomBytes } from 'node:crypto'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import * as oidc from 'openid-client'
import type { Logger } from 'pino'

/**
 * A stand-in for an agency's own system. It depends on nothing of Satu Pintu's code: it
 * is written as an agency would write it, with public libraries only, so it doubles as
 * the sample for docs/agency-integration.md. It shows both ways to integrate:
 *
 * Behind the gateway (the agency's system stays as it is): the gateway forwards
 * /layanan/dinas-contoh/… to this app's /…, with the citizen's identity in the signed
 * `X-Satupintu-Assertion` header. Every page except /info verifies it (signature with the
 * gateway's published keys, `iss`, `aud` = this agency's id, `exp`) and refuses the
 * request with 401 without a valid one.
 *   /            greets the citizen ("Halo, …") and shows the level of assurance
 *   /permohonan  a form (GET) and its submission (POST), through the gateway
 *   /info        public information, no sign-in
 *   /izin        a service that needs the citizen's KTP: lists the `documents` claim of
 *                the assertion, and "Unduh dan periksa" (POST /izin/periksa) downloads
 *                one with this agency's client-credentials token and checks its SHA-256
 *
 * Directly, as an OpenID Connect relying party of the idp (code flow with PKCE):
 *   /oidc-langsung/  the page of the direct integration
 *   /masuk           starts the sign-in, /oidc/callback finishes it, /keluar asks the idp
 *                    to sign out, and /keluar/selesai ends this session once it has
 *
 * `/` serves both: a request that came through the gateway always carries the assertion
 * header (empty when nobody is signed in); one without it came straight here and is sent
 * to /oidc-langsung/ when OIDC is configured.
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
  /** Present when the agency sits behind the Satu Pintu gateway. */
  gateway?: {
    /** The gateway's public URL: the assertion's `iss`, e.g. http://localhost:8080 */
    url: string
    /** This agency's id at the gateway: the assertion's `aud`, e.g. dinas-contoh */
    agencyId: string
    /** Where to fetch the gateway's keys; default `${url}/.well-known/jwks.json`. */
    jwksUrl?: string
  }
  /**
   * The agency backend's OIDC client (client-credentials grant) at the idp: its access
   * token for the gateway's resource fetches the document links the gateway attaches.
   */
  documentsClient?: {
    /** The idp's token endpoint, e.g. http://localhost:3000/token */
    tokenUrl: string
    clientId: string
    clientSecret: string
    /** The gateway's resource indicator (RFC 8707), e.g. http://localhost:8080 */
    resource: string
    /**
     * The idp's documents API as a resource indicator, e.g. http://localhost:3000/api/dokumen:
     * its token fetches the links the idp lists for the direct (OIDC) integration.
     */
    idpResource?: string
  }
  /**
   * The service this agency registered with its OIDC client (`document_services` at the
   * idp) for the direct integration's document request, e.g. izin-usaha.
   */
  documentService?: string
  /** Secret that signs this app's own cookies. */
  cookieSecret?: string
}

/** One entry of the assertion's `documents` claim (docs/agency-integration.md). */
interface AttachedDocument {
  type: string
  url: string
  sha256: string
  media_type: string
  verified: boolean
  expires_at: number
}

/** The header the gateway puts the signed assertion in. */
const assertionHeader = 'x-satupintu-assertion'

/** What the gateway vouches for, once verified. */
interface Citizen {
  sub: string
  name: string
  acr: string
  amr: string[]
  jti: string
  exp: number
  documents: AttachedDocument[]
}

type Verified = { ok: true; citizen: Citizen } | { ok: false; why: string; code: string }

const levels: Record<string, string> = {
  'urn:satupintu:acr:pwd': 'kata sandi',
  'urn:satupintu:acr:mfa': 'dua langkah (kata sandi dan kode, atau passkey)',
  'urn:satupintu:acr:phr': 'passkey di perangkat ini (tahan phishing)',
}

interface Visitor {
  sub: string
  name: string
  acr: string
  idToken: string
  /** Key of the visitor's tokens, which stay in this process (never in the cookie). */
  sid: string
}

/** Where the idp sends the browser back after its sign-out question (a registered post-logout URI). */
export const signedOutPath = '/keluar/selesai'

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page(reply: FastifyReply, title: string, body: string, status = 200): FastifyReply {
  return reply
    .code(status)
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    )
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(
      `<!doctype html><html lang="id"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(title)} — Dinas Contoh</title>` +
        `<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1b1b1b}a.button,button{display:inline-flex;align-items:center;box-sizing:border-box;background:#1d4f91;color:#fff;padding:.75rem 1.25rem;border:0;border-radius:.375rem;text-decoration:none;font:inherit;font-weight:600;cursor:pointer;min-height:44px}a.button-secondary{background:#fff;color:#1d4f91;border:2px solid #1d4f91}form{margin:.5rem 0}ul{padding-left:1.25rem}header{border-bottom:4px solid #1d4f91;margin-bottom:1rem}code{word-break:break-all}</style>` +
        `</head><body><header><p><strong>Dinas Contoh</strong> — contoh sistem instansi</p></header><main>${body}</main></body></html>`,
    )
}

/**
 * Verifies the assertion the way every agency should (docs/agency-integration.md):
 * the signature with the gateway's published keys (ES256 only), the explicit type, the
 * issuer, the audience (this agency: an assertion made for another agency is refused),
 * the expiry with a few seconds of clock tolerance, and an age of at most 60 s.
 */
function assertionVerifier(
  gateway: NonNullable<DemoAgencyOptions['gateway']>,
): (req: FastifyRequest) => Promise<Verified> {
  const issuer = gateway.url.replace(/\/+$/, '')
  // jose caches the keys and fetches them again when a new key id appears (rotation).
  const keys = createRemoteJWKSet(new URL(gateway.jwksUrl ?? `${issuer}/.well-known/jwks.json`))
  return async (req) => {
    const token = req.headers[assertionHeader]
    if (typeof token !== 'string' || token === '') {
      return { ok: false, why: 'Permintaan ini tidak membawa identitas dari Satu Pintu.', code: 'missing' }
    }
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer,
        audience: gateway.agencyId,
        algorithms: ['ES256'],
        typ: 'satupintu-assertion+jwt',
        clockTolerance: 5,
        maxTokenAge: 60,
        requiredClaims: ['sub', 'iat', 'exp', 'jti'],
      })
      return { ok: true, citizen: citizenOf(payload) }
    } catch (err) {
      return refusal(err)
    }
  }
}

function citizenOf(p: JWTPayload): Citizen {
  return {
    sub: String(p.sub),
    name: typeof p.name === 'string' ? p.name : '',
    acr: typeof p.acr === 'string' ? p.acr : '',
    amr: Array.isArray(p.amr) ? p.amr.map(String) : [],
    jti: String(p.jti),
    exp: Number(p.exp),
    documents: documentsOf(p.documents),
  }
}

function documentsOf(v: unknown): AttachedDocument[] {
  if (!Array.isArray(v)) return []
  return v.flatMap((d): AttachedDocument[] => {
    if (typeof d !== 'object' || d === null) return []
    const r = d as Record<string, unknown>
    if (
      typeof r.type !== 'string' ||
      typeof r.url !== 'string' ||
      typeof r.sha256 !== 'string' ||
      typeof r.expires_at !== 'number'
    )
      return []
    return [
      {
        type: r.type,
        url: r.url,
        sha256: r.sha256,
        media_type: String(r.media_type ?? ''),
        verified: r.verified === true,
        expires_at: r.expires_at,
      },
    ]
  })
}

/**
 * The agency backend's access token for the gateway (client-credentials grant, RFC 6749
 * §4.4, with the gateway as resource, RFC 8707), reused until shortly before it expires.
 */
function documentsTokenSource(
  client: NonNullable<DemoAgencyOptions['documentsClient']>,
  resource: string = client.resource,
): () => Promise<string> {
  const tokenUrl = new URL(client.tokenUrl)
  // Only the token endpoint is used: no discovery needed for a client-credentials grant.
  const config = new oidc.Configuration(
    { issuer: tokenUrl.origin, token_endpoint: tokenUrl.href },
    client.clientId,
    undefined,
    oidc.ClientSecretBasic(client.clientSecret),
  )
  if (tokenUrl.protocol === 'http:') oidc.allowInsecureRequests(config)
  let cached: { token: string; until: number } | undefined
  return async () => {
    if (cached !== undefined && cached.until > Date.now()) return cached.token
    const res = await oidc.clientCredentialsGrant(config, { resource })
    cached = { token: res.access_token, until: Date.now() + Math.max(0, (res.expires_in ?? 60) - 30) * 1000 }
    return res.access_token
  }
}

function refusal(err: unknown): Verified {
  if (err instanceof joseErrors.JWTExpired) return { ok: false, why: 'Identitas ini sudah kedaluwarsa.', code: 'exp' }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const why = err.claim === 'aud' ? 'Identitas ini dibuat untuk instansi lain.' : 'Identitas ini tidak sah.'
    return { ok: false, why, code: err.claim }
  }
  if (err instanceof joseErrors.JOSEError)
    return { ok: false, why: 'Tanda tangan identitas ini tidak sah.', code: err.code }
  return { ok: false, why: 'Identitas ini tidak dapat diperiksa saat ini.', code: 'error' }
}

export async function buildDemoAgency(opts: DemoAgencyOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.logger.child({ service: 'demo-agency' }) as FastifyBaseLogger })
  await app.register(cookie, { secret: opts.cookieSecret ?? randomBytes(32).toString('base64url') })
  await app.register(formbody)
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async () => ({ status: 'ready' }))
  // A citizen sees a page, never Fastify's JSON or a stack trace (an agency should do the same).
  app.setNotFoundHandler((_req, reply) =>
    page(
      reply,
      'Tidak ditemukan',
      '<h1>Halaman tidak ditemukan</h1><p>Alamat ini tidak ada di Dinas Contoh.</p><p><a class="button" href="/">Ke beranda</a></p>',
      404,
    ),
  )
  app.setErrorHandler((err: { statusCode?: number }, req, reply) => {
    const status =
      typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) req.log.error({ err }, 'demo agency: request failed')
    return page(
      reply,
      status === 500 ? 'Terjadi kesalahan' : 'Permintaan tidak dapat diproses',
      status === 500
        ? '<h1>Terjadi kesalahan</h1><p>Maaf, Dinas Contoh sedang bermasalah. Silakan coba lagi sebentar lagi.</p>'
        : '<h1>Permintaan tidak dapat diproses</h1><p>Isi formulir tidak terbaca. Silakan kembali dan coba lagi.</p>',
      status,
    )
  })

  // ---- Behind the gateway ----------------------------------------------------------

  const verify = opts.gateway ? assertionVerifier(opts.gateway) : undefined
  const gatewayHome = opts.gateway
    ? `${opts.gateway.url.replace(/\/+$/, '')}/layanan/${opts.gateway.agencyId}/`
    : undefined

  /** The citizen the gateway vouches for, or a 401 page (and undefined). */
  async function citizenOr401(req: FastifyRequest, reply: FastifyReply): Promise<Citizen | undefined> {
    const result: Verified = verify
      ? await verify(req)
      : { ok: false, why: 'Instansi ini belum disambungkan ke Satu Pintu.', code: 'not_configured' }
    if (result.ok) return result.citizen
    req.log.info({ reason: result.code }, 'assertion refused')
    const back = gatewayHome ? `<p><a class="button" href="${esc(gatewayHome)}">Buka melalui Satu Pintu</a></p>` : ''
    page(
      reply,
      'Akses ditolak',
      `<h1>Akses ditolak</h1><p>${esc(result.why)}</p>${back}<p><small>Kode: <code>${esc(result.code)}</code></small></p>`,
      401,
    )
    return undefined
  }

  function describeLevel(acr: string): string {
    return levels[acr] ?? 'tidak diketahui'
  }

  app.get('/', async (req, reply) => {
    // Straight here, not through the gateway: the direct OIDC demo lives at /oidc-langsung/.
    if (req.headers[assertionHeader] === undefined && opts.oidc) return reply.redirect('/oidc-langsung/', 303)
    const c = await citizenOr401(req, reply)
    if (!c) return reply
    // Links are relative: behind the gateway this page is /layanan/dinas-contoh/.
    return page(
      reply,
      'Beranda',
      `<h1>Halo, ${esc(c.name || 'Warga')}</h1>` +
        `<p>Anda masuk melalui Satu Pintu. Tingkat jaminan: <strong>${esc(describeLevel(c.acr))}</strong>.</p>` +
        `<p><a class="button" href="permohonan">Ajukan permohonan</a></p>` +
        `<details><summary>Yang diterima sistem instansi</summary><dl>` +
        `<dt>sub</dt><dd><code>${esc(c.sub)}</code></dd><dt>acr</dt><dd><code>${esc(c.acr)}</code></dd><dt>amr</dt><dd><code>${esc(c.amr.join(' '))}</code></dd>` +
        `<dt>jti</dt><dd><code>${esc(c.jti)}</code></dd><dt>berlaku sampai</dt><dd>${esc(new Date(c.exp * 1000).toISOString())}</dd></dl></details>` +
        `<p><a href="info">Informasi layanan</a> · <a href="/keluar">Keluar</a></p>`,
    )
  })

  app.get('/permohonan', async (req, reply) => {
    const c = await citizenOr401(req, reply)
    if (!c) return reply
    return page(
      reply,
      'Permohonan',
      `<h1>Permohonan surat keterangan</h1><p>Pemohon: <strong>${esc(c.name)}</strong></p>` +
        `<form method="post" action="permohonan"><p><label for="keperluan">Keperluan</label><br><input id="keperluan" name="keperluan" required maxlength="200"></p>` +
        `<p><button class="button" type="submit">Kirim</button></p></form>`,
    )
  })

  app.post('/permohonan', async (req, reply) => {
    const c = await citizenOr401(req, reply)
    if (!c) return reply
    const body = (req.body ?? {}) as Record<string, unknown>
    const purpose = typeof body.keperluan === 'string' ? body.keperluan.slice(0, 200) : ''
    return page(
      reply,
      'Permohonan diterima',
      `<h1>Permohonan diterima</h1><p>Terima kasih, ${esc(c.name)}. Keperluan: ${esc(purpose)}</p><p><a href="./">Kembali</a></p>`,
    )
  })

  // ---- A service that needs documents (agencies.yaml: izin-usaha, documents: [ktp]) ----

  const documentsToken = opts.documentsClient ? documentsTokenSource(opts.documentsClient) : undefined
  const gatewayOrigin = opts.gateway ? new URL(opts.gateway.url).origin : undefined
  const typeNames: Record<string, string> = { ktp: 'KTP', kk: 'Kartu Keluarga' }
  const when = (s: number) => new Date(s * 1000).toLocaleString('id-ID', { timeZone: 'Asia/Jakarta' })

  function documentsList(c: Citizen): string {
    if (c.documents.length === 0) return '<p>Tidak ada dokumen yang dilampirkan.</p>'
    return (
      '<ul>' +
      c.documents
        .map(
          (d) =>
            `<li><strong>${esc(typeNames[d.type] ?? d.type)}</strong> — ${d.verified ? 'sudah diverifikasi petugas' : 'belum diverifikasi petugas'}, ` +
            `tautan berlaku sampai ${esc(when(d.expires_at))}` +
            `<form method="post" action="izin/periksa"><input type="hidden" name="jenis" value="${esc(d.type)}">` +
            `<button class="button" type="submit">Unduh dan periksa</button></form></li>`,
        )
        .join('') +
      '</ul>'
    )
  }

  app.get('/izin', async (req, reply) => {
    const c = await citizenOr401(req, reply)
    if (!c) return reply
    return page(
      reply,
      'Izin usaha mikro',
      `<h1>Izin usaha mikro</h1><p>Pemohon: <strong>${esc(c.name)}</strong></p>` +
        `<h2>Dokumen dari Satu Pintu</h2>${documentsList(c)}<p><a href="./">Beranda</a></p>`,
    )
  })

  app.post('/izin/periksa', async (req, reply) => {
    const c = await citizenOr401(req, reply)
    if (!c) return reply
    const body = (req.body ?? {}) as Record<string, unknown>
    // The link comes from this request's own assertion: fresh, and signed by the gateway.
    const doc = c.documents.find((d) => d.type === body.jenis)
    if (!doc)
      return page(reply, 'Dokumen', '<h1>Dokumen tidak dilampirkan</h1><p><a href="../izin">Kembali</a></p>', 404)
    if (!documentsToken || !gatewayOrigin) {
      return page(
        reply,
        'Dokumen',
        '<h1>Belum disambungkan</h1><p>Instansi ini belum punya klien untuk mengambil dokumen.</p>',
        503,
      )
    }
    // Our token goes to the gateway only, never to whatever URL a claim might name.
    const url = new URL(doc.url)
    if (url.origin !== gatewayOrigin || !url.pathname.startsWith('/dokumen/')) {
      return page(reply, 'Dokumen', '<h1>Tautan dokumen tidak dikenal</h1>', 502)
    }
    return checkDocument(req, reply, url, doc, await documentsToken(), '../izin')
  })

  /** Downloads a link with our token, streaming it through SHA-256, and shows whether it matches. */
  async function checkDocument(
    req: FastifyRequest,
    reply: FastifyReply,
    url: URL,
    doc: AttachedDocument,
    token: string,
    back: string,
  ): Promise<FastifyReply> {
    let status: number
    let digest = ''
    let size = 0
    try {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, redirect: 'error' })
      status = res.status
      if (res.ok && res.body) {
        const hash = createHash('sha256')
        // Streamed through the hash: the file is never held whole.
        for await (const chunk of res.body) {
          hash.update(chunk)
          size += chunk.length
        }
        digest = hash.digest('hex')
      }
    } catch (err) {
      req.log.warn({ err: { message: (err as Error).message } }, 'document fetch failed')
      return page(reply, 'Dokumen', `<h1>Dokumen tidak dapat diambil</h1><p><a href="${back}">Kembali</a></p>`, 502)
    }
    if (status !== 200) {
      return page(
        reply,
        'Dokumen',
        `<h1>Dokumen ditolak</h1><p>Satu Pintu menjawab ${status}.</p><p><a href="${back}">Kembali</a></p>`,
        502,
      )
    }
    const match = digest === doc.sha256
    return page(
      reply,
      'Hasil pemeriksaan',
      `<h1>Hasil pemeriksaan ${esc(typeNames[doc.type] ?? doc.type)}</h1>` +
        `<p id="hasil">${match ? 'Cocok: SHA-256 berkas yang diunduh sama dengan yang dinyatakan Satu Pintu.' : 'TIDAK cocok: berkas yang diunduh berbeda dari yang dinyatakan.'}</p>` +
        `<dl><dt>Ukuran</dt><dd>${size} bita</dd><dt>SHA-256 diunduh</dt><dd><code>${esc(digest)}</code></dd>` +
        `<dt>SHA-256 dinyatakan</dt><dd><code>${esc(doc.sha256)}</code></dd></dl><p><a href="${back}">Kembali</a></p>`,
    )
  }

  app.get('/info', async (_req, reply) =>
    page(
      reply,
      'Informasi layanan',
      '<h1>Informasi layanan</h1><p>Surat keterangan diproses dalam tiga hari kerja. Halaman ini terbuka untuk umum, tanpa masuk.</p>',
    ),
  )

  // ---- Directly, as an OpenID Connect relying party ------------------------------------

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

  // The visitor's access token, by session key, for the idp's documents API. In memory:
  // a demo keeps no database, and a restart only means signing in again.
  const accessTokens = new Map<string, { token: string; until: number }>()
  const service = opts.documentService
  const idpDocuments =
    opts.documentsClient?.idpResource !== undefined
      ? documentsTokenSource(opts.documentsClient, opts.documentsClient.idpResource)
      : undefined

  app.get('/oidc-langsung/', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    if (v) {
      const docs =
        service !== undefined
          ? '<p><a class="button" href="/oidc-langsung/dokumen">Dokumen untuk izin usaha</a></p>'
          : ''
      return page(
        reply,
        'Beranda',
        `<h1>Halo, ${esc(v.name)}</h1><p>Anda masuk melalui Satu Pintu. Tingkat jaminan: <strong>${esc(describeLevel(v.acr))}</strong>.</p>${docs}<p><a class="button button-secondary" href="/keluar">Keluar</a></p>`,
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
    if (!raw?.valid || raw.value === null)
      return page(
        reply,
        'Gagal',
        '<h1>Sesi masuk tidak ditemukan</h1><p><a href="/oidc-langsung/">Mulai lagi</a></p>',
        400,
      )
    const { verifier, state, nonce } = JSON.parse(raw.value) as { verifier: string; state: string; nonce: string }
    reply.clearCookie('demo_login', { path: '/' })
    const current = new URL(req.url, opts.oidc?.baseUrl)
    if (current.searchParams.get('error') === 'unmet_authentication_requirements') {
      // We asked for a level (acr_values) the citizen's account cannot give yet.
      return page(
        reply,
        'Perlu verifikasi dua langkah',
        '<h1>Layanan ini perlu verifikasi dua langkah</h1><p>Aktifkan verifikasi dua langkah di Satu Pintu (Akun Saya, bagian Keamanan), lalu masuk lagi.</p><p><a href="/oidc-langsung/">Kembali</a></p>',
        403,
      )
    }
    if (current.searchParams.has('error')) {
      return page(reply, 'Dibatalkan', '<h1>Masuk dibatalkan</h1><p><a href="/oidc-langsung/">Kembali</a></p>', 400)
    }
    const tokens = await oidc.authorizationCodeGrant(c, current, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    })
    const claims = tokens.claims()
    if (!claims) throw new Error('no ID token')
    const info = await oidc.fetchUserInfo(c, tokens.access_token, claims.sub)
    const sid = oidc.randomState()
    accessTokens.set(sid, { token: tokens.access_token, until: Date.now() + (tokens.expires_in ?? 60) * 1000 })
    const v: Visitor = {
      sub: claims.sub,
      name: String(info.name ?? ''),
      acr: String(claims.acr ?? ''),
      idToken: tokens.id_token ?? '',
      sid,
    }
    reply.setCookie('demo_session', JSON.stringify(v), { ...cookieOpts, maxAge: 3600 })
    return reply.redirect('/oidc-langsung/', 303)
  })

  // ---- Documents, for the direct integration: the idp asks the citizen, we list and fetch.

  interface Listing {
    documents: AttachedDocument[]
    not_granted: string[]
    missing: string[]
  }

  /** Our links for the signed-in visitor, from the idp's documents API; undefined when the token is gone. */
  async function listFromIdp(v: Visitor): Promise<{ status: number; listing?: Listing }> {
    const at = accessTokens.get(v.sid)
    if (!opts.oidc || service === undefined || at === undefined || at.until <= Date.now()) return { status: 401 }
    const url = new URL('/api/dokumen', opts.oidc.issuer)
    url.searchParams.set('layanan', service)
    const res = await fetch(url, { headers: { authorization: `Bearer ${at.token}` }, redirect: 'error' })
    if (res.status !== 200) return { status: res.status }
    return { status: 200, listing: (await res.json()) as Listing }
  }

  function documentsPage(reply: FastifyReply, v: Visitor, listing: Listing | undefined, note: string): FastifyReply {
    const list =
      listing === undefined || listing.documents.length === 0
        ? '<p>Belum ada dokumen yang boleh kami ambil.</p>'
        : '<ul>' +
          listing.documents
            .map(
              (d) =>
                `<li><strong>${esc(typeNames[d.type] ?? d.type)}</strong> — ${d.verified ? 'sudah diverifikasi petugas' : 'belum diverifikasi petugas'}` +
                `<form method="post" action="/oidc-langsung/dokumen/periksa"><input type="hidden" name="jenis" value="${esc(d.type)}">` +
                `<button class="button" type="submit">Unduh dan periksa</button></form></li>`,
            )
            .join('') +
          '</ul>'
    const missing =
      listing !== undefined && listing.missing.length > 0
        ? `<p>Belum diunggah: ${esc(listing.missing.map((t) => typeNames[t] ?? t).join(', '))}.</p>`
        : ''
    return page(
      reply,
      'Dokumen',
      `<h1>Dokumen untuk izin usaha</h1><p>Pemohon: <strong>${esc(v.name)}</strong></p>${note}${list}${missing}` +
        '<p><a class="button" href="/oidc-langsung/dokumen/minta">Minta dokumen dari Satu Pintu</a></p><p><a href="/oidc-langsung/">Beranda</a></p>',
    )
  }

  // Sends the citizen to the idp's question, as for sign-in: state in a cookie, checked on return.
  app.get('/oidc-langsung/dokumen/minta', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    if (!v || !opts.oidc || service === undefined) return reply.redirect('/oidc-langsung/', 303)
    const state = oidc.randomState()
    reply.setCookie('demo_izin', state, { ...cookieOpts, maxAge: 600 })
    const url = new URL('/izin-dokumen', opts.oidc.issuer)
    url.searchParams.set('client_id', opts.oidc.clientId)
    url.searchParams.set('layanan', service)
    url.searchParams.set('redirect_uri', `${opts.oidc.baseUrl}/oidc-langsung/dokumen`)
    url.searchParams.set('state', state)
    // Whom we ask for: the idp puts the question only to this citizen.
    if (v.idToken !== '') url.searchParams.set('id_token_hint', v.idToken)
    return reply.redirect(url.href, 303)
  })

  app.get('/oidc-langsung/dokumen', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    if (!v) return reply.redirect('/oidc-langsung/', 303)
    const q = req.query as Record<string, string | undefined>
    let note = ''
    if (q.state !== undefined || q.izin_dokumen !== undefined || q.error !== undefined) {
      const raw = req.cookies.demo_izin ? app.unsignCookie(req.cookies.demo_izin) : undefined
      reply.clearCookie('demo_izin', { path: '/' })
      if (!raw?.valid || raw.value !== q.state)
        return page(
          reply,
          'Dokumen',
          '<h1>Jawaban tidak dikenal</h1><p><a href="/oidc-langsung/dokumen">Kembali</a></p>',
          400,
        )
      note =
        q.error === 'access_denied'
          ? '<p id="jawaban">Anda tidak mengizinkan kami mengambil dokumen.</p>'
          : q.error === 'login_required'
            ? '<p id="jawaban">Di Satu Pintu sedang masuk akun lain. Keluar di sana, lalu coba lagi.</p>'
            : q.izin_dokumen === 'diberikan'
              ? '<p id="jawaban">Terima kasih, izin diberikan.</p>'
              : q.izin_dokumen === 'belum_lengkap'
                ? '<p id="jawaban">Izin diberikan, tetapi ada dokumen yang belum diunggah.</p>'
                : `<p id="jawaban">Permintaan tidak dapat diproses (${esc(q.error ?? 'tidak dikenal')}).</p>`
    }
    const { status, listing } = await listFromIdp(v)
    if (status === 401)
      return page(reply, 'Dokumen', '<h1>Sesi berakhir</h1><p>Silakan <a href="/masuk">masuk lagi</a>.</p>', 401)
    return documentsPage(reply, v, listing, note)
  })

  app.post('/oidc-langsung/dokumen/periksa', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    if (!v) return reply.redirect('/oidc-langsung/', 303)
    const body = (req.body ?? {}) as Record<string, unknown>
    // Fresh links for this check: a listed link lives at most 15 minutes.
    const { status, listing } = await listFromIdp(v)
    if (status === 401)
      return page(reply, 'Dokumen', '<h1>Sesi berakhir</h1><p>Silakan <a href="/masuk">masuk lagi</a>.</p>', 401)
    const doc = listing?.documents.find((d) => d.type === body.jenis)
    if (!doc)
      return page(
        reply,
        'Dokumen',
        '<h1>Dokumen tidak tersedia</h1><p><a href="/oidc-langsung/dokumen">Kembali</a></p>',
        404,
      )
    if (!idpDocuments || !opts.oidc)
      return page(
        reply,
        'Dokumen',
        '<h1>Belum disambungkan</h1><p>Instansi ini belum punya klien untuk mengambil dokumen.</p>',
        503,
      )
    // Our token goes to the idp only, never to whatever URL a listing might name.
    const url = new URL(doc.url)
    if (url.origin !== new URL(opts.oidc.issuer).origin || !url.pathname.startsWith('/dokumen/')) {
      return page(reply, 'Dokumen', '<h1>Tautan dokumen tidak dikenal</h1>', 502)
    }
    return checkDocument(req, reply, url, doc, await idpDocuments(), '/oidc-langsung/dokumen')
  })

  // Sign-out asks first, ends later. The idp asks the citizen ("Keluar dari Satu Pintu?");
  // only a "Ya, keluar" comes back with our `state`, and only then does this session end.
  // "Tidak, tetap masuk" comes back without it, still signed in here (docs/agency-integration.md).
  app.get('/keluar', async (req, reply) => {
    const v = visitor(req.cookies.demo_session)
    if (!v || !opts.oidc) {
      reply.clearCookie('demo_session', { path: '/' })
      return reply.redirect('/oidc-langsung/', 303)
    }
    const c = await oidcConfig()
    const state = oidc.randomState()
    reply.setCookie('demo_keluar', JSON.stringify({ state, sid: v.sid }), { ...cookieOpts, maxAge: 600 })
    const url = oidc.buildEndSessionUrl(c, {
      id_token_hint: v.idToken,
      post_logout_redirect_uri: `${opts.oidc.baseUrl}${signedOutPath}`,
      state,
    })
    return reply.redirect(url.href, 303)
  })

  app.get(signedOutPath, async (req, reply) => {
    const q = req.query as Record<string, string | undefined>
    const raw = req.cookies.demo_keluar ? app.unsignCookie(req.cookies.demo_keluar) : undefined
    reply.clearCookie('demo_keluar', { path: '/' })
    let asked: { state?: unknown; sid?: unknown } | undefined
    try {
      asked =
        raw?.valid && raw.value !== null ? (JSON.parse(raw.value) as { state?: unknown; sid?: unknown }) : undefined
    } catch {
      asked = undefined
    }
    const v = visitor(req.cookies.demo_session)
    // The state we sent, back in this browser: the citizen confirmed at the idp.
    if (
      asked !== undefined &&
      typeof asked.state === 'string' &&
      q.state === asked.state &&
      (v === undefined || v.sid === asked.sid)
    ) {
      if (v) accessTokens.delete(v.sid)
      reply.clearCookie('demo_session', { path: '/' })
      return page(
        reply,
        'Keluar',
        '<h1>Anda sudah keluar</h1><p>Anda telah keluar dari Dinas Contoh dan dari Satu Pintu.</p><p><a class="button" href="/oidc-langsung/">Kembali ke beranda</a></p>',
      )
    }
    // No state, or not ours: the citizen chose to stay signed in (or the link was not ours).
    return reply.redirect('/oidc-langsung/', 303)
  })

  return app
}
