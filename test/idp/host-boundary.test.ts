// SECURITY.md line 34: the idp's discovery and every URL it builds come from the configured
// issuer, never from Host; requests for another host are refused.
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildIdp } from '../../src/idp/app.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { freshDatabase } from '../helpers/db.ts'
import { testKek } from '../helpers/idp.ts'

const issuer = 'https://id.sukamaju.go.id'

async function idp(
  t: Test,
  overrides: { hostAliases?: string[]; trustProxy?: string[] } = {},
): Promise<FastifyInstance> {
  // The host check does not touch the database: PGlite alone is enough here.
  const db = await freshDatabase(t, 'pglite')
  const config = testConfig({
    http: { trustProxy: overrides.trustProxy ?? [] },
    idp: { issuer, port: 3000, hostAliases: overrides.hostAliases ?? [] },
    gateway: { publicUrl: 'https://layanan.sukamaju.go.id', port: 1 },
  })
  const app = await buildIdp({ config, database: db, logger: silentLogger(), keyEncryption: testKek })
  t.teardown(() => app.close())
  return app
}

/** Every string in the discovery document that is a URL. */
function urlsIn(doc: Record<string, unknown>): string[] {
  return Object.values(doc).filter((v): v is string => typeof v === 'string' && /^https?:\/\//.test(v))
}

t.test('SECURITY 34: discovery names the issuer for every endpoint, and carries Cache-Control', async (t) => {
  const app = await idp(t, { hostAliases: ['idp.internal:3000'] })
  for (const host of ['id.sukamaju.go.id', 'idp.internal:3000']) {
    const res = await app.inject({ url: '/.well-known/openid-configuration', headers: { host } })
    t.equal(res.statusCode, 200, `${host}: answered`)
    const doc = res.json() as Record<string, unknown>
    t.equal(doc.issuer, issuer)
    const urls = urlsIn(doc)
    t.ok(urls.length >= 6, `${host}: the endpoints are listed (${urls.length})`)
    for (const u of urls) t.ok(u === issuer || u.startsWith(`${issuer}/`), `${host}: ${u} is under the issuer`)
    t.match(res.headers['cache-control'], /^public, max-age=\d+$/, `${host}: cacheable`)
  }
})

t.test(
  "SECURITY 34: a request naming a host that is neither the issuer's nor an alias is refused with 421",
  async (t) => {
    const app = await idp(t, { hostAliases: ['idp.internal:3000'] })
    const paths = [
      '/.well-known/openid-configuration',
      '/jwks',
      '/auth?client_id=x',
      '/akun',
      '/daftar',
      '/lupa-sandi',
      '/',
    ]
    for (const host of ['evil.example', 'id.sukamaju.go.id.evil.example', 'idp.internal:3001', 'localhost']) {
      for (const path of paths) {
        const res = await app.inject({ url: path, headers: { host, accept: 'application/json' } })
        t.equal(res.statusCode, 421, `${host}${path}`)
        t.equal((res.json() as { error: string }).error, 'misdirected_request')
        t.notOk(res.headers.location, 'never a redirect')
      }
    }
    const page = await app.inject({ url: '/akun', headers: { host: 'evil.example', accept: 'text/html' } })
    t.equal(page.statusCode, 421)
    t.match(page.headers['content-type'], /^text\/html/, 'a browser gets a page')
    t.notMatch(page.body, /evil\.example/, 'the page does not repeat the host')
  },
)

t.test('health endpoints answer on any host, for load balancers probing by address', async (t) => {
  const app = await idp(t)
  for (const path of ['/healthz', '/readyz']) {
    const res = await app.inject({ url: path, headers: { host: '10.0.0.7:3000' } })
    t.equal(res.statusCode, 200, path)
  }
})

t.test('SECURITY 34: redirects and page links built by the idp name the issuer even on an alias host', async (t) => {
  const app = await idp(t, { hostAliases: ['idp.internal:3000'] })
  const res = await app.inject({ url: '/akun', headers: { host: 'idp.internal:3000', accept: 'text/html' } })
  t.equal(res.statusCode, 303)
  t.ok(
    String(res.headers.location).startsWith(`${issuer}/auth?`),
    `sign-in through the issuer (${res.headers.location})`,
  )
  const auth = await app.inject({
    url: String(res.headers.location).slice(issuer.length),
    headers: { host: 'idp.internal:3000', accept: 'text/html' },
  })
  t.equal(auth.statusCode, 303)
  t.ok(
    String(auth.headers.location).startsWith(`${issuer}/interaction/`),
    `the interaction is on the issuer (${auth.headers.location})`,
  )
  for (const cookie of [auth.headers['set-cookie']].flat())
    t.match(String(cookie), /; secure/i, 'cookies are Secure: the issuer is https')
})

t.test(
  'SECURITY 34: behind a trusted proxy, its X-Forwarded-Host decides the host check and the issuer still names every URL',
  async (t) => {
    const app = await idp(t, { trustProxy: ['127.0.0.1'] })
    const ok = await app.inject({
      url: '/.well-known/openid-configuration',
      headers: { host: '127.0.0.1:3000', 'x-forwarded-host': 'id.sukamaju.go.id', 'x-forwarded-proto': 'https' },
    })
    t.equal(ok.statusCode, 200)
    for (const u of urlsIn(ok.json() as Record<string, unknown>)) t.ok(u === issuer || u.startsWith(`${issuer}/`), u)
    const spoofed = await app.inject({
      url: '/.well-known/openid-configuration',
      headers: {
        host: 'id.sukamaju.go.id',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        accept: 'application/json',
      },
    })
    t.equal(spoofed.statusCode, 421, 'what the proxy says is the host is checked too')
  },
)

t.test(
  'SECURITY 17: from a peer that is not a trusted proxy, X-Forwarded-Host and -Proto change nothing',
  async (t) => {
    const app = await idp(t)
    const res = await app.inject({
      url: '/.well-known/openid-configuration',
      headers: { host: 'id.sukamaju.go.id', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
    })
    t.equal(res.statusCode, 200)
    for (const u of urlsIn(res.json() as Record<string, unknown>)) t.ok(u === issuer || u.startsWith(`${issuer}/`), u)
  },
)

/** One raw HTTP/1.1 exchange, for request lines and Host headers no client library would send. */
async function rawExchange(port: number, request: string): Promise<{ status: number; text: string }> {
  const { connect } = await import('node:net')
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (text += d))
    socket.on('error', reject)
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }))
    socket.write(request)
  })
}

t.test(
  'SECURITY 34: an absolute-form request line naming another host is 421, whatever the Host header says',
  async (t) => {
    const app = await idp(t)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as { port: number }).port
    for (const path of ['/', '/akun', '/.well-known/openid-configuration', '/healthz']) {
      const res = await rawExchange(
        port,
        `GET http://other.host${path} HTTP/1.1\r\nHost: id.sukamaju.go.id\r\nAccept: application/json\r\nConnection: close\r\n\r\n`,
      )
      t.equal(res.status, 421, `GET http://other.host${path}`)
      t.notMatch(res.text, /other\.host/, 'the answer does not repeat the host')
    }
    const ours = await rawExchange(
      port,
      `GET https://id.sukamaju.go.id/.well-known/openid-configuration HTTP/1.1\r\nHost: id.sukamaju.go.id\r\nConnection: close\r\n\r\n`,
    )
    t.not(ours.status, 421, 'absolute-form naming the issuer is not misdirected')
  },
)

t.test('SECURITY 34: a Host with two ports or another malformed Host is refused, never folded onto ours', async (t) => {
  const app = await idp(t, { hostAliases: ['idp.localhost:8080'] })
  const hosts = [
    'idp.localhost:8080:9999',
    'idp.localhost:8080:443',
    'idp.localhost:8080:80',
    'id.sukamaju.go.id:443:443',
    'user@id.sukamaju.go.id',
    'id.sukamaju.go.id:',
    'id.sukamaju.go.id:abc',
    'id.sukamaju.go.id/x',
    'id.sukamaju.go.id:123456',
  ]
  for (const host of hosts) {
    const res = await app.inject({ url: '/akun', headers: { host, accept: 'application/json' } })
    t.ok(res.statusCode === 400 || res.statusCode === 421, `${host}: ${res.statusCode}`)
    t.notOk(res.headers.location, `${host}: never a redirect`)
  }
  for (const host of ['idp.localhost:8080', 'id.sukamaju.go.id', 'ID.Sukamaju.go.id.', 'id.sukamaju.go.id:443']) {
    const res = await app.inject({ url: '/.well-known/openid-configuration', headers: { host } })
    t.equal(res.statusCode, 200, `${host}: ours`)
  }
})

t.test('the 421 page links home to the issuer, never back to the refused host', async (t) => {
  const app = await idp(t)
  const page = await app.inject({ url: '/akun', headers: { host: 'evil.example', accept: 'text/html' } })
  t.equal(page.statusCode, 421)
  const hrefs = [...page.body.matchAll(/<a [^>]*href="([^"]*)"/g)].map((m) => m[1] ?? '')
  t.ok(hrefs.includes(`${issuer}/`), `a link to ${issuer}/ (${hrefs.join(' ')})`)
  for (const href of hrefs)
    t.ok(
      /^https:\/\/id\.sukamaju\.go\.id\//.test(href) || href.startsWith('#') || href.startsWith('?'),
      `${href} does not stay on the refused host`,
    )
})
