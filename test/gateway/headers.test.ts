import t from 'tap'
import {
  corsCredentialsAllowed,
  encodeHeaderText,
  agencyCookieHeader,
  filterCookieHeader,
  identityHeaderValues,
  isGatewayCookie,
  isOwnedRequestHeader,
  noIdentity,
  originWideResponseHeaders,
  rewriteLocation,
  rewriteResponseHeaders,
  rewriteSetCookie,
  upstreamRequestHeaders,
  type ResponseRewrite,
} from '../../src/gateway/proxy/headers.ts'
import { agencyTable, identity } from './harness.ts'

const forwarding = {
  requestId: 'req-12345678',
  chain: ['203.0.113.7'],
  publicUrl: new URL('https://layanan.sukamaju.go.id'),
  prefix: '/layanan/dinas-a',
}
const ours = [
  'x-satupintu-assertion',
  'x-citizen-sub',
  'x-citizen-name',
  'x-citizen-acr',
  'x-citizen-identity-level',
  'x-citizen-nik',
]

t.test('SECURITY 14: identity headers in any case or spelling are removed, and ours are always written', async (t) => {
  const spoofed = {
    'x-citizen-sub': 'evil',
    'x-citizen-name': 'Evil',
    'x-citizen-acr': 'urn:satupintu:loa:3',
    'x-citizen-identity-level': 'in_person',
    X_Citizen_Identity_Level: 'dukcapil',
    'x-citizen-nik': '3201010101900009',
    'x-citizen-roles': 'admin',
    x_citizen_sub: 'evil-underscore',
    'x-citizen_sub': 'evil-mixed',
    'X-CITIZEN-SUB': 'evil-upper',
    'x-satupintu-assertion': 'eyJ.fake.jwt',
    x_satupintu_assertion: 'eyJ.fake.jwt',
    'x-forwarded-user': 'evil',
    'x-forwarded-email': 'evil@example.org',
    'x-forwarded-preferred-username': 'evil',
    'x-forwarded-groups': 'admin',
    'x-auth-request-user': 'evil',
    'x-auth-request-email': 'evil@example.org',
    'x-remote-user': 'evil',
    'remote-user': 'evil',
    remote_user: 'evil',
    'x-authenticated-user': 'evil',
    'x-authenticated-userid': 'evil',
    'x-userinfo': 'e30',
    'x-user': 'evil',
    'x-amzn-oidc-identity': 'evil',
    'x-ms-client-principal-name': 'evil',
    'x-goog-authenticated-user-email': 'evil',
    'cf-access-authenticated-user-email': 'evil',
    'x-original-url': '/admin',
    'x-rewrite-url': '/admin',
    authorization: 'Bearer citizen-token',
    'proxy-authorization': 'Basic eDp5',
    dpop: 'eyJ.proof',
    link: '<https://evil.example/dokumen>; rel="dokumen"',
    'x-request-id': 'spoofed-request-id',
    'x-real-ip': '10.0.0.1',
    forwarded: 'for=10.0.0.1;host=intranet',
    'x-forwarded-for': '10.0.0.1',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'http',
    'x-forwarded-prefix': '/admin',
    accept: 'text/html',
    'user-agent': 'test',
  }
  const out = upstreamRequestHeaders(spoofed, {
    upstreamHost: '10.1.2.3:8080',
    hasBody: false,
    identity: noIdentity,
    forwarding,
  })
  for (const name of Object.keys(out)) {
    t.notOk(/_/.test(name), `no underscore spelling survives: ${name}`)
  }
  for (const name of ours) t.equal(out[name], '', `${name} is written, empty`)
  for (const name of [
    'x-citizen-roles',
    'x-forwarded-user',
    'x-forwarded-email',
    'x-forwarded-preferred-username',
    'x-forwarded-groups',
    'x-auth-request-user',
    'x-remote-user',
    'remote-user',
    'x-authenticated-user',
    'x-userinfo',
    'x-user',
    'x-amzn-oidc-identity',
    'x-ms-client-principal-name',
    'x-goog-authenticated-user-email',
    'cf-access-authenticated-user-email',
    'x-original-url',
    'x-rewrite-url',
    'authorization',
    'proxy-authorization',
    'dpop',
    'link',
  ]) {
    t.equal(out[name], undefined, `${name} is removed`)
  }
  t.equal(out['x-request-id'], 'req-12345678')
  t.equal(out['x-real-ip'], '203.0.113.7')
  t.equal(out['x-forwarded-for'], '203.0.113.7')
  t.equal(out['x-forwarded-host'], 'layanan.sukamaju.go.id')
  t.equal(out['x-forwarded-proto'], 'https')
  t.equal(out['x-forwarded-prefix'], '/layanan/dinas-a')
  t.equal(out.forwarded, 'for=203.0.113.7;host="layanan.sukamaju.go.id";proto=https')
  t.equal(out.host, '10.1.2.3:8080')
  t.equal(out.accept, 'text/html', 'ordinary headers pass')
  t.equal(out['user-agent'], 'test')
})

t.test('identity values: X-Citizen-Nik only where the agency releases it', async (t) => {
  const [withNik, withoutNik] = agencyTable([
    { id: 'dinas-a', upstream: 'http://127.0.0.1:1', releaseNik: true, services: [{ path: '/', access: 'signed_in' }] },
    { id: 'dinas-b', upstream: 'http://127.0.0.1:2', services: [{ path: '/', access: 'signed_in' }] },
  ]).agencies
  if (!withNik || !withoutNik) throw new Error('table')
  const id = identity()
  t.same(identityHeaderValues(id, withNik, 'jwt'), {
    assertion: 'jwt',
    sub: 'sub-budi-0001',
    name: 'Budi Santoso',
    acr: 'urn:satupintu:loa:1',
    identityLevel: '',
    nik: '3201010101900001',
  })
  t.equal(
    identityHeaderValues(identity({ claims: { identity_level: 'in_person' } }), withNik, 'jwt').identityLevel,
    'in_person',
    "the idp's identity level, as the token or userinfo gave it",
  )
  t.equal(identityHeaderValues(id, withoutNik, 'jwt').nik, '')
  t.equal(identityHeaderValues(identity({ claims: {} }), withNik, 'jwt').nik, '', 'no claim, empty')
  t.equal(identityHeaderValues(identity({ claims: {} }), withNik, 'jwt').name, '')
  t.same(identityHeaderValues(undefined, withNik, ''), noIdentity)
})

t.test("SECURITY 15: a Connection header naming our headers removes the client's, never ours", async (t) => {
  const out = upstreamRequestHeaders(
    {
      connection:
        'X-Citizen-Sub, X-Satupintu-Assertion, x-request-id, X-Forwarded-For, x-citizen-nik, keep-alive, Accept-Language',
      'x-citizen-sub': 'evil',
      'accept-language': 'id',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'proxy-connection': 'keep-alive',
      expect: '100-continue',
    },
    {
      upstreamHost: 'u:1',
      hasBody: true,
      identity: { assertion: 'jwt', sub: 's', name: 'n', acr: 'a', identityLevel: 'in_person', nik: '' },
      forwarding,
    },
  )
  t.equal(out['x-satupintu-assertion'], 'jwt')
  t.equal(out['x-citizen-sub'], 's')
  t.equal(out['x-citizen-identity-level'], 'in_person')
  t.equal(out['x-citizen-nik'], '')
  t.equal(out['x-request-id'], 'req-12345678')
  t.equal(out['x-forwarded-for'], '203.0.113.7')
  t.equal(out.connection, undefined, 'the gateway sends no Connection header of its own')
  for (const h of ['accept-language', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'proxy-connection', 'expect'])
    t.equal(out[h], undefined, `${h} is not forwarded`)
})

t.test("only the agency's own (namespaced) cookies go upstream, under their own names, byte for byte", async (t) => {
  const out = upstreamRequestHeaders(
    {
      cookie:
        '__Host-ag_lang=id; sp_gw=s%3Aabc.def; sp_gw_tx_abcdef=xyz; __Host-ag_PHPSESSID=q1w2e3;  __Host-ag_JSESSIONID="a=b"',
    },
    { upstreamHost: 'u:1', hasBody: false, identity: noIdentity, forwarding },
  )
  t.equal(out.cookie, 'lang=id; PHPSESSID=q1w2e3; JSESSIONID="a=b"')
  const only = upstreamRequestHeaders(
    { cookie: 'sp_gw=abc' },
    { upstreamHost: 'u:1', hasBody: false, identity: noIdentity, forwarding },
  )
  t.equal(only.cookie, undefined, 'no empty Cookie header is sent')
  t.ok(isGatewayCookie('__Host-sp_gw'))
  t.ok(isGatewayCookie('sp_session'), "the idp's session cookie (shared across ports of localhost) is ours too")
  t.ok(isGatewayCookie('sp_interaction.sig'))
  t.notOk(isGatewayCookie('spgw'))
  t.notOk(isGatewayCookie('SP_GW_OTHER'), 'cookie names are case-sensitive: only our exact names are ours')
  t.equal(
    filterCookieHeader('a=1;b=2', (n) => n === 'a'),
    'b=2',
  )
  t.equal(agencyCookieHeader('ag_a=1; __Host-ag_b=2', false), 'a=1', 'plain http: the ag_ namespace')
})

t.test(
  "SECURITY 22: the gateway's cookies, parent-domain cookies and cookies of other sites never reach an agency",
  async (t) => {
    // What a browser sends to https://dinas-a.layanan.sukamaju.go.id: the gateway's session for
    // this host, the idp's, a parent-domain cookie a sibling host set (Domain=sukamaju.go.id), one
    // another agency's page script set for the parent domain, a non-prefixed look-alike of the
    // namespace (only __Host- proves the cookie is host-only), and the agency's own.
    const cookie = [
      '__Host-sp_gw=s%3Asession.sig',
      'sp_session=idp',
      'sp_csrf=x',
      'tracking=sibling-parent-domain',
      'ag_sid=planted-by-dinas-b-for-the-parent-domain',
      '__Secure-ag_sid=planted-with-domain',
      'PHPSESSID=other-app',
      '__Host-ag_sid=own',
    ].join('; ')
    const out = upstreamRequestHeaders(
      { cookie },
      { upstreamHost: 'u:1', hasBody: false, identity: noIdentity, forwarding },
    )
    t.equal(out.cookie, 'sid=own', 'only the cookie the gateway set for this agency passes')
    t.equal(
      agencyCookieHeader('__Host-ag_sp_gw=x; __Host-ag_sp_session=y', true),
      undefined,
      'nothing named like ours, even inside the namespace',
    )
    // And an upstream's Set-Cookie cannot collide with a gateway cookie: it lands in the namespace.
    const secureCtx: ResponseRewrite = {
      ownOrigin: 'https://dinas-a.layanan.sukamaju.go.id',
      upstream: new URL('http://10.1.2.3:8080/'),
      publicUrl: new URL('https://dinas-a.layanan.sukamaju.go.id'),
      prefix: '',
      upstreamPath: '/x/y',
    }
    t.equal(rewriteSetCookie('sid=abc; Domain=sukamaju.go.id; Path=/x', secureCtx), '__Host-ag_sid=abc; Path=/; Secure')
    t.equal(rewriteSetCookie('sp_gw=stolen; Path=/', secureCtx), undefined)
    t.equal(rewriteSetCookie('__Host-sp_gw=stolen; Path=/; Secure', secureCtx), undefined)
  },
)

t.test('framing headers are dropped when no body is forwarded', async (t) => {
  const out = upstreamRequestHeaders(
    { 'content-length': '10', 'content-type': 'text/plain' },
    { upstreamHost: 'u:1', hasBody: false, identity: noIdentity, forwarding },
  )
  t.equal(out['content-length'], undefined)
  const withBody = upstreamRequestHeaders(
    { 'content-length': '10', 'content-type': 'text/plain' },
    { upstreamHost: 'u:1', hasBody: true, identity: noIdentity, forwarding },
  )
  t.equal(withBody['content-length'], '10')
  t.equal(withBody['content-type'], 'text/plain')
})

t.test('the forwarding chain lists only trusted hops; an IPv6 client is bracketed in Forwarded', async (t) => {
  const out = upstreamRequestHeaders(
    {},
    {
      upstreamHost: 'u:1',
      hasBody: false,
      identity: noIdentity,
      forwarding: { ...forwarding, chain: ['2001:db8::7', '10.0.0.2'] },
    },
  )
  t.equal(out['x-forwarded-for'], '2001:db8::7, 10.0.0.2')
  t.equal(out['x-real-ip'], '2001:db8::7')
  t.equal(out.forwarded, 'for="[2001:db8::7]";host="layanan.sukamaju.go.id";proto=https')
})

t.test('non-ASCII and control characters in a name are percent-encoded, ASCII stays readable', async (t) => {
  t.equal(encodeHeaderText('Budi Santoso'), 'Budi Santoso')
  t.equal(encodeHeaderText("Ni Luh Putu Ayu 'Dewi'"), "Ni Luh Putu Ayu 'Dewi'")
  t.equal(encodeHeaderText('Zoë'), 'Zo%C3%AB')
  t.equal(encodeHeaderText('عبد الله'), '%D8%B9%D8%A8%D8%AF %D8%A7%D9%84%D9%84%D9%87')
  t.equal(encodeHeaderText('a\r\nX-Citizen-Sub: evil'), 'a%0D%0AX-Citizen-Sub: evil')
  t.equal(encodeHeaderText('100% + 1'), '100%25 %2B 1')
  t.equal(encodeHeaderText('x\ud800y'), 'x%EF%BF%BDy', 'a lone surrogate does not throw')
  t.equal(decodeURIComponent(encodeHeaderText('Zoë 100% + Ñ')), 'Zoë 100% + Ñ', 'decodeURIComponent gets the name back')
  const out = upstreamRequestHeaders(
    {},
    { upstreamHost: 'u:1', hasBody: false, identity: { ...noIdentity, name: 'Siti\r\nX-Evil: 1' }, forwarding },
  )
  t.equal(out['x-citizen-name'], 'Siti%0D%0AX-Evil: 1')
})

const ctx: ResponseRewrite = {
  ownOrigin: 'https://layanan.sukamaju.go.id',
  upstream: new URL('http://10.1.2.3:8080/aplikasi/'),
  publicUrl: new URL('https://layanan.sukamaju.go.id'),
  prefix: '/layanan/dinas-a',
  upstreamPath: '/aplikasi/izin/form',
}

t.test('Location pointing at the upstream is moved onto the gateway; others are left alone', async (t) => {
  t.equal(
    rewriteLocation('http://10.1.2.3:8080/aplikasi/izin?x=1#f', ctx),
    'https://layanan.sukamaju.go.id/layanan/dinas-a/izin?x=1#f',
  )
  t.equal(rewriteLocation('http://10.1.2.3:8080/aplikasi', ctx), 'https://layanan.sukamaju.go.id/layanan/dinas-a/')
  t.equal(rewriteLocation('//10.1.2.3:8080/aplikasi/x', ctx), 'https://layanan.sukamaju.go.id/layanan/dinas-a/x')
  t.equal(rewriteLocation('/aplikasi/selesai', ctx), '/layanan/dinas-a/selesai')
  t.equal(rewriteLocation('/aplikasi/', ctx), '/layanan/dinas-a/')
  t.equal(rewriteLocation('selesai?id=1', ctx), 'selesai?id=1', 'relative references resolve under the prefix already')
  t.equal(rewriteLocation('../x', ctx), '../x')
  t.equal(rewriteLocation('/lain', ctx), '/lain', 'outside the base path: nothing to map to')
  t.equal(
    rewriteLocation('http://localhost:3000/authorize?x=1', ctx),
    'http://localhost:3000/authorize?x=1',
    'another origin (the idp) stays',
  )
  t.equal(
    rewriteLocation('http://10.1.2.3:9090/aplikasi/x', ctx),
    'http://10.1.2.3:9090/aplikasi/x',
    'another port is another origin',
  )
})

t.test(
  'Set-Cookie loses Domain, goes into the agency namespace and, on plain http, gets a Path below the agency prefix',
  async (t) => {
    const http: ResponseRewrite = {
      ...ctx,
      ownOrigin: 'http://dinas-a.localhost:8080',
      publicUrl: new URL('http://dinas-a.localhost:8080'),
    }
    t.equal(
      rewriteSetCookie('sid=abc; Domain=10.1.2.3; Path=/aplikasi/; HttpOnly; SameSite=Lax', http),
      'ag_sid=abc; Path=/layanan/dinas-a; HttpOnly; SameSite=Lax',
    )
    t.equal(rewriteSetCookie('sid=abc; Path=/aplikasi/izin', http), 'ag_sid=abc; Path=/layanan/dinas-a/izin')
    t.equal(
      rewriteSetCookie('sid=abc; path=/', http),
      'ag_sid=abc; Path=/layanan/dinas-a',
      'a path outside the base stays at the prefix',
    )
    t.equal(
      rewriteSetCookie('sid=abc; Secure', http),
      'ag_sid=abc; Path=/layanan/dinas-a/izin; Secure',
      'no Path: the default path of the upstream request, below the prefix',
    )
    t.equal(
      rewriteSetCookie('sid=abc; Path=relative', http),
      'ag_sid=abc; Path=/layanan/dinas-a/izin',
      'an invalid Path means the default path',
    )
    t.equal(
      rewriteSetCookie('sid=abc; Domain=10.1.2.3; Path=/aplikasi/izin; HttpOnly; SameSite=Lax', ctx),
      '__Host-ag_sid=abc; Path=/; HttpOnly; SameSite=Lax; Secure',
      'behind https: __Host-, so Secure and Path=/',
    )
    t.equal(rewriteSetCookie('sid=abc; Secure; Max-Age=60', ctx), '__Host-ag_sid=abc; Path=/; Secure; Max-Age=60')
    for (const c of [ctx, http]) {
      t.equal(rewriteSetCookie('sp_gw=stolen; Path=/', c), undefined, 'an agency cannot set the gateway session cookie')
      t.equal(rewriteSetCookie('sp_gw_tx_abc=x', c), undefined)
      t.equal(rewriteSetCookie('__Host-sp_gw=x; Path=/; Secure', c), undefined)
      t.equal(rewriteSetCookie('novalue', c), undefined, 'a cookie without a name is dropped')
    }
  },
)

t.test('response hop-by-hop headers and origin-wide ones are dropped; the rest pass', async (t) => {
  const out = rewriteResponseHeaders(
    {
      connection: 'keep-alive, x-internal',
      'keep-alive': 'timeout=5',
      'x-internal': 'secret',
      'transfer-encoding': 'chunked',
      'x-request-id': 'upstream-id',
      'alt-svc': 'h3=":443"',
      'clear-site-data': '"cookies"',
      'content-type': 'text/html',
      'cache-control': 'no-store',
      location: 'http://10.1.2.3:8080/aplikasi/x',
      'set-cookie': ['a=1; Path=/aplikasi/', 'sp_gw=x'],
    },
    ctx,
  )
  t.same(out, {
    'content-type': 'text/html',
    'cache-control': 'no-store',
    location: 'https://layanan.sukamaju.go.id/layanan/dinas-a/x',
    'set-cookie': ['__Host-ag_a=1; Path=/; Secure'],
  })
})

t.test(
  'SECURITY 32: response headers that act on the whole origin or its parent domain never pass from an upstream',
  async (t) => {
    // The list, spelled out: a header added to or removed from originWideResponseHeaders must change this test.
    const originWide: Record<string, string> = {
      'service-worker-allowed': '/',
      'strict-transport-security': 'max-age=63072000; includeSubDomains; preload',
      nel: '{"report_to":"x","max_age":86400}',
      'report-to': '{"group":"x","max_age":86400,"endpoints":[{"url":"https://evil.example/r"}]}',
      'reporting-endpoints': 'x="https://evil.example/r"',
      'clear-site-data': '"cookies", "storage"',
      'alt-svc': 'h3="evil.example:443"',
      'origin-agent-cluster': '?0',
      'accept-ch': 'Sec-CH-UA-Platform-Version, Sec-CH-UA-Model',
      'critical-ch': 'Sec-CH-UA-Model',
      'set-login': 'logged-in',
    }
    t.same([...originWideResponseHeaders].sort(), Object.keys(originWide).sort(), 'exactly these are origin-wide')
    for (const [name, value] of Object.entries(originWide)) {
      for (const spelling of [name, name.toUpperCase()]) {
        const out = rewriteResponseHeaders({ [spelling]: value, 'content-type': 'text/html' }, ctx)
        t.same(out, { 'content-type': 'text/html' }, `${spelling} is dropped`)
      }
    }
  },
)

t.test("SECURITY 32: Access-Control-Allow-Credentials passes only with the agency's own origin", async (t) => {
  const cases: Array<[string | undefined, boolean, string]> = [
    ['https://layanan.sukamaju.go.id', true, 'its own origin'],
    ['*', false, 'a wildcard'],
    ['null', false, 'the null origin (sandboxed frames, file:)'],
    ['https://dinas-b.layanan.sukamaju.go.id', false, "a sibling agency's origin"],
    ['https://evil.example', false, 'a foreign origin'],
    ['https://layanan.sukamaju.go.id.evil.example', false, 'a look-alike'],
    [undefined, false, 'no Allow-Origin at all'],
  ]
  for (const [origin, passes, what] of cases) {
    const headers: Record<string, string> = { 'access-control-allow-credentials': 'true' }
    if (origin !== undefined) headers['access-control-allow-origin'] = origin
    const out = rewriteResponseHeaders(headers, ctx)
    t.equal(
      out['access-control-allow-credentials'],
      passes ? 'true' : undefined,
      `${what}: credentials ${passes ? 'pass' : 'dropped'}`,
    )
    t.equal(
      out['access-control-allow-origin'],
      origin,
      `${what}: Allow-Origin itself passes (without credentials it reads nothing of the citizen)`,
    )
  }
  t.equal(
    corsCredentialsAllowed(['https://layanan.sukamaju.go.id', 'https://evil.example'], ctx.ownOrigin),
    false,
    'a list of origins is not one origin',
  )
})

t.test(
  'SECURITY 32: Attribution-Reporting-Register-* headers never pass; a Refresh to the upstream is moved onto the agency origin',
  async (t) => {
    for (const name of [
      'attribution-reporting-register-source',
      'Attribution-Reporting-Register-Trigger',
      'attribution-reporting-register-os-source',
    ]) {
      t.same(
        rewriteResponseHeaders({ [name]: '{}', 'content-type': 'text/html' }, ctx),
        { 'content-type': 'text/html' },
        `${name} is dropped`,
      )
    }
    const own: ResponseRewrite = {
      ...ctx,
      prefix: '',
      upstream: new URL('http://10.1.2.3:8080/'),
      ownOrigin: 'https://dinas-a.layanan.sukamaju.go.id',
    }
    t.equal(
      rewriteResponseHeaders({ refresh: '5; url=http://10.1.2.3:8080/selesai?x=1' }, own).refresh,
      '5; url=https://dinas-a.layanan.sukamaju.go.id/selesai?x=1',
    )
    t.equal(
      rewriteResponseHeaders({ refresh: "0;URL='http://10.1.2.3:8080/a'" }, own).refresh,
      "0;URL='https://dinas-a.layanan.sukamaju.go.id/a'",
    )
    t.equal(rewriteResponseHeaders({ refresh: '30' }, own).refresh, '30', 'a plain reload stays')
    t.equal(
      rewriteResponseHeaders({ location: 'http://10.1.2.3:8080/b' }, own).location,
      'https://dinas-a.layanan.sukamaju.go.id/b',
    )
    t.equal(
      rewriteResponseHeaders({ 'content-location': 'http://10.1.2.3:8080/c' }, own)['content-location'],
      'https://dinas-a.layanan.sukamaju.go.id/c',
    )
  },
)

t.test(
  'SECURITY 19: which redirect targets are internal: private, loopback, link-local and shared ranges, IPv4-mapped IPv6, other upstreams; never our own public origins',
  async (t) => {
    const { isInternalRedirect } = await import('../../src/gateway/proxy/headers.ts')
    const guard = {
      internalOrigins: new Set(['http://dinas-b-internal:8080']),
      publicOrigins: new Set(['http://127.0.0.1:3000']),
      refusedTarget: 'https://layanan.sukamaju.go.id/pengalihan-ditolak?layanan=dinas-a',
    }
    for (const u of [
      'http://10.0.0.1/',
      'http://172.16.5.5/',
      'http://192.168.0.1/',
      'http://127.0.0.2/',
      'http://169.254.169.254/latest/meta-data',
      'http://100.64.0.1/',
      'http://0.0.0.0/',
      'http://[::1]/',
      'http://[fd12::1]/',
      'http://[fe80::1]/',
      'http://[::ffff:10.0.0.1]/',
      'http://dinas-b-internal:8080/x',
    ]) {
      t.ok(isInternalRedirect(new URL(u), guard), u)
    }
    for (const u of [
      'http://127.0.0.1:3000/authorize',
      'https://8.8.8.8/',
      'https://www.sukamaju.go.id/',
      'http://[2001:db8::1]/',
      'mailto:a@b.id',
    ]) {
      t.notOk(isInternalRedirect(new URL(u), guard), u)
    }
    const guarded = { ...ctx, redirectGuard: guard }
    t.equal(
      rewriteLocation('http://169.254.169.254/latest/meta-data', guarded),
      guard.refusedTarget,
      'a cloud metadata address',
    )
    t.equal(
      rewriteLocation('http://10.1.2.3:8080/lain', guarded),
      guard.refusedTarget,
      'the upstream itself, outside its base path',
    )
    t.equal(rewriteLocation('/lain', guarded), '/lain', "a path on the agency's own origin stays")
    t.equal(
      rewriteLocation('http://10.1.2.3:8080/aplikasi/izin', guarded),
      'https://layanan.sukamaju.go.id/layanan/dinas-a/izin',
      'the upstream inside its base is rewritten as before',
    )
  },
)
