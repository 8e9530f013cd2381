import http from 'node:http'
import net from 'node:net'
import { createLocalJWKSet, jwtVerify } from 'jose'
import t, { type Test } from 'tap'
import { referenceCode } from '../../src/http/reference-code.ts'
import { buildGateway } from '../../src/gateway/app.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { testKek } from '../helpers/idp.ts'
import {
  agencyTable,
  closedPort,
  echo,
  FakeAuth,
  identity,
  json,
  rawExchange,
  rawStatus,
  request,
  startGateway,
  startUpstream,
  type Upstream,
} from './harness.ts'

interface Echoed {
  method: string
  url: string
  headers: Record<string, string>
  body: string
}

const budi = identity()
const siti = identity({
  sub: 'sub-siti-0002',
  acr: 'urn:satupintu:loa:2',
  amr: ['pwd', 'otp'],
  claims: { name: 'Siti Nurhaliza' },
  scopes: ['openid', 'profile', 'nik'],
})
const tokens = { 'tok-budi': budi, 'tok-siti': siti }

function services(extra: Parameters<typeof agencyTable>[0][number]['services'] = []) {
  return [
    ...extra,
    { path: '/info', access: 'public' as const },
    { path: '/terverifikasi', access: 'signed_in' as const, minAcr: 'urn:satupintu:loa:2' },
    { path: '/nik', access: 'signed_in' as const, scopes: ['nik'] },
    { path: '/', access: 'signed_in' as const, minAcr: 'urn:satupintu:loa:1' },
  ]
}

async function setup(t: Test, opts: { releaseNik?: boolean } = {}) {
  const up = await startUpstream(t, echo)
  const table = agencyTable([
    { id: 'dinas-a', upstream: up.url, releaseNik: opts.releaseNik ?? false, services: services() },
  ])
  const gw = await startGateway(t, table, { auth: new FakeAuth(tokens) })
  return { up, gw, table }
}

const spoofed = {
  'x-citizen-sub': 'evil',
  'X-Citizen-Name': 'Evil',
  'x-citizen-acr': 'urn:satupintu:loa:3',
  'x-citizen-nik': '3201010101900009',
  X_Citizen_Sub: 'evil-underscore',
  'x-satupintu-assertion': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmlsIn0.',
  'x-forwarded-user': 'evil',
  'x-forwarded-email': 'evil@example.org',
  'x-forwarded-preferred-username': 'evil',
  'x-auth-request-user': 'evil',
  'x-remote-user': 'evil',
  'remote-user': 'evil',
  'x-authenticated-userid': 'evil',
  'x-userinfo': 'e30',
  'x-forwarded-for': '10.9.9.9',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'http',
  forwarded: 'for=10.9.9.9',
  'x-real-ip': '10.9.9.9',
}

t.test(
  'SECURITY 14: client-sent identity headers never reach the agency; the gateway always writes its own',
  async (t) => {
    const { up, gw, table } = await setup(t)

    // Public route, no identity: every identity header arrives, empty.
    const pub = await request(`${gw.at('dinas-a')}/info`, { headers: spoofed })
    t.equal(pub.status, 200)
    const seenPublic = json<Echoed>(pub.body).headers
    for (const h of ['x-satupintu-assertion', 'x-citizen-sub', 'x-citizen-name', 'x-citizen-acr', 'x-citizen-nik'])
      t.equal(seenPublic[h], '', `${h} written empty`)
    for (const h of [
      'x_citizen_sub',
      'x-forwarded-user',
      'x-forwarded-email',
      'x-forwarded-preferred-username',
      'x-auth-request-user',
      'x-remote-user',
      'remote-user',
      'x-authenticated-userid',
      'x-userinfo',
    ]) {
      t.equal(seenPublic[h], undefined, `${h} removed`)
    }
    t.equal(seenPublic['x-forwarded-for'], '127.0.0.1', "X-Forwarded-For is the gateway's, not the client's")
    t.equal(seenPublic['x-forwarded-host'], 'dinas-a.layanan.sukamaju.go.id')
    t.equal(seenPublic['x-forwarded-proto'], 'https')
    t.equal(seenPublic.forwarded, 'for=127.0.0.1;host="dinas-a.layanan.sukamaju.go.id";proto=https')

    // Signed in: the verified values, whatever the client sent.
    const signed = await request(`${gw.at('dinas-a')}/permohonan`, {
      headers: { ...spoofed, authorization: 'Bearer tok-budi' },
    })
    t.equal(signed.status, 200)
    const seen = json<Echoed>(signed.body).headers
    t.equal(seen['x-citizen-sub'], 'sub-budi-0001')
    t.equal(seen['x-citizen-name'], 'Budi Santoso')
    t.equal(seen['x-citizen-acr'], 'urn:satupintu:loa:1')
    t.equal(seen['x-citizen-nik'], '', 'this agency is not configured to receive the NIK: written empty')
    t.equal(seen['x_citizen_sub'], undefined)
    t.equal(seen.authorization, undefined, "the citizen's token does not reach the agency")
    const { payload, protectedHeader } = await jwtVerify(
      seen['x-satupintu-assertion'] ?? '',
      createLocalJWKSet(gw.signer.jwks()),
      {
        issuer: 'https://layanan.sukamaju.go.id',
        audience: 'dinas-a',
        typ: 'satupintu-assertion+jwt',
        algorithms: ['ES256'],
      },
    )
    t.equal(payload.sub, 'sub-budi-0001')
    t.equal(protectedHeader.kid, 'gateway-test-1')
    t.equal(table.agencies[0]?.id, 'dinas-a')
    t.equal(up.seen.length, 2)
  },
)

t.test('X-Citizen-Nik carries the NIK only where the agency releases it', async (t) => {
  const { gw } = await setup(t, { releaseNik: true })
  const res = await request(`${gw.at('dinas-a')}/permohonan`, {
    headers: { authorization: 'Bearer tok-budi', 'x-citizen-nik': '9999999999999999' },
  })
  t.equal(json<Echoed>(res.body).headers['x-citizen-nik'], '3201010101900001')
})

t.test("SECURITY 15: a client Connection header naming the gateway's headers does not remove them", async (t) => {
  const { up, gw } = await setup(t)
  const response = await rawExchange(
    gw.port,
    'GET /permohonan HTTP/1.1\r\n' +
      'Host: dinas-a.layanan.sukamaju.go.id\r\n' +
      'Authorization: Bearer tok-budi\r\n' +
      'Connection: X-Citizen-Sub, X-Satupintu-Assertion, X-Citizen-Name, X-Citizen-Acr, X-Citizen-Nik, X-Request-Id, X-Forwarded-For, Forwarded, close\r\n' +
      'X-Citizen-Sub: evil\r\n' +
      '\r\n',
  )
  t.equal(rawStatus(response), 200)
  const seen = up.seen[0]?.headers ?? {}
  t.equal(seen['x-citizen-sub'], 'sub-budi-0001')
  t.equal(seen['x-citizen-name'], 'Budi Santoso')
  t.equal(seen['x-citizen-acr'], 'urn:satupintu:loa:1')
  t.equal(seen['x-citizen-nik'], '')
  t.match(seen['x-satupintu-assertion'], /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/)
  t.match(seen['x-request-id'], /^[0-9a-f-]{36}$/)
  t.equal(seen['x-forwarded-for'], '127.0.0.1')
  t.ok(seen.forwarded)
  t.notMatch(String(seen.connection ?? ''), /citizen|satupintu/i, "the client's Connection list is not passed on")
})

t.test('SECURITY 16: traversal and encoding tricks are refused with 400 and never reach the agency', async (t) => {
  const { up, gw } = await setup(t)
  const targets = [
    '/info/../permohonan',
    '/info/%2e%2e/permohonan',
    '/info/%2e%2e%2fpermohonan',
    '/info/..%2fpermohonan',
    '/info/%252e%252e/permohonan',
    '/info/..\\permohonan',
    '/info\\..\\..\\x',
    '/info/..;/permohonan',
    '/info;x=1',
    '/info/%c0%ae%c0%ae/permohonan',
    '/info/%ef%bc%8e%ef%bc%8e/x',
    '/info/x%00',
    '//info',
    '/info.',
  ]
  for (const target of targets) {
    const res = await rawExchange(
      gw.port,
      `GET ${target} HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nAccept: application/json\r\nConnection: close\r\n\r\n`,
    )
    t.equal(rawStatus(res), 400, `${target} → 400`)
  }
  t.equal(up.seen.length, 0, 'nothing reached the agency')
  // On the portal's host: never routed to any agency.
  for (const target of ['/layanan/%2e%2e/layanan/dinas-a/info', '/layanan/dinas-a%2finfo']) {
    const res = await rawExchange(
      gw.port,
      `GET ${target} HTTP/1.1\r\nHost: layanan.sukamaju.go.id\r\nConnection: close\r\n\r\n`,
    )
    t.ok([400, 404].includes(rawStatus(res)), `${target} → ${rawStatus(res)}`)
  }
  t.equal(up.seen.length, 0)
})

t.test(
  'SECURITY 16: the upstream is fixed per agency; absolute-form targets, Host and X-Forwarded-Host choose nothing',
  async (t) => {
    const { up, gw } = await setup(t)
    const evil = await startUpstream(t, echo)
    // An absolute-form request-target naming another server.
    const abs = await rawExchange(
      gw.port,
      `GET http://127.0.0.1:${evil.port}/info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nConnection: close\r\n\r\n`,
    )
    t.equal(rawStatus(abs), 400)
    // Host naming another server: a host the gateway does not serve is refused (421).
    const other = await request(`${gw.at('dinas-a')}/info`, {
      headers: { host: `127.0.0.1:${evil.port}`, accept: 'application/json' },
    })
    t.equal(other.status, 421)
    t.equal(json(other.body).error, 'misdirected_request')
    // X-Forwarded-Host from a peer that is not a trusted proxy chooses nothing.
    const spoof = await request(`${gw.at('dinas-a')}/info`, {
      headers: { 'x-forwarded-host': `127.0.0.1:${evil.port}`, 'x-forwarded-proto': 'http' },
    })
    t.equal(spoof.status, 200)
    t.equal(evil.seen.length, 0, 'the other server was never contacted')
    t.equal(up.seen.length, 1, "the agency's own upstream answered")
    t.equal(up.seen[0]?.headers.host, `127.0.0.1:${up.port}`, 'the upstream sees its own Host')
    t.equal(
      up.seen[0]?.headers['x-forwarded-host'],
      'dinas-a.layanan.sukamaju.go.id',
      "X-Forwarded-Host is the agency's public host",
    )
    t.equal(up.seen[0]?.headers['x-forwarded-proto'], 'https')
  },
)

t.test(
  'SECURITY 18: CL+TE, duplicate Content-Length and other smuggling shapes are 400 and never reach the agency',
  async (t) => {
    const { up, gw } = await setup(t)
    const smuggled =
      'GET /permohonan HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nX-Citizen-Sub: smuggled\r\n\r\n'
    const shapes: Record<string, string> = {
      'Content-Length with Transfer-Encoding': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
      'Transfer-Encoding with Content-Length': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n${smuggled}`,
      'two different Content-Lengths': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
      'a Content-Length list': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nContent-Length: 0, ${smuggled.length}\r\n\r\n${smuggled}`,
      'an obfuscated Transfer-Encoding': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`,
      'chunked not last': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`,
      'a space before the colon': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${smuggled}`,
      'a bare LF in a chunk size line': `POST /info HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n${smuggled}`,
    }
    for (const [what, bytes] of Object.entries(shapes)) {
      const res = await rawExchange(gw.port, bytes)
      t.equal(rawStatus(res), 400, `${what} → 400`)
      t.equal(
        (res.match(/HTTP\/1\.1 \d{3}/g) ?? []).length,
        1,
        `${what}: one response, the connection is closed (no desync)`,
      )
    }
    t.equal(up.seen.length, 0, 'neither the outer nor the smuggled request reached the agency')
  },
)

t.test('SECURITY 19: upstream down is a 502 page or JSON with the request id and no internal host name', async (t) => {
  const port = await closedPort()
  const table = agencyTable([
    { id: 'dinas-a', upstream: `http://127.0.0.1:${port}`, services: [{ path: '/', access: 'public' }] },
  ])
  const gw = await startGateway(t, table)
  const api = await request(`${gw.at('dinas-a')}/x`, { headers: { accept: 'application/json' } })
  t.equal(api.status, 502)
  t.same(json(api.body), {
    error: 'upstream_unavailable',
    message: 'The agency service is not reachable.',
    request_id: api.headers['x-request-id'],
  })
  const page = await request(`${gw.at('dinas-a')}/x`, { headers: { accept: 'text/html' } })
  t.equal(page.status, 502)
  t.match(page.headers['content-type'], /^text\/html/)
  t.ok(
    page.body.includes(referenceCode(String(page.headers['x-request-id']))),
    'the page names the request by its short reference code',
  )
  t.notOk(page.body.includes(String(page.headers['x-request-id'])), 'not by the 36-character id')
  for (const body of [api.body, page.body]) {
    t.notMatch(body, /127\.0\.0\.1|ECONNREFUSED|localhost/, 'no internal host or error text')
    t.notMatch(body, new RegExp(String(port)))
  }
})

t.test("SECURITY 19: a slow upstream is a 504 at the route's timeout", async (t) => {
  const up = await startUpstream(t, () => {
    /* never answers */
  })
  const table = agencyTable([
    {
      id: 'dinas-a',
      upstream: up.url,
      services: [
        { path: '/lambat', access: 'public', timeoutMs: 400 },
        { path: '/', access: 'public', timeoutMs: 5000 },
      ],
    },
  ])
  const gw = await startGateway(t, table)
  const started = Date.now()
  const res = await request(`${gw.at('dinas-a')}/lambat`, { headers: { accept: 'application/json' } })
  const elapsed = Date.now() - started
  t.equal(res.status, 504)
  t.same(json(res.body), {
    error: 'upstream_timeout',
    message: 'The agency service did not answer in time.',
    request_id: res.headers['x-request-id'],
  })
  t.ok(elapsed >= 380, `not before the timeout (${elapsed} ms)`)
  t.ok(elapsed < 400 + 1500, `at the route's timeout, not the agency default (${elapsed} ms)`)
  const page = await request(`${gw.at('dinas-a')}/lambat`, { headers: { accept: 'text/html' } })
  t.equal(page.status, 504)
  t.match(page.headers['content-type'], /^text\/html/)
  t.notMatch(page.body, /127\.0\.0\.1/)
})

t.test('a client that goes away before the agency answers ends the upstream request at once', async (t) => {
  let upstreamClosed: (() => void) | undefined
  const closed = new Promise<void>((resolve) => {
    upstreamClosed = resolve
  })
  const up = await startUpstream(t, echo, {
    streaming: (req) => {
      // Never answers; tells when the gateway gives up on this request.
      req.socket.on('close', () => upstreamClosed?.())
    },
  })
  const table = agencyTable([
    { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public', timeoutMs: 20_000 }] },
  ])
  const gw = await startGateway(t, table)
  const client = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
  client.on('error', () => {})
  client.write('GET /lama HTTP/1.1\r\nHost: dinas-a.layanan.sukamaju.go.id\r\nAccept: application/json\r\n\r\n')
  while (up.seen.length < 1) await new Promise((r) => setTimeout(r, 10))
  const started = Date.now()
  client.destroy()
  await closed
  t.ok(
    Date.now() - started < 2000,
    `the upstream request ended when the client left, not at the 20 s timeout (${Date.now() - started} ms)`,
  )
})

t.test('SECURITY 19: an upstream resetting the connection is a 502; a POST is never retried', async (t) => {
  const up = await startUpstream(t, echo, {
    streaming: (req) => {
      req.socket.destroy()
    },
  })
  const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
  const gw = await startGateway(t, table)
  const post = await request(`${gw.at('dinas-a')}/kirim`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: 'a=1',
  })
  t.equal(post.status, 502)
  t.equal(json(post.body).error, 'upstream_unavailable')
  t.equal(up.seen.filter((r) => r.method === 'POST').length, 1, 'the POST reached the agency once and was not retried')
  for (const method of ['PATCH', 'PUT', 'DELETE']) {
    const before = up.seen.length
    const res = await request(`${gw.at('dinas-a')}/kirim`, {
      method,
      headers: { 'content-type': 'text/plain', accept: 'application/json' },
      body: 'x',
    })
    t.equal(res.status, 502, `${method} → 502`)
    t.equal(up.seen.length - before, 1, `${method} was not retried`)
  }
  const get = await request(`${gw.at('dinas-a')}/baca`, { headers: { accept: 'application/json' } })
  t.equal(get.status, 502)
  t.ok(up.seen.filter((r) => r.method === 'GET').length <= 2, 'a GET is tried at most twice')
})

t.test('SECURITY 19: an upstream 503 is passed on, not retried', async (t) => {
  const up = await startUpstream(t, (_req, res) => {
    res.statusCode = 503
    res.setHeader('retry-after', '1')
    res.end('sibuk')
  })
  const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
  const gw = await startGateway(t, table)
  const res = await request(`${gw.at('dinas-a')}/x`)
  t.equal(res.status, 503)
  t.equal(res.body, 'sibuk')
  t.equal(up.seen.length, 1)
})

t.test("SECURITY 19: one agency's outage never slows another agency's routes", async (t) => {
  const stuck = await startUpstream(t, () => {
    /* never answers */
  })
  const healthy = await startUpstream(t, echo)
  const table = agencyTable([
    { id: 'dinas-macet', upstream: stuck.url, services: [{ path: '/', access: 'public', timeoutMs: 4000 }] },
    { id: 'dinas-sehat', upstream: healthy.url, services: [{ path: '/', access: 'public' }] },
  ])
  const gw = await startGateway(t, table)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 400 })
  t.teardown(() => agent.destroy())
  let stuckSettled = 0
  const stuckRequests = Array.from({ length: 200 }, () =>
    request(`${gw.at('dinas-macet')}/x`, { headers: { accept: 'application/json' }, agent }).finally(() => {
      stuckSettled++
    }),
  )
  // Let the stuck agency fill all of its connections (and queue the rest).
  while (stuck.seen.length < 128) await new Promise((r) => setTimeout(r, 10))
  const healthyAnswers = await Promise.all(
    Array.from({ length: 20 }, () => request(`${gw.at('dinas-sehat')}/y`, { agent })),
  )
  t.ok(
    healthyAnswers.every((r) => r.status === 200),
    'the healthy agency answers',
  )
  t.equal(stuckSettled, 0, 'while every request to the stuck agency is still waiting for its timeout')
  const stuckAnswers = await Promise.all(stuckRequests)
  t.ok(
    stuckAnswers.every((r) => r.status === 504),
    "the stuck agency's requests, queued ones included, end at its timeout",
  )
})

t.test('methods, query, status, request and response headers pass through', async (t) => {
  const up = await startUpstream(t, (req, res, body) => {
    res.statusCode = req.method === 'DELETE' ? 204 : req.method === 'PUT' ? 201 : 200
    res.setHeader('x-agency-header', 'nilai')
    res.setHeader('cache-control', 'private, max-age=60')
    res.setHeader('etag', '"v1"')
    if (req.method === 'DELETE') return res.end()
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        body: body.toString(),
        ua: req.headers['user-agent'],
        lang: req.headers['accept-language'],
        ct: req.headers['content-type'],
      }),
    )
  })
  const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
  const gw = await startGateway(t, table)
  const query = '?q=%2e%2e%2f..&x=1+2&y=a%20b&z=%E2%9C%93&&w'
  const get = await request(`${gw.at('dinas-a')}/cari${query}`, {
    headers: { 'user-agent': 'uji/1', 'accept-language': 'id' },
  })
  t.equal(get.status, 200)
  t.same(json(get.body), { method: 'GET', url: `/cari${query}`, body: '', ua: 'uji/1', lang: 'id' })
  t.equal(get.headers['x-agency-header'], 'nilai')
  t.equal(get.headers['cache-control'], 'private, max-age=60')
  t.equal(get.headers.etag, '"v1"')
  t.match(get.headers['x-request-id'], /^[0-9a-f-]{36}$/, "the gateway's request id on the response")
  for (const method of ['POST', 'PATCH']) {
    const res = await request(`${gw.at('dinas-a')}/data`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    })
    t.same(
      json(res.body),
      { method, url: '/data', body: '{"a":1}', ct: 'application/json' },
      `${method} body unchanged (not parsed, not re-encoded)`,
    )
  }
  const put = await request(`${gw.at('dinas-a')}/data`, {
    method: 'PUT',
    headers: { 'content-type': 'text/plain' },
    body: 'isi',
  })
  t.equal(put.status, 201)
  const del = await request(`${gw.at('dinas-a')}/data/1`, { method: 'DELETE' })
  t.equal(del.status, 204)
  const head = await request(`${gw.at('dinas-a')}/data`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.body, '')
  const options = await request(`${gw.at('dinas-a')}/data`, { method: 'OPTIONS' })
  t.equal(options.status, 200)
  const trace = await request(`${gw.at('dinas-a')}/data`, { method: 'TRACE' })
  t.not(trace.status, 200, 'TRACE is not forwarded (it would echo the assertion)')
  t.notOk(up.seen.some((r) => r.method === 'TRACE'))
})

t.test(
  "SECURITY 32: old /layanan/<agency>/… addresses move to the agency's own origin (GET, HEAD); other methods are refused there",
  async (t) => {
    const { up, gw } = await setup(t)
    for (const [path, to] of [
      ['/layanan/dinas-a', 'https://dinas-a.layanan.sukamaju.go.id/'],
      ['/layanan/dinas-a?x=1', 'https://dinas-a.layanan.sukamaju.go.id/?x=1'],
      ['/layanan/dinas-a/izin/formulir?langkah=2', 'https://dinas-a.layanan.sukamaju.go.id/izin/formulir?langkah=2'],
    ] as const) {
      for (const method of ['GET', 'HEAD']) {
        const res = await request(`${gw.url}${path}`, { method })
        t.equal(res.status, 301, `${method} ${path}`)
        t.equal(res.headers.location, to)
      }
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await request(`${gw.url}/layanan/dinas-a/permohonan`, {
        method,
        headers: { accept: 'application/json', 'content-type': 'text/plain' },
        body: 'x',
      })
      t.equal(res.status, 410, `${method} is refused, not replayed elsewhere`)
      t.match(json<{ message: string }>(res.body).message, 'https://dinas-a.layanan.sukamaju.go.id/')
    }
    t.equal(up.seen.length, 0, 'nothing of the old addresses reached the agency')
  },
)

t.test(
  "SECURITY 32: the host chooses the site — the portal's host never reaches an agency, unknown hosts are refused",
  async (t) => {
    const up = await startUpstream(t, echo)
    const b = await startUpstream(t, echo)
    const table = agencyTable([
      { id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] },
      { id: 'dinas-b', upstream: b.url, services: [{ path: '/', access: 'public' }] },
    ])
    const gw = await startGateway(t, table)
    t.equal(json<Echoed>((await request(`${gw.at('dinas-a')}/x`)).body).url, '/x', 'agency A at the root of its host')
    t.equal(json<Echoed>((await request(`${gw.at('dinas-b')}/y`)).body).url, '/y', 'agency B at the root of its own')
    t.equal(up.seen.length, 1)
    t.equal(b.seen.length, 1)
    for (const host of [
      'evil.example',
      'dinas-c.layanan.sukamaju.go.id',
      'layanan.sukamaju.go.id.evil.example',
      '127.0.0.1',
      'dinas-a.layanan.sukamaju.go.id:8443',
    ]) {
      const res = await request(`${gw.at('dinas-a')}/x`, { headers: { host, accept: 'application/json' } })
      t.equal(res.status, 421, `Host ${JSON.stringify(host)} is refused`)
    }
    t.equal(up.seen.length + b.seen.length, 2, 'nothing else reached an agency')
    // A trusted proxy's X-Forwarded-Host chooses the site; an untrusted peer's does not.
    const trusted = await startGateway(t, table, { overrides: { http: { trustProxy: ['127.0.0.1'] } } })
    const viaProxy = await request(`${trusted.url}/z`, {
      headers: { 'x-forwarded-host': 'dinas-b.layanan.sukamaju.go.id' },
    })
    t.equal(json<Echoed>(viaProxy.body).url, '/z', 'behind a trusted proxy the forwarded host counts')
    t.equal(b.seen.length, 2)
    const notTrusted = await request(`${gw.url}/z`, {
      headers: { 'x-forwarded-host': 'dinas-b.layanan.sukamaju.go.id', accept: 'application/json' },
    })
    t.equal(notTrusted.status, 404, 'from anyone else it is ignored: the portal host answers (no such page)')
    t.equal(b.seen.length, 2)
  },
)

t.test(
  "SECURITY 32: a service worker script is refused on the portal host, and an agency cannot widen a worker's scope",
  async (t) => {
    const up = await startUpstream(t, (_req, res) => {
      res.setHeader('content-type', 'text/javascript')
      res.setHeader('service-worker-allowed', '/')
      res.end('self.addEventListener("fetch", () => {})')
    })
    const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
    const gw = await startGateway(t, table)
    const portal = await request(`${gw.url}/sw.js`, {
      headers: { 'service-worker': 'script', accept: 'application/json' },
    })
    t.equal(portal.status, 403, 'no worker script is served on the portal host')
    const old = await request(`${gw.url}/layanan/dinas-a/sw.js`, {
      headers: { 'service-worker': 'script', accept: 'application/json' },
    })
    t.equal(old.status, 403, 'not through an old address either')
    const agency = await request(`${gw.at('dinas-a')}/sw.js`, { headers: { 'service-worker': 'script' } })
    t.equal(agency.status, 200, 'an agency may have a worker on its own origin ...')
    t.equal(agency.headers['service-worker-allowed'], undefined, '... never with a widened scope')
  },
)

t.test(
  'policy: signed-in services challenge a caller without identity, too low a level or a missing scope',
  async (t) => {
    const { up, gw } = await setup(t)
    const auth = gw.auth
    const anon = await request(`${gw.at('dinas-a')}/permohonan`, { headers: { accept: 'application/json' } })
    t.equal(anon.status, 401)
    const browser = await request(`${gw.at('dinas-a')}/permohonan?id=7`, { headers: { accept: 'text/html' } })
    t.equal(browser.status, 303)
    t.equal(browser.headers.location, `/masuk?kembali=${encodeURIComponent('/permohonan?id=7')}`)
    const low = await request(`${gw.at('dinas-a')}/terverifikasi`, {
      headers: { authorization: 'Bearer tok-budi', accept: 'application/json' },
    })
    t.equal(low.status, 401)
    t.match(low.headers['www-authenticate'], /acr_values="urn:satupintu:loa:2"/)
    t.same(auth.challenges.at(-1)?.need, { acr: 'urn:satupintu:loa:2', scopes: [] })
    t.equal(auth.challenges.at(-1)?.identity?.sub, 'sub-budi-0001', 'the challenge knows who is asking (step-up)')
    const scope = await request(`${gw.at('dinas-a')}/nik`, {
      headers: { authorization: 'Bearer tok-budi', accept: 'application/json' },
    })
    t.equal(scope.status, 401)
    t.same(auth.challenges.at(-1)?.need.scopes, ['nik'])
    const ok = await request(`${gw.at('dinas-a')}/terverifikasi`, { headers: { authorization: 'Bearer tok-siti' } })
    t.equal(ok.status, 200)
    const okScope = await request(`${gw.at('dinas-a')}/nik`, { headers: { authorization: 'Bearer tok-siti' } })
    t.equal(okScope.status, 200)
    const bad = await request(`${gw.at('dinas-a')}/permohonan`, {
      headers: { authorization: 'Bearer salah', accept: 'application/json' },
    })
    t.equal(bad.status, 401)
    t.match(bad.headers['www-authenticate'], /invalid_token/)
    t.equal(up.seen.length, 2, 'only the allowed requests reached the agency')
  },
)

t.test('policy: a protected service stays protected under another letter case', async (t) => {
  const up = await startUpstream(t, echo)
  const table = agencyTable([
    {
      id: 'dinas-a',
      upstream: up.url,
      services: [
        { path: '/izin', access: 'signed_in', minAcr: 'urn:satupintu:loa:2' },
        { path: '/', access: 'public' },
      ],
    },
  ])
  const gw = await startGateway(t, table, { auth: new FakeAuth(tokens) })
  for (const path of ['/izin', '/IZIN', '/Izin/formulir', '/%49zin']) {
    const res = await request(`${gw.at('dinas-a')}${path}`, { headers: { accept: 'application/json' } })
    t.equal(res.status, 401, `${path} needs sign-in`)
  }
  const low = await request(`${gw.at('dinas-a')}/IZIN`, {
    headers: { authorization: 'Bearer tok-budi', accept: 'application/json' },
  })
  t.equal(low.status, 401, 'and the level of the protected service')
  t.equal(up.seen.length, 0)
})

t.test('SECURITY 16: an escaped spelling of a path reaches the agency as the path the policy decided on', async (t) => {
  const up = await startUpstream(t, echo)
  const table = agencyTable([
    {
      id: 'dinas-a',
      upstream: up.url,
      services: [
        { path: '/pub', access: 'public' },
        { path: '/', access: 'signed_in' },
      ],
    },
  ])
  const gw = await startGateway(t, table, { auth: new FakeAuth(tokens) })
  // Public under /pub: the upstream must see /pub, never a raw /%70ub that its router may
  // take for another (protected) route.
  for (const spelling of ['/pub/x', '/%70ub/x', '/p%75%62/x']) {
    const res = await request(`${gw.at('dinas-a')}${spelling}`, { headers: { accept: 'application/json' } })
    t.equal(res.status, 200, `${spelling} is public`)
    t.equal(json<Echoed>(res.body).url, '/pub/x', `${spelling} is forwarded as /pub/x`)
  }
  // Protected: the escape does not open it, and what is forwarded once allowed is normal too.
  const anon = await request(`${gw.at('dinas-a')}/%61kun`, { headers: { accept: 'application/json' } })
  t.equal(anon.status, 401)
  const ok = await request(`${gw.at('dinas-a')}/%61kun/caf%c3%a9`, { headers: { authorization: 'Bearer tok-budi' } })
  t.equal(json<Echoed>(ok.body).url, '/akun/caf%C3%A9')
})

t.test('policy: public services receive no identity and cost no identity look-up, even with a token', async (t) => {
  const { gw } = await setup(t)
  const before = gw.auth.identifyCalls
  const res = await request(`${gw.at('dinas-a')}/info`, { headers: { authorization: 'Bearer tok-budi' } })
  t.equal(res.status, 200)
  t.equal(json<Echoed>(res.body).headers['x-citizen-sub'], '')
  t.equal(gw.auth.identifyCalls, before)
})

t.test('the assertion is reused for a session and agency, and differs per agency', async (t) => {
  const upA = await startUpstream(t, echo)
  const upB = await startUpstream(t, echo)
  const table = agencyTable([
    { id: 'dinas-a', upstream: upA.url, services: [{ path: '/', access: 'signed_in' }] },
    { id: 'dinas-b', upstream: upB.url, services: [{ path: '/', access: 'signed_in' }] },
  ])
  const gw = await startGateway(t, table, { auth: new FakeAuth(tokens) })
  const a1 = json<Echoed>(
    (await request(`${gw.at('dinas-a')}/1`, { headers: { authorization: 'Bearer tok-budi' } })).body,
  ).headers
  const a2 = json<Echoed>(
    (await request(`${gw.at('dinas-a')}/2`, { headers: { authorization: 'Bearer tok-budi' } })).body,
  ).headers
  const b1 = json<Echoed>(
    (await request(`${gw.at('dinas-b')}/1`, { headers: { authorization: 'Bearer tok-budi' } })).body,
  ).headers
  t.equal(a1['x-satupintu-assertion'], a2['x-satupintu-assertion'], 'cached for the same caller and agency')
  t.not(a1['x-satupintu-assertion'], b1['x-satupintu-assertion'])
  t.not(a1['x-request-id'], a2['x-request-id'], 'the request id is per request')
  const jwks = createLocalJWKSet(gw.signer.jwks())
  const b = await jwtVerify(b1['x-satupintu-assertion'] ?? '', jwks, { audience: 'dinas-b' })
  t.equal(b.payload.aud, 'dinas-b')
  await t.rejects(jwtVerify(a1['x-satupintu-assertion'] ?? '', jwks, { audience: 'dinas-b' }), {
    code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    claim: 'aud',
  })
})

t.test("Location and Set-Cookie from the upstream are rewritten onto the agency's own origin", async (t) => {
  let upstream: Upstream | undefined
  upstream = await startUpstream(t, (req, res) => {
    if (req.url === '/masuk') {
      res.statusCode = 302
      res.setHeader('location', `http://127.0.0.1:${upstream?.port}/beranda?ok=1`)
      res.setHeader('set-cookie', [
        `SESSID=abc; Domain=127.0.0.1; Path=/; HttpOnly`,
        'pref=1; Path=/pengaturan',
        'sp_gw=hijack; Path=/',
      ])
      return res.end()
    }
    res.statusCode = 303
    res.setHeader('location', '/selesai')
    res.end()
  })
  const table = agencyTable([{ id: 'dinas-a', upstream: upstream.url, services: [{ path: '/', access: 'public' }] }])
  const gw = await startGateway(t, table)
  const res = await request(`${gw.at('dinas-a')}/masuk`)
  t.equal(res.status, 302)
  t.equal(res.headers.location, 'https://dinas-a.layanan.sukamaju.go.id/beranda?ok=1')
  t.same(
    res.headers['set-cookie'],
    ['__Host-ag_SESSID=abc; Path=/; HttpOnly; Secure', '__Host-ag_pref=1; Path=/; Secure'],
    "host-only, in the agency namespace (__Host-: Secure, Path=/), the gateway's own cookie names dropped",
  )
  const other = await request(`${gw.at('dinas-a')}/kirim`, { method: 'POST' })
  t.equal(other.headers.location, '/selesai')
})

t.test("the gateway session cookie and the citizen's token never reach the agency; other cookies do", async (t) => {
  const { gw } = await setup(t)
  const res = await request(`${gw.at('dinas-a')}/permohonan`, {
    headers: {
      authorization: 'Bearer tok-budi',
      cookie: 'sp_gw=s.abc; __Host-ag_lang=id; sp_gw_tx_x=1; __Host-ag_AGENCY=42',
      dpop: 'eyJ.proof',
    },
  })
  const seen = json<Echoed>(res.body).headers
  t.equal(seen.cookie, 'lang=id; AGENCY=42', "the agency's own cookies, under the names it gave them")
  t.equal(seen.authorization, undefined)
  t.equal(seen.dpop, undefined)
})

t.test(
  'through the real buildGateway: spoofed headers and the session cookie are removed, the JWKS is served',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const up = await startUpstream(t, echo)
      const downPort = await closedPort()
      const table = agencyTable([
        {
          id: 'dinas-a',
          upstream: up.url,
          services: [
            { path: '/info', access: 'public' },
            { path: '/', access: 'signed_in' },
          ],
        },
        { id: 'dinas-mati', upstream: `http://127.0.0.1:${downPort}`, services: [{ path: '/', access: 'public' }] },
      ])
      const config = testConfig({
        gateway: { publicUrl: 'https://layanan.sukamaju.go.id' },
        idp: { issuer: `http://127.0.0.1:${await closedPort()}` },
      })
      const app = await buildGateway({
        config,
        database: db,
        logger: silentLogger(),
        agencies: table,
        keyEncryption: testKek,
      })
      t.teardown(() => app.close())
      const res = await app.inject({
        url: '/info?x=1',
        headers: {
          ...spoofed,
          host: 'dinas-a.layanan.sukamaju.go.id',
          cookie: 'sp_gw=s.abc; __Host-sp_gw=s.def; __Host-ag_lang=id',
          authorization: 'Bearer abc',
        },
      })
      t.equal(res.statusCode, 200)
      const seen = json<Echoed>(res.body)
      t.equal(seen.url, '/info?x=1')
      for (const h of ['x-satupintu-assertion', 'x-citizen-sub', 'x-citizen-name', 'x-citizen-acr', 'x-citizen-nik'])
        t.equal(seen.headers[h], '', `${h} written empty`)
      t.equal(seen.headers['x-forwarded-user'], undefined)
      t.equal(seen.headers.cookie, 'lang=id', 'the gateway session cookie does not reach the agency')
      t.equal(seen.headers.authorization, undefined)
      const probe = await app.inject({ url: '/healthz', headers: { host: '10.0.0.7:8080' } })
      t.equal(probe.statusCode, 200, 'a load balancer may probe /healthz by address')
      const elsewhere = await app.inject({ url: '/', headers: { host: '10.0.0.7:8080', accept: 'application/json' } })
      t.equal(elsewhere.statusCode, 421, 'nothing else is served on a host that is not ours')
      const jwks = await app.inject({ url: '/.well-known/jwks.json', headers: { host: 'layanan.sukamaju.go.id' } })
      t.equal(jwks.statusCode, 200)
      const keys = (jwks.json() as { keys: Record<string, unknown>[] }).keys
      t.ok(keys.length >= 1 && keys.every((k) => k.alg === 'ES256' && k.d === undefined), 'public ES256 keys')
      const anon = await app.inject({
        url: '/permohonan',
        headers: { host: 'dinas-a.layanan.sukamaju.go.id', accept: 'application/json' },
      })
      t.ok([401, 503].includes(anon.statusCode), `a signed-in service is refused without sign-in (${anon.statusCode})`)
      t.equal(up.seen.length, 1, 'only the public request reached the agency')
      const down = await app.inject({
        url: '/',
        headers: { host: 'dinas-mati.layanan.sukamaju.go.id', accept: 'text/html' },
      })
      t.equal(down.statusCode, 502)
      t.match(down.body, /Layanan instansi sedang bermasalah/, "the gateway's own error page, in Indonesian")
      t.ok(
        down.body.includes(referenceCode(String(down.headers['x-request-id']))),
        'the page names the request by its short reference code',
      )
      t.notMatch(down.body, new RegExp(`127\\.0\\.0\\.1|${downPort}`))
    })
  },
)

t.test('X-Forwarded-For keeps only the hops the gateway trusts (http.trustProxy)', async (t) => {
  const up = await startUpstream(t, echo)
  const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
  const trusted = await startGateway(t, table, { overrides: { http: { trustProxy: ['127.0.0.1'] } } })
  // The peer (127.0.0.1) is a trusted proxy: the address it saw (10.0.0.5) is the client;
  // what the client wrote before that (203.0.113.9) is not believed.
  const res = await request(`${trusted.at('dinas-a')}/x`, {
    headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.5', 'x-forwarded-host': 'dinas-a.layanan.sukamaju.go.id' },
  })
  const seen = json<Echoed>(res.body).headers
  t.equal(seen['x-forwarded-for'], '10.0.0.5, 127.0.0.1')
  t.equal(seen['x-real-ip'], '10.0.0.5')
  t.equal(seen.forwarded, 'for=10.0.0.5;host="dinas-a.layanan.sukamaju.go.id";proto=https')
  t.equal(
    seen['x-forwarded-host'],
    'dinas-a.layanan.sukamaju.go.id',
    "the agency's configured host, as the trusted proxy named it",
  )
})

t.test(
  'SECURITY 32: the 421 page for a host the gateway does not serve links home to the portal, not back to that host',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const up = await startUpstream(t, echo)
      const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
      const config = testConfig({
        gateway: { publicUrl: 'https://layanan.sukamaju.go.id' },
        idp: { issuer: `http://127.0.0.1:${await closedPort()}` },
      })
      const app = await buildGateway({
        config,
        database: db,
        logger: silentLogger(),
        agencies: table,
        keyEncryption: testKek,
      })
      t.teardown(() => app.close())
      const res = await app.inject({
        url: '/',
        headers: { host: 'tidak-dikenal.layanan.sukamaju.go.id', accept: 'text/html' },
      })
      t.equal(res.statusCode, 421)
      const hrefs = [...res.body.matchAll(/<a [^>]*href="([^"]*)"/g)].map((m) => m[1])
      t.ok(hrefs.length > 0, 'the page has links')
      for (const h of hrefs) {
        if (h?.startsWith('?') === true || h?.startsWith('#') === true) continue // the language switch and the skip link stay on the page
        t.match(h, /^https:\/\/layanan\.sukamaju\.go\.id\//, `${h} leads to the portal`)
      }
    })
  },
)

t.test(
  "SECURITY 32: the gateway's own pages send COOP and CORP same-origin; an agency's answers are the agency's",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const up = await startUpstream(t, echo)
      const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
      const config = testConfig({
        gateway: { publicUrl: 'https://layanan.sukamaju.go.id' },
        idp: { issuer: `http://127.0.0.1:${await closedPort()}` },
      })
      const app = await buildGateway({
        config,
        database: db,
        logger: silentLogger(),
        agencies: table,
        keyEncryption: testKek,
      })
      t.teardown(() => app.close())
      const pages: Array<[string, string]> = [
        ['layanan.sukamaju.go.id', '/'],
        ['layanan.sukamaju.go.id', '/tidak-ada'],
        ['tidak-dikenal.layanan.sukamaju.go.id', '/'],
        ['dinas-a.layanan.sukamaju.go.id', '/keluar'],
      ]
      for (const [host, url] of pages) {
        const res = await app.inject({ url, headers: { host, accept: 'text/html' } })
        t.equal(res.headers['cross-origin-opener-policy'], 'same-origin', `${host}${url} (${res.statusCode}): COOP`)
        t.equal(res.headers['cross-origin-resource-policy'], 'same-origin', `${host}${url}: CORP`)
      }
      const proxied = await app.inject({ url: '/', headers: { host: 'dinas-a.layanan.sukamaju.go.id' } })
      t.equal(proxied.statusCode, 200)
      t.equal(proxied.headers['cross-origin-opener-policy'], undefined, 'the agency decides its own')
    })
  },
)

t.test(
  "SECURITY 19: an upstream redirect to an internal address (another agency's upstream, its own outside its base, a private IP) never reaches the browser; the idp and public sites do",
  async (t) => {
    const other = await startUpstream(t, echo)
    const redirects: Record<string, string> = {
      '/ke-internal': 'http://10.9.9.9/admin',
      '/ke-ipv6': 'http://[fd00::5]:8080/x',
      '/ke-mapped': 'http://[::ffff:192.168.1.5]/x',
      '/ke-b': `${other.url}/rahasia`,
      '/di-luar': '',
      '/ke-idp': 'http://localhost:3000/authorize?x=1',
      '/ke-publik': 'https://www.sukamaju.go.id/berita',
      '/ke-host': 'http://intranet.sukamaju.local/x',
    }
    const up = await startUpstream(t, (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/aplikasi/, '')
      const to = path === '/di-luar' ? `http://127.0.0.1:${req.socket.localPort ?? 0}/lain` : redirects[path]
      res.writeHead(302, { location: to ?? '/' }).end()
    })
    const table = agencyTable([
      { id: 'dinas-a', upstream: `${up.url}/aplikasi/`, services: [{ path: '/', access: 'public' }] },
      { id: 'dinas-b', upstream: other.url, services: [{ path: '/', access: 'public' }] },
    ])
    const gw = await startGateway(t, table)
    const refused = `${new URL(gw.config.gateway.publicUrl).origin}/pengalihan-ditolak?layanan=dinas-a`
    for (const path of ['/ke-internal', '/ke-ipv6', '/ke-mapped', '/ke-b', '/di-luar']) {
      const res = await request(`${gw.at('dinas-a')}${path}`)
      t.equal(res.status, 302, path)
      t.equal(res.headers.location, refused, `${path}: to the gateway's page, not the internal address`)
    }
    t.equal(
      (await request(`${gw.at('dinas-a')}/ke-idp`)).headers.location,
      'http://localhost:3000/authorize?x=1',
      'the idp (a public origin of ours) stays',
    )
    t.equal(
      (await request(`${gw.at('dinas-a')}/ke-publik`)).headers.location,
      'https://www.sukamaju.go.id/berita',
      'a public site stays',
    )
    t.equal(
      (await request(`${gw.at('dinas-a')}/ke-host`)).headers.location,
      'http://intranet.sukamaju.local/x',
      'a host name cannot be judged and stays',
    )
    const page = await request(refused.replace(new URL(refused).origin, gw.url), { headers: { accept: 'text/html' } })
    t.equal(page.status, 502, 'the page says the agency service is at fault')
    const api = await request(refused.replace(new URL(refused).origin, gw.url), {
      headers: { accept: 'application/json' },
    })
    t.equal(json<{ error: string }>(api.body).error, 'upstream_unavailable')
    t.notMatch(page.body, /10\.9\.9\.9|127\.0\.0\.1|fd00/, 'and names no internal address')
  },
)
