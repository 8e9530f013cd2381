/**
 * The demo agency sets the example agencies copy (issue 19): an unknown address and a form
 * it cannot read are pages in Bahasa Indonesia, never Fastify's JSON or a stack trace.
 */
import t from 'tap'
import { buildDemoAgency, signedOutPath } from '../../examples/demo-agency/app.ts'
import { ensureDemoData } from '../../src/demo.ts'
import { silentLogger } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'

t.test('the demo agency answers an unknown address and an unreadable form with a page, not JSON', async (t) => {
  const app = await buildDemoAgency({
    logger: silentLogger(),
    gateway: { url: 'http://localhost:8080', agencyId: 'dinas-contoh', jwksUrl: 'http://127.0.0.1:1/jwks' },
  })
  t.teardown(() => app.close())
  const missing = await app.inject({ method: 'GET', url: '/tidak-ada' })
  t.equal(missing.statusCode, 404)
  t.match(missing.headers['content-type'], /^text\/html/)
  t.match(missing.body, '<h1>Halaman tidak ditemukan</h1>')
  t.match(missing.body, '<html lang="id">')

  const broken = await app.inject({
    method: 'POST',
    url: '/izin/periksa',
    headers: { 'content-type': 'application/json' },
    payload: '{"jenis":',
  })
  t.equal(broken.statusCode, 400)
  t.match(broken.headers['content-type'], /^text\/html/)
  t.match(broken.body, 'Permintaan tidak dapat diproses')
  t.notMatch(broken.body, /at .*\.ts:\d+|SyntaxError|"statusCode"/, 'no stack, no raw error')
})

t.test(
  'the demo agency asks the idp before it signs out: "Tidak, tetap masuk" comes back still signed in, "Ya, keluar" ends the session',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer, config } = await startIdp(t, db)
      const agencyPort = await freePort()
      const base = `http://127.0.0.1:${agencyPort}`
      const demo = await ensureDemoData(db.db, config, base, testKek)
      const app = await buildDemoAgency({
        logger: silentLogger(),
        oidc: { issuer, clientId: demo.clientId, clientSecret: demo.clientSecret, baseUrl: base },
      })
      await app.listen({ host: '127.0.0.1', port: agencyPort })
      t.teardown(() => app.close())
      const browser = new Browser()
      const home = async () => await (await browser.request(`${base}/oidc-langsung/`)).text()

      const callback = await signIn(browser, `${base}/masuk`, issuer, {
        username: demo.citizen.nik,
        password: demo.citizen.password,
      })
      const landed = await browser.request(callback)
      t.equal(landed.status, 303, 'signed in at the agency')
      t.match(await home(), 'Halo, Budi Santoso')

      // Sign-out: the agency sends the browser to the idp's question, its own session intact.
      const out = await browser.request(`${base}/keluar`)
      t.equal(out.status, 303)
      const endSession = new URL(out.headers.get('location') ?? '')
      t.equal(`${endSession.origin}${endSession.pathname}`, `${issuer}/session/end`, 'to the idp')
      t.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${base}${signedOutPath}`)
      const state = endSession.searchParams.get('state')
      t.ok(state, 'with a state the agency will check')
      t.match(await home(), 'Halo, Budi Santoso', 'still signed in at the agency while the idp asks')

      const question = await browser.request(endSession.href)
      t.equal(question.status, 200)
      const html = await question.text()
      t.match(html, 'Keluar dari Satu Pintu?')
      const cancel = /<a class="button button-secondary" href="([^"]+)">Tidak, tetap masuk<\/a>/
        .exec(html)?.[1]
        ?.replace(/&amp;/g, '&')
      t.equal(cancel, `${base}${signedOutPath}`, '"Tidak, tetap masuk" goes back to the agency, without the state')

      // "Tidak, tetap masuk": back at the agency, still signed in there and at the idp.
      const stayed = await browser.request(cancel ?? '')
      t.equal(stayed.status, 303)
      t.equal(stayed.headers.get('location'), '/oidc-langsung/')
      t.match(await home(), 'Halo, Budi Santoso', 'still signed in at the agency')
      const again = await browser.follow(`${base}/masuk`, issuer)
      t.ok(again.url.startsWith(`${base}/oidc/callback?`), 'and at the idp: the next sign-in needs no password')

      // A forged return (someone else's link, a guessed state) signs nobody out.
      await browser.request(`${base}/keluar`)
      const forged = await browser.request(`${base}${signedOutPath}?state=tebakan`)
      t.equal(forged.status, 303)
      t.match(await home(), 'Halo, Budi Santoso', 'a state that is not ours ends nothing')

      // "Ya, keluar": the idp ends its session and comes back with our state; then ours ends.
      const out2 = await browser.request(`${base}/keluar`)
      const end2 = out2.headers.get('location') ?? ''
      const page2 = await (await browser.request(end2)).text()
      const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(page2)?.[1] ?? ''
      const confirmed = await browser.request(`${issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
      t.equal(confirmed.status, 303)
      const back = new URL(confirmed.headers.get('location') ?? '')
      t.equal(`${back.origin}${back.pathname}`, `${base}${signedOutPath}`)
      t.equal(back.searchParams.get('state'), new URL(end2).searchParams.get('state'), 'with the state the agency sent')
      const done = await browser.request(back.href)
      t.equal(done.status, 200)
      t.match(await done.text(), 'Anda sudah keluar')
      t.match(await home(), 'Masuk dengan Satu Pintu', 'signed out at the agency')
    })
  },
)
