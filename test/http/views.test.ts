import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import { assetsPlugin } from '../../src/http/assets.ts'
import { commonMessages, defineMessages, errorPageStatuses, translator } from '../../src/http/i18n.ts'
import { createViews, viewsPlugin } from '../../src/http/views.ts'
import { fromAcceptLanguage } from '../../src/http/locale.ts'
import type { ViewsPluginOptions } from '../../src/http/views.ts'

const signinTemplate = `<% layout('layout', { title: it.t('signin.title') }) %>
<h1><%= it.t('signin.title') %></h1>
<p class="greeting"><%= it.t('signin.hello', { name: it.name }) %></p>
<% if (it.formError) { %><%~ include('partials/alert', { alert: { kind: 'error', items: [{ text: it.formError, href: '#username' }] } }) %><% } %>
<form method="post" action="/masuk" novalidate>
<%~ include('partials/field', { field: { id: 'username', label: it.t('signin.username'), autocomplete: 'username', inputmode: 'email', required: true, value: it.username, hint: it.t('signin.usernameHint'), error: it.formError } }) %>
<%~ include('partials/field', { field: { id: 'password', label: it.t('signin.password'), type: 'password', autocomplete: 'current-password', required: true, value: it.password } }) %>
<button type="submit">OK</button>
</form>
`

const signinMessages = defineMessages({
  id: {
    'signin.title': 'Masuk',
    'signin.hello': 'Halo {name}',
    'signin.username': 'Email atau nomor HP',
    'signin.usernameHint': 'Yang Anda pakai saat mendaftar',
    'signin.password': 'Kata sandi',
  },
  en: {
    'signin.title': 'Sign in',
    'signin.hello': 'Hello {name}',
    'signin.username': 'Email or phone number',
    'signin.usernameHint': 'The one you registered with',
    'signin.password': 'Password',
  },
})

type AppOptions = { withCookiePlugin?: boolean; views?: Partial<ViewsPluginOptions> }

async function buildApp(t: Test, opts: AppOptions = {}): Promise<FastifyInstance> {
  const dir = t.testdir({ 'signin.eta': signinTemplate })
  let n = 0
  const app = Fastify({ logger: false, genReqId: () => `ref-${(++n).toString().padStart(4, '0')}` })
  if (opts.withCookiePlugin) await app.register(cookie)
  await app.register(viewsPlugin, {
    templateDirs: [dir],
    regencyName: 'Sukamaju',
    messages: signinMessages,
    formActionOrigins: ['https://layanan.sukamaju.go.id'],
    ...opts.views,
  })
  await app.register(assetsPlugin)
  app.get<{ Querystring: Record<string, string> }>('/masuk', (req, reply) =>
    reply.page('signin', {
      name: req.query['name'] ?? 'Warga',
      username: req.query['username'],
      password: 'rahasia-jangan-tampil',
      formError: req.query['err'],
    }),
  )
  app.get('/rp', (_req, reply) =>
    reply.page('signin', { name: 'x' }, { formActionOrigins: ['https://rp.example.go.id'] }),
  )
  app.get('/own-send', (_req, reply) => {
    const html = reply.pageHtml('error', { status: 429 })
    return reply.code(429).send(html)
  })
  app.get('/reserved', (_req, reply) => reply.page('signin', { t: 'mine' }))
  app.get('/boom', () => {
    throw new Error('secret internals: password=hunter2')
  })
  app.get<{ Params: { status: string } }>('/status/:status', (req, reply) => {
    const status = Number(req.params.status)
    return reply.page('error', { status }, { status })
  })
  app.setErrorHandler((_err, _req, reply) => reply.page('error', { status: 500 }, { status: 500 }))
  t.teardown(() => app.close())
  return app
}

const htmlLang = (body: string) => /<html lang="(\w+)">/.exec(body)?.[1]

t.test('pickLocale', async (t) => {
  const app = await buildApp(t)
  const lang = async (url: string, headers: Record<string, string> = {}) =>
    htmlLang((await app.inject({ url, headers })).body)

  t.equal(await lang('/masuk'), 'id', 'serves Bahasa Indonesia when the request says nothing')
  t.equal(
    await lang('/masuk', { 'accept-language': 'fr, de' }),
    'id',
    'serves Bahasa Indonesia when no language is supported',
  )
  t.equal(await lang('/masuk?ui_locales=fr-CA%20en-GB%20id'), 'en', 'takes the first supported ui_locales tag')
  t.equal(await lang('/masuk?ui_locales=xx'), 'id', 'ignores ui_locales with no supported tag')
  t.equal(await lang('/masuk?ui_locales=en&lang=id'), 'en', 'ranks ui_locales above lang')
  t.equal(await lang('/masuk?lang=en', { cookie: 'lang=id' }), 'en', 'ranks lang above the cookie')
  t.equal(
    await lang('/masuk', { cookie: 'a=1; lang=en', 'accept-language': 'id' }),
    'en',
    'ranks the cookie above Accept-Language',
  )
  t.equal(
    await lang('/masuk', { cookie: 'lang=xx', 'accept-language': 'en' }),
    'en',
    'ignores an unsupported cookie value',
  )
  t.equal(await lang('/masuk', { 'accept-language': 'en-US,en;q=0.9' }), 'en', 'reads Accept-Language')
  t.equal(await lang('/masuk', { 'accept-language': 'fr;q=1, en;q=0.8, id;q=0.9' }), 'id', 'prefers the higher q value')
  t.equal(await lang('/masuk', { 'accept-language': 'en;q=0, id;q=0.1' }), 'id', 'treats q=0 as not acceptable')
  t.equal(await lang('/masuk?lang=en', { 'accept-language': 'in-ID' }), 'en', 'follows the switch link')
  t.equal(
    await lang('/masuk', { 'accept-language': 'in-ID, en;q=0.5' }),
    'id',
    'reads the legacy "in" code as Indonesian',
  )
})

t.test('reads the lang cookie through @fastify/cookie when it is registered', async (t) => {
  const app = await buildApp(t, { withCookiePlugin: true })
  const res = await app.inject({ url: '/masuk', headers: { cookie: 'lang=en' } })
  t.equal(htmlLang(res.body), 'en')
})

t.test('remembers the language chosen with the switch link in a cookie', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({ url: '/masuk?lang=en' })
  t.equal(res.headers['set-cookie'], 'lang=en; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly')
  const plain = await app.inject({ url: '/masuk' })
  t.equal(plain.headers['set-cookie'], undefined, 'sets no cookie when the switch was not used')
})

t.test('keeps the query but drops ui_locales in the language switch links', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({ url: '/masuk?ui_locales=en&name=Budi&lang=en' })
  t.match(res.body, '<a href="?name=Budi&amp;lang=id" hreflang="id" lang="id">Bahasa Indonesia</a>')
  t.match(res.body, '<a href="?name=Budi&amp;lang=en" hreflang="en" lang="en" aria-current="true">English</a>')
})

t.test('translates the layout and the page, and shows the regency', async (t) => {
  const app = await buildApp(t)
  const id = await app.inject({ url: '/masuk' })
  t.match(id.body, '<title>Masuk — Satu Pintu — MPP Digital</title>')
  t.match(id.body, 'Situs resmi Pemerintah Kabupaten Sukamaju')
  t.match(id.body, '<link rel="stylesheet" href="/assets/satupintu.css">')
  const en = await app.inject({ url: '/masuk?lang=en' })
  t.match(en.body, '<title>Sign in — Satu Pintu — MPP Digital</title>')
  t.match(en.body, 'An official website of the Sukamaju Regency Government')
})

t.test('escapes markup in page data, in text and in attributes', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({
    url: `/masuk?name=${encodeURIComponent('<script>alert(1)</script>')}&username=${encodeURIComponent('"><script>x()</script>')}`,
  })
  t.notMatch(res.body, '<script')
  t.match(res.body, 'Halo &lt;script&gt;alert(1)&lt;/script&gt;')
  t.match(res.body, 'value="&quot;&gt;&lt;script&gt;x()&lt;/script&gt;"')
})

t.test('sends pages as uncacheable HTML with the security headers', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({ url: '/masuk' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(
    res.headers['content-security-policy'],
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' https://layanan.sukamaju.go.id; frame-ancestors 'none'; base-uri 'none'",
  )
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.equal(res.headers['referrer-policy'], 'no-referrer')
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.notMatch(res.body, /style=|<script/, 'uses no inline style or script the policy would block')
})

t.test('pageHtml returns the page and sets the headers, for callers that send it themselves', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({ url: '/own-send' })
  t.equal(res.statusCode, 429)
  t.match(res.body, '<h1>Terlalu banyak percobaan</h1>')
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.headers['content-security-policy'], "frame-ancestors 'none'")
  t.equal(res.headers['x-frame-options'], 'DENY')
})

t.test('adds a page’s own form-action origins to the policy', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({ url: '/rp' })
  t.match(
    res.headers['content-security-policy'],
    "form-action 'self' https://layanan.sukamaju.go.id https://rp.example.go.id;",
  )
})

t.test('refuses a form-action origin that is not an origin', async (t) => {
  for (const bad of ['https://a.example/path', "https://a.example; script-src 'unsafe-inline'", 'javascript:x', '*']) {
    const app = Fastify({ logger: false })
    t.teardown(() => app.close())
    await t.rejects(
      async () => {
        await app.register(viewsPlugin, { templateDirs: [], regencyName: 'X', formActionOrigins: [bad] })
      },
      /formActionOrigins\[0\] .* is not an origin/,
      bad,
    )
  }
})

t.test('refuses page data that would hide the layout’s own values', async (t) => {
  const app = await buildApp(t)
  const res = await app.inject({ url: '/reserved' })
  t.equal(res.statusCode, 500)
  t.notMatch(res.body, 'mine')
})

t.test('renders form fields with labels, hints and errors tied to the input', async (t) => {
  const app = await buildApp(t)
  const ok = await app.inject({ url: '/masuk?username=budi%40contoh.id' })
  t.match(ok.body, '<label class="label" for="username">Email atau nomor HP</label>')
  t.match(
    ok.body,
    /<input class="input" id="username" name="username" type="text"\s+autocomplete="username"\s+inputmode="email"\s+required\s+aria-describedby="username-hint"\s+value="budi@contoh.id"\s+>/,
  )
  t.match(ok.body, /id="password" name="password" type="password"\s+autocomplete="current-password"\s+required\s+>/)
  t.notMatch(ok.body, 'rahasia-jangan-tampil', 'never writes a password back into the page')
  t.notMatch(ok.body, 'aria-invalid')
  t.notMatch(ok.body, 'role="alert"')

  const bad = await app.inject({ url: '/masuk?err=Isi+email+Anda' })
  t.match(bad.body, 'aria-describedby="username-hint username-error"')
  t.match(bad.body, 'aria-invalid="true"')
  t.match(
    bad.body,
    '<p class="error-message" id="username-error"><span class="visually-hidden">Kesalahan: </span>Isi email Anda</p>',
  )
  t.match(
    bad.body,
    /<div class="alert alert-error" role="alert">\s*<h2 class="alert-title">Ada yang perlu diperbaiki<\/h2>/,
  )
  t.match(bad.body, '<li><a href="#username">Isi email Anda</a></li>')
})

t.test('error page', async (t) => {
  const app = await buildApp(t)

  t.test('shows a plain explanation and the reference code, never the error itself', async (t) => {
    const res = await app.inject({ url: '/boom' })
    t.equal(res.statusCode, 500)
    t.match(res.body, '<h1>Terjadi gangguan pada sistem kami</h1>')
    t.match(res.body, /Kode referensi: <code class="reference-code">[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}<\/code>/)
    t.notMatch(res.body, /secret internals|hunter2|\bat .*\.ts:\d+|Error:/)
    t.match(res.headers['content-security-policy'], "default-src 'none'")
  })

  t.test('has a text for every status it knows, in both languages', async (t) => {
    for (const status of errorPageStatuses) {
      for (const locale of ['id', 'en'] as const) {
        const tr = translator(commonMessages, locale)
        const res = await app.inject({ url: `/status/${status}?lang=${locale}` })
        t.equal(res.statusCode, status)
        t.match(res.body, `<h1>${tr(`error.${status}.title`)}</h1>`, `${status} ${locale}`)
      }
    }
  })

  t.test('falls back to the general 4xx or 5xx text for other statuses', async (t) => {
    t.match((await app.inject({ url: '/status/418' })).body, '<h1>Permintaan tidak dapat diproses</h1>')
    t.match((await app.inject({ url: '/status/507' })).body, '<h1>Terjadi gangguan pada sistem kami</h1>')
  })

  t.test('links home', async (t) => {
    t.match((await app.inject({ url: '/status/404' })).body, '<a class="button" href="/">Kembali ke beranda</a>')
  })
})

t.test('assets', async (t) => {
  const app = await buildApp(t)

  t.test('serves the stylesheet with a strong ETag and a day of caching', async (t) => {
    const res = await app.inject({ url: '/assets/satupintu.css' })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'text/css; charset=utf-8')
    t.equal(res.headers['cache-control'], 'public, max-age=86400')
    t.match(res.headers.etag, /^"[A-Za-z0-9_-]{27}"$/)
    t.match(res.body, '.button')
    t.ok(res.rawPayload.length < 12 * 1024, 'stays under 12 KB (one request on a slow phone)')
  })

  t.test('answers 304 without a body when If-None-Match holds the ETag', async (t) => {
    const { headers } = await app.inject({ url: '/assets/satupintu.css' })
    const etag = String(headers.etag)
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await app.inject({ url: '/assets/satupintu.css', headers: { 'if-none-match': ifNoneMatch } })
      t.equal(res.statusCode, 304, ifNoneMatch)
      t.equal(res.body, '')
      t.equal(res.headers.etag, etag)
    }
    const stale = await app.inject({ url: '/assets/satupintu.css', headers: { 'if-none-match': '"stale"' } })
    t.equal(stale.statusCode, 200)
  })

  t.test('serves nothing outside the allow-list', async (t) => {
    for (const url of [
      '/assets/../package.json',
      '/assets/..%2fpackage.json',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
      '/assets/nothing.css',
      '/assets/__proto__',
      '/assets/',
    ]) {
      const res = await app.inject({ url })
      t.equal(res.statusCode, 404, url)
      t.notMatch(res.body, '"name": "satupintu"', url)
    }
  })
})

t.test('i18n', async (t) => {
  t.test('interpolates parameters and refuses a missing one', async (t) => {
    const tr = translator(commonMessages, 'id')
    t.equal(tr('site.regency', { name: 'Sukamaju' }), 'Kabupaten Sukamaju')
    t.throws(() => (tr as (k: string) => string)('site.regency'), /needs a value for \{name\}/)
    t.throws(() => (tr as (k: string) => string)('no.such.key'), /no message "no\.such\.key"/)
    t.equal(tr.has('site.name'), true)
    t.equal(tr.has('no.such.key'), false)
  })

  t.test('refuses catalogues whose locales disagree', async (t) => {
    const unchecked = defineMessages as (m: { id: Record<string, string>; en: Record<string, string> }) => unknown
    t.throws(() => unchecked({ id: { a: 'x' }, en: {} }), /"a" has no "en" text/)
    t.throws(() => unchecked({ id: {}, en: { b: 'y' } }), /"b" has no "id" text/)
    t.throws(() => unchecked({ id: { a: 'Hai {name}' }, en: { a: 'Hi {nama}' } }), /placeholders/)
    t.throws(() => unchecked({ id: { a: '<b>x</b>' }, en: { a: 'x' } }), /contains markup/)
  })
})

t.test('createViews refuses template names that leave the template directories', async (t) => {
  const views = createViews({ templateDirs: [t.testdir({ 'a.eta': 'A' })] })
  t.equal(views.render('a', {}), 'A')
  for (const name of ['../a', '/etc/passwd', 'a.eta', 'partials/../../a']) {
    t.throws(() => views.render(name, {}), /bad template name/, name)
  }
  t.throws(() => views.render('missing', {}), /no template "missing"/)
})

t.test('fromAcceptLanguage ranks with negotiator: q first, then the more exact match', async (t) => {
  t.equal(fromAcceptLanguage('id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7'), 'id', 'a browser set to Indonesian')
  t.equal(fromAcceptLanguage('en-GB,en;q=0.9,id;q=0.5'), 'en')
  t.equal(fromAcceptLanguage('in-ID'), 'id', 'the legacy code')
  t.equal(fromAcceptLanguage('id;q=0, en'), 'en', 'q=0 is not acceptable')
  t.equal(fromAcceptLanguage('id-ID, en'), 'en', 'at equal q an exact tag beats a prefix match (negotiator)')
  t.equal(fromAcceptLanguage('fr, de'), undefined)
  t.equal(fromAcceptLanguage(''), undefined)
})
