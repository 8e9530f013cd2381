/**
 * The portal's home and the idp's sign-in (issue 20): a citizen already signed in at Satu
 * Pintu is signed in at the portal without a page (a silent sign-in, prompt=none, once per
 * browser session, by redirect: no script); one who is not is told the truth — not signed
 * in on this portal — and is never sent round in a loop, with or without cookies.
 */
import { fileURLToPath } from 'node:url'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.ts'
import { createGatewayAuth, silentTriedCookieName } from '../../src/gateway/auth/authenticate.ts'
import { gatewayMessages } from '../../src/gateway/messages.ts'
import { portalRoutes } from '../../src/gateway/portal.ts'
import { createBaseApp } from '../../src/http/app.ts'
import { registerPages } from '../../src/http/pages.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, freshDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { type AgencySpec, agencyTable, portalOnly } from './harness.ts'
import { RevocationSet } from '../../src/gateway/auth/revocations.ts'

const clientId = 'satupintu-gateway'

async function startPortal(
  t: Test,
  db: Kysely<Database>,
  o: { publicUrl: string; port: number; issuer: string; secret: string | undefined; agencies?: AgencySpec[] },
): Promise<string> {
  const config = testConfig({
    idp: { issuer: o.issuer, gatewayResource: o.publicUrl },
    gateway: { publicUrl: o.publicUrl, port: o.port, clientId },
  })
  const app = createBaseApp({ config, logger: silentLogger() })
  await registerPages(app, {
    config,
    templateDirs: [fileURLToPath(new URL('../../src/gateway/templates/', import.meta.url))],
    messages: gatewayMessages,
  })
  const table = agencyTable(o.agencies ?? [], { timeoutMs: 5000, maxBodyBytes: 1024, publicUrl: o.publicUrl })
  const auth = await createGatewayAuth(app, {
    config,
    db,
    logger: silentLogger(),
    kek: testKek,
    clientSecret: o.secret,
    table,
    sites: portalOnly(o.publicUrl),
    revoked: new RevocationSet(),
  })
  await app.register(portalRoutes, { config, table, auth })
  await app.listen({ host: '127.0.0.1', port: o.port })
  t.teardown(() => app.close())
  return `http://127.0.0.1:${o.port}`
}

/** Follows redirects (each hop through `browser`, so cookies are kept) and returns every URL visited and the last answer. */
async function walk(
  browser: Browser,
  url: string,
  limit = 10,
): Promise<{ urls: string[]; res: Response; html: string }> {
  const urls = [url]
  let res = await browser.request(url)
  while (res.status >= 300 && res.status < 400) {
    if (urls.length > limit) throw new Error(`a redirect loop: ${urls.join(' → ')}`)
    const next = new URL(res.headers.get('location') ?? '', urls[urls.length - 1]).toString()
    urls.push(next)
    res = await browser.request(next)
  }
  return { urls, res, html: await res.text() }
}

t.test(
  '"Perlu akun terverifikasi" marks a service that needs an identity checked in person, not a strong sign-in (issue 14)',
  async (t) => {
    const db = await freshDatabase(t, 'pglite')
    const port = await freePort()
    const portal = await startPortal(t, db.db, {
      publicUrl: `http://127.0.0.1:${port}`,
      port,
      issuer: 'http://127.0.0.1:9',
      secret: undefined,
      agencies: [
        {
          id: 'dinas-a',
          upstream: 'http://127.0.0.1:1',
          services: [
            { path: '/orang', access: 'signed_in', minIdentity: 'in_person' },
            { path: '/passkey', access: 'signed_in', minAcr: 'urn:satupintu:acr:phr' },
            { path: '/kontak', access: 'signed_in', minIdentity: 'contact_verified' },
          ],
        },
      ],
    })
    const html = await (await fetch(`${portal}/?sso=0`, { headers: { accept: 'text/html' } })).text()
    const badgeOf = (path: string) =>
      new RegExp(`href="[^"]*${path}">[^<]*</a>\\s*<span class="badge">([^<]*)</span>`).exec(html)?.[1]
    t.equal(badgeOf('/orang'), 'Perlu akun terverifikasi', 'the service that needs the KTP-el checked')
    t.equal(badgeOf('/passkey'), 'Perlu masuk', 'a strong sign-in is not a verified identity')
    t.equal(badgeOf('/kontak'), 'Perlu masuk')
  },
)

t.test('the portal home and the idp session', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const port = await freePort()
    const publicUrl = `http://127.0.0.1:${port}`
    const { issuer } = await startIdp(t, db, { idp: { gatewayResource: publicUrl } })
    await addCitizen(db.db)
    const client = await registerClient(db, {
      clientId,
      redirectUris: [`${publicUrl}/oidc/callback`],
      postLogoutRedirectUris: [`${publicUrl}/`],
      scopes: ['openid', 'profile'],
    })
    const portal = await startPortal(t, db.db, { publicUrl, port, issuer, secret: client.secret })

    await t.test(
      'a citizen signed in at Satu Pintu is signed in at the portal too, without a page or a password',
      async (t) => {
        // Signed in at Satu Pintu through an agency's site earlier (here: the gateway's own
        // sign-in, with the consent the gateway asks once), then that host's session is no
        // use here — the portal has none of its own — and a new browser session begins.
        const browser = new Browser()
        const start = await browser.request(`${portal}/masuk`)
        const callback = await signIn(browser, start.headers.get('location') ?? '', issuer, {
          username: budi.nik,
          password: budi.password,
        })
        t.equal((await browser.request(callback)).status, 303, 'signed in at the idp')
        await db.db.deleteFrom('gateway_sessions').execute()
        browser.cookies.delete('sp_gw')
        browser.cookies.delete(silentTriedCookieName)
        const { urls, res, html } = await walk(browser, `${portal}/`)
        const authorize = new URL(urls[1] ?? '')
        t.equal(`${authorize.origin}${authorize.pathname}`, `${issuer}/auth`, 'the portal asked the idp')
        t.equal(authorize.searchParams.get('prompt'), 'none', 'silently: the idp shows no page')
        t.notOk(
          urls.some((u) => u.includes('/interaction/')),
          `no sign-in or consent page on the way: ${urls.join(' → ')}`,
        )
        t.equal(urls[urls.length - 1], `${portal}/`, 'back at the portal home')
        t.equal(res.status, 200)
        t.match(html, `Anda masuk sebagai ${budi.name}.`)
        t.notMatch(html, 'belum masuk')
        t.equal((await db.db.selectFrom('gateway_sessions').select('sub').execute()).length, 1, 'a portal session')
        await db.db.deleteFrom('gateway_sessions').execute()
      },
    )

    await t.test(
      'a citizen signed in nowhere is told so, after one try per browser session, with no loop',
      async (t) => {
        const browser = new Browser()
        const first = await browser.request(`${portal}/`)
        t.equal(first.status, 303)
        const marker = first.headers.getSetCookie().find((c) => c.startsWith(`${silentTriedCookieName}=`)) ?? ''
        t.match(marker, /; Path=\//)
        t.match(marker, /; HttpOnly/)
        t.match(marker, /; SameSite=Lax/)
        t.notMatch(marker, /Max-Age|Expires/, 'for this browser session only')
        const { urls, res, html } = await walk(browser, `${portal}/`)
        t.equal(urls.length, 1, 'the second visit in the same browser session is not sent to the idp again')
        t.equal(res.status, 200)
        t.match(html, 'Anda belum masuk di portal ini.', 'the truth: not signed in here')
        t.match(html, 'href="/masuk"', 'with the way to sign in')

        // From the start, in a fresh browser session: portal → idp (login_required) → callback → portal.
        const fresh = new Browser()
        const round = await walk(fresh, `${portal}/`)
        t.equal(round.urls.length, 4, `one round trip: ${round.urls.join(' → ')}`)
        t.match(round.urls[2], `${portal}/oidc/callback?`)
        t.match(round.urls[2], 'error=login_required')
        t.equal(round.urls[3], `${portal}/`)
        t.equal(round.res.status, 200)
        t.match(round.html, 'Anda belum masuk di portal ini.')
        t.equal((await db.db.selectFrom('gateway_sessions').select('sub').execute()).length, 0, 'no session made')
      },
    )

    await t.test('a browser that keeps no cookies gets the page after one round trip, not a loop', async (t) => {
      const urls = [`${portal}/`]
      let res = await fetch(urls[0] ?? '', { headers: { accept: 'text/html' }, redirect: 'manual' })
      while (res.status === 303 && urls.length < 10) {
        urls.push(new URL(res.headers.get('location') ?? '', urls[urls.length - 1]).toString())
        res = await fetch(urls[urls.length - 1] ?? '', { headers: { accept: 'text/html' }, redirect: 'manual' })
      }
      t.equal(res.status, 200, `ends on a page: ${urls.join(' → ')}`)
      t.equal(urls[urls.length - 1], `${portal}/?sso=0`, 'the portal home, flagged as tried')
      t.match(await res.text(), 'Anda belum masuk di portal ini.')
    })

    await t.test('API callers, tokens and the English page are not sent to the idp', async (t) => {
      const json = await fetch(`${portal}/`, { headers: { accept: 'application/json' }, redirect: 'manual' })
      t.not(json.status, 303, 'not a browser navigation')
      const prefetch = await fetch(`${portal}/`, {
        headers: { accept: 'text/html', 'sec-purpose': 'prefetch' },
        redirect: 'manual',
      })
      t.equal(prefetch.status, 200, 'a prefetch is not the citizen opening the page')
      const english = await fetch(`${portal}/?sso=0`, {
        headers: { accept: 'text/html', 'accept-language': 'en' },
        redirect: 'manual',
      })
      t.match(await english.text(), 'You are not signed in on this portal.')
    })
  })
})
