/**
 * Native apps as relying parties (RFC 8252, issue 22): the redirect URIs an app may
 * register, the code flow with PKCE through a loopback listener on whatever port the app
 * got, private-use scheme redirects returned exactly, refresh-token rotation, DPoP-bound
 * tokens, and the sign-in page's notice inside an embedded web view.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import * as oidc from 'openid-client'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import {
  ClientError,
  findClient,
  prepareClient,
  type ClientInput,
  type ClientPolicy,
} from '../../src/idp/oidc/clients.ts'
import { embeddedBrowserOf } from '../../src/idp/oidc/embedded-browser.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, eachDatabase, freshDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp } from '../helpers/idp.ts'
import { listenOnAnyPort } from '../helpers/process.ts'

const development: ClientPolicy = { allowLoopbackHttp: true }
const production: ClientPolicy = { allowLoopbackHttp: false }
const credentials = { username: budi.nik, password: budi.password }
const insecure = { execute: [oidc.allowInsecureRequests] }
const scheme = 'id.go.sukamajukab.app'

function nativeInput(redirectUris: string[], extra: Partial<ClientInput> = {}): ClientInput {
  return {
    name: 'Aplikasi MPP Digital',
    agencyId: 'dinas-uji',
    authMethod: 'none',
    applicationType: 'native',
    redirectUris,
    ...extra,
  }
}

function refusal(input: ClientInput, policy: ClientPolicy): ClientError | undefined {
  try {
    prepareClient(input, policy)
    return undefined
  } catch (err) {
    if (err instanceof ClientError) return err
    throw err
  }
}

t.test('a native client may register the three redirect kinds of RFC 8252 §7, and nothing else', async (t) => {
  const allowed = [
    `${scheme}:/oauth2redirect`, // private-use scheme, reverse domain (§7.1)
    `${scheme}:/oauth2redirect/satupintu`,
    'https://app.sukamajukab.go.id/oauth2redirect', // claimed https (§7.2)
    'http://127.0.0.1/oauth2redirect', // loopback, any port at request time (§7.3)
    'http://[::1]/oauth2redirect',
  ]
  for (const uri of allowed) {
    for (const [name, policy] of [
      ['development', development],
      ['production', production],
    ] as const) {
      const err = refusal(nativeInput([uri], { firstParty: true }), policy)
      t.equal(err, undefined, `${name} accepts ${uri}${err ? `: ${err.message}` : ''}`)
    }
  }
  const refused: Record<string, RegExp> = {
    'http://localhost/oauth2redirect': /must not use localhost.*RFC 8252 §8\.3/,
    'http://localhost:8080/oauth2redirect': /must not use localhost/,
    'http://127.0.0.1:8080/oauth2redirect': /without a port/,
    'http://[::1]:8080/oauth2redirect': /without a port/,
    'http://app.sukamajukab.go.id/oauth2redirect': /only for the loopback interface/,
    'http://10.0.0.5/oauth2redirect': /only for the loopback interface/,
    'https://127.0.0.1/oauth2redirect': /agency's own host/,
    'javascript:alert(1)': /must not use the javascript scheme/,
    'data:text/html,hi': /must not use the data scheme/,
    'file:///etc/passwd': /must not use the file scheme/,
    'vbscript:msgbox': /must not use the vbscript scheme/,
    'myapp:/oauth2redirect': /single word/,
    'satupintu:/oauth2redirect': /single word/,
    'Id.Go.Sukamajukab.App:/oauth2redirect': /lowercase/,
    'id.go.sukamajukab.app://oauth2redirect': /one slash after the scheme/,
    'id.go.sukamajukab.app:oauth2redirect': /one slash after the scheme/,
    '1d.go.sukamajukab.app:/cb': /is not a URL/,
    'id.-go.sukamajukab.app:/cb': /not a domain name in reverse order/,
    'i.go.sukamajukab.app:/cb': /not a domain name in reverse order/,
    'id.go..app:/cb': /not a domain name in reverse order/,
    'id.go.sukamajukab.app:/cb#frag': /fragment/,
    'id.go.sukamajukab.app:/*': /wildcards/,
  }
  for (const [uri, message] of Object.entries(refused)) {
    const err = refusal(nativeInput([uri], { firstParty: true }), production)
    t.equal(err?.field, 'redirect_uris[0]', `refuses ${uri}`)
    t.match(err?.message ?? '', message, `says why for ${uri}`)
  }
  t.match(
    refusal(
      nativeInput([`${scheme}:/cb`], { firstParty: true, postLogoutRedirectUris: ['http://localhost/bye'] }),
      production,
    )?.message ?? '',
    /localhost/,
    'post-logout URIs follow the same rules',
  )
})

t.test('a native client is public, and web clients keep their rules', async (t) => {
  const secret = refusal(nativeInput([`${scheme}:/cb`], { authMethod: 'client_secret_basic' }), production)
  t.equal(secret?.field, 'auth_method')
  t.match(secret?.message ?? '', /cannot keep a secret/)
  t.equal(
    refusal({ ...nativeInput([`${scheme}:/cb`]), applicationType: 'desktop' as 'native' }, production)?.field,
    'application_type',
  )
  const web = refusal(
    { name: 'Situs', agencyId: 'dinas-uji', authMethod: 'none', redirectUris: [`${scheme}:/oauth2redirect`] },
    production,
  )
  t.match(
    web?.message ?? '',
    /private-use scheme is only for a native app \(application_type native/,
    'a web client is told how to register an app',
  )
  t.match(
    refusal(
      {
        name: 'Situs',
        agencyId: 'dinas-uji',
        authMethod: 'none',
        redirectUris: ['http://127.0.0.1/cb'],
        firstParty: true,
      },
      production,
    )?.message ?? '',
    /must use https/,
    'web: no loopback in production',
  )
  t.equal(
    refusal(
      {
        name: 'Situs',
        agencyId: 'dinas-uji',
        authMethod: 'none',
        redirectUris: ['http://localhost:8081/cb'],
        firstParty: true,
      },
      development,
    ),
    undefined,
    'web: localhost in development as before',
  )
  const app = prepareClient(nativeInput([`${scheme}:/oauth2redirect`]), production)
  t.equal(app.metadata.application_type, 'native')
  t.equal(app.metadata.subject_type, 'pairwise', "an agency's app gets pairwise subjects")
  t.equal(app.secret, undefined, 'and no secret')
  t.match(
    refusal(nativeInput(['http://127.0.0.1/cb']), production)?.message ?? '',
    /all loopback needs a sector_identifier_uri/,
    "an agency's loopback-only app needs its own sector",
  )
  t.match(
    refusal(nativeInput([`${scheme}:/cb`, 'com.example.other:/cb']), production)?.message ?? '',
    /more than one host/,
    'two private-use domains are two sectors',
  )
})

t.test('`satupintu clients add` registers a native app with a private-use scheme', async (t) => {
  for (const kind of databaseKinds()) {
    await t.test(`on ${kind}`, async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-native-'))
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
      const database =
        kind === 'pglite' ? { pgliteDir: path.join(dir, 'pglite') } : { url: (await freshDatabase(t, 'postgres')).url }
      const overrides = { dataDir: dir, database }
      const config = testConfig(overrides)
      const h = await openDatabase(config.database)
      await migrateToLatestOrThrow(h.db)
      await h.close()
      const out: string[] = []
      const err: string[] = []
      const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
      const args = [
        'clients',
        'add',
        '--name',
        'Aplikasi Dukcapil',
        '--agency',
        'disdukcapil',
        '--client-id',
        'dukcapil-app',
        '--auth-method',
        'none',
        '--application-type',
        'native',
        '--dpop',
        '--redirect-uri',
        'id.go.sukamajukab.app:/oauth2redirect',
      ]
      const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides })
      t.equal(code, 0, `registered: ${err.join(' ')}`)
      t.match(out.join('\n'), /client_id:\s+dukcapil-app/)
      t.notMatch(out.join('\n'), /client_secret/, 'no secret for an app')
      const webArgs = [
        'clients',
        'add',
        '--name',
        'Situs Dukcapil',
        '--agency',
        'disdukcapil',
        '--client-id',
        'dukcapil-web',
        '--auth-method',
        'none',
        '--redirect-uri',
        'id.go.sukamajukab.app:/oauth2redirect',
      ]
      const refused = await main(webArgs, { io, env: { NODE_ENV: 'test' }, overrides })
      t.not(refused, 0, 'without --application-type native it is refused')
      t.match(err.join('\n'), /application_type native/)
      const check = await openDatabase(config.database)
      try {
        const row = await findClient(check.db, 'dukcapil-app')
        t.equal(row?.metadata.application_type, 'native')
        t.equal(row?.metadata.dpop_bound_access_tokens, true)
        t.same(row?.metadata.redirect_uris, ['id.go.sukamajukab.app:/oauth2redirect'])
        t.equal(await findClient(check.db, 'dukcapil-web'), undefined, 'nothing written for the refused one')
      } finally {
        await check.close()
      }
    })
  }
})

/** The app's loopback listener (RFC 8252 §7.3): on a port the system gives it now, it receives one redirect. */
async function loopbackListener(t: Test): Promise<{ redirectUri: string; received: Promise<URL> }> {
  let resolve!: (u: URL) => void
  const received = new Promise<URL>((r) => (resolve = r))
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<p>Kembali ke aplikasi.</p>')
    resolve(new URL(req.url ?? '/', `http://127.0.0.1:${(server.address() as { port: number }).port}`))
  })
  const port = await listenOnAnyPort(server)
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { redirectUri: `http://127.0.0.1:${port}/oauth2redirect`, received }
}

async function nativeConfig(issuer: string, clientId: string): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(issuer), clientId, undefined, oidc.None(), insecure)
}

/** Sign-in as an app does it: authorization URL in the (system) browser, code back at the redirect URI. */
async function appSignIn(
  config: oidc.Configuration,
  issuer: string,
  redirectUri: string,
  browser: Browser,
  params: Record<string, string> = {},
) {
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  })
  const callback = await signIn(browser, url.href, issuer, credentials)
  return { callback, verifier, state }
}

t.test(
  'openid-client as a native app signs in with code + PKCE through a loopback port chosen at request time',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      // The regency's own app (first-party): loopback as registered, without a port.
      const app = await registerClient(db, { ...nativeInput(['http://127.0.0.1/oauth2redirect']), firstParty: true })
      const config = await nativeConfig(issuer, app.clientId)
      const browser = new Browser()
      for (const round of ['first', 'second']) {
        const listener = await loopbackListener(t)
        const flow = await appSignIn(config, issuer, listener.redirectUri, browser)
        t.ok(
          flow.callback.startsWith(`${listener.redirectUri}?`),
          `${round} sign-in: redirected to the port the app listens on now`,
        )
        // The system browser follows the redirect to the app's listener.
        await browser.request(flow.callback)
        const received = await listener.received
        t.equal(received.origin + received.pathname, listener.redirectUri)
        const tokens = await oidc.authorizationCodeGrant(config, received, {
          pkceCodeVerifier: flow.verifier,
          expectedState: flow.state,
        })
        t.equal(tokens.claims()?.sub, citizen.id, `${round}: the ID token is for the citizen`)
        t.equal(tokens.claims()?.aud, app.clientId)
        t.ok(tokens.access_token)
      }

      await t.test('localhost, another path or another host is never a loopback redirect', async (t) => {
        const { port } = new URL((await loopbackListener(t)).redirectUri)
        for (const uri of [
          `http://localhost:${port}/oauth2redirect`,
          `http://127.0.0.1:${port}/other`,
          `http://127.0.0.2:${port}/oauth2redirect`,
          `https://127.0.0.1:${port}/oauth2redirect`,
        ]) {
          const url = oidc.buildAuthorizationUrl(config, {
            redirect_uri: uri,
            scope: 'openid',
            code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
            code_challenge_method: 'S256',
          })
          const res = await fetch(url, { redirect: 'manual' })
          t.equal(res.status, 400, `${uri}: an error page at the provider`)
          t.equal(res.headers.get('location'), null, `${uri}: no redirect`)
        }
      })

      await t.test('a web client registered with a loopback URI keeps exact matching (no other port)', async (t) => {
        const web = await registerClient(db, { redirectUris: ['http://127.0.0.1/cb'], authMethod: 'none' })
        const url = oidc.buildAuthorizationUrl(await nativeConfig(issuer, web.clientId), {
          redirect_uri: 'http://127.0.0.1:45678/cb',
          scope: 'openid',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        })
        t.equal((await fetch(url, { redirect: 'manual' })).status, 400)
      })
    })
  },
)

t.test('a private-use scheme redirect is returned exactly, and an agency app gets a pairwise subject', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const redirectUri = `${scheme}:/oauth2redirect`
    const app = await registerClient(db, { ...nativeInput([redirectUri]), firstParty: false })
    const config = await nativeConfig(issuer, app.clientId)
    const flow = await appSignIn(config, issuer, redirectUri, new Browser())
    t.ok(
      flow.callback.startsWith(`${redirectUri}?`),
      `redirected to ${redirectUri} exactly: ${flow.callback.slice(0, 60)}`,
    )
    const back = new URL(flow.callback)
    t.equal(back.protocol, `${scheme}:`)
    t.equal(back.pathname, '/oauth2redirect')
    t.equal(back.searchParams.get('state'), flow.state, 'state echoed byte for byte')
    t.equal(back.searchParams.get('iss'), issuer, 'the issuer rides along (RFC 9207), so the app knows who answered')
    const tokens = await oidc.authorizationCodeGrant(config, back, {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
    })
    const sub = tokens.claims()?.sub
    t.match(sub, /^[A-Za-z0-9_-]{43}$/)
    t.not(sub, citizen.id, 'pairwise, in the sector app.sukamajukab.go.id')
    for (const other of [
      `${scheme}:/oauth2redirect/`,
      `${scheme}:/OAuth2Redirect`,
      `${scheme}://oauth2redirect`,
      `${scheme}.evil:/oauth2redirect`,
    ]) {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: other,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      })
      const res = await fetch(url, { redirect: 'manual' })
      t.equal(res.status, 400, `${other}: refused at the provider, no redirect`)
    }
  })
})

t.test('a native client rotates its refresh token at every use, and a replayed one revokes the grant', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db)
    const redirectUri = `${scheme}:/oauth2redirect`
    const app = await registerClient(db, { ...nativeInput([redirectUri]), firstParty: false })
    const config = await nativeConfig(issuer, app.clientId)
    const flow = await appSignIn(config, issuer, redirectUri, new Browser(), {
      scope: 'openid profile offline_access',
      prompt: 'consent',
    })
    const tokens = await oidc.authorizationCodeGrant(config, new URL(flow.callback), {
      pkceCodeVerifier: flow.verifier,
      expectedState: flow.state,
    })
    const first = tokens.refresh_token
    t.ok(first, 'a refresh token for offline_access')
    const second = await oidc.refreshTokenGrant(config, first as string)
    t.ok(second.refresh_token)
    t.not(second.refresh_token, first, 'a new refresh token at each use')
    const third = await oidc.refreshTokenGrant(config, second.refresh_token as string)
    t.not(third.refresh_token, second.refresh_token)
    // After the grace window for lost responses (src/idp/oidc/adapter.ts): the rotations happened a minute ago.
    await db.db
      .updateTable('oidc_payloads')
      .set({ consumed_at: sql<Date>`consumed_at - interval '60 seconds'` })
      .where('model', '=', 'RefreshToken')
      .where('consumed_at', 'is not', null)
      .execute()
    const replay = await oidc.refreshTokenGrant(config, first as string).then(
      () => 'accepted',
      (err: { error?: string }) => err.error,
    )
    t.equal(replay, 'invalid_grant', 'a used refresh token is refused')
    const after = await oidc.refreshTokenGrant(config, third.refresh_token as string).then(
      () => 'accepted',
      (err: { error?: string }) => err.error,
    )
    t.equal(after, 'invalid_grant', 'and the replay revoked the whole grant, the newest token too')
  })
})

t.test('a DPoP-bound native client gets tokens only with a proof of its key', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db)
    const redirectUri = `${scheme}:/oauth2redirect`
    const app = await registerClient(db, { ...nativeInput([redirectUri]), firstParty: false, dpopBound: true })
    const config = await nativeConfig(issuer, app.clientId)
    const browser = new Browser()
    const without = await appSignIn(config, issuer, redirectUri, browser, {
      scope: 'openid offline_access',
      prompt: 'consent',
    })
    const refused = await oidc
      .authorizationCodeGrant(config, new URL(without.callback), {
        pkceCodeVerifier: without.verifier,
        expectedState: without.state,
      })
      .then(
        () => 'accepted',
        (err: { error?: string }) => err.error,
      )
    t.equal(refused, 'invalid_grant', 'no DPoP proof, no token (oidc-provider: "DPoP proof JWT not provided")')
    const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'))
    const flow = await appSignIn(config, issuer, redirectUri, browser, {
      scope: 'openid offline_access',
      prompt: 'consent',
    })
    const tokens = await oidc.authorizationCodeGrant(
      config,
      new URL(flow.callback),
      { pkceCodeVerifier: flow.verifier, expectedState: flow.state },
      undefined,
      { DPoP: dpop },
    )
    t.equal(tokens.token_type.toLowerCase(), 'dpop', 'a DPoP-bound access token')
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string, undefined, { DPoP: dpop })
    t.equal(refreshed.token_type.toLowerCase(), 'dpop')
    const otherKey = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'))
    const stolen = await oidc
      .refreshTokenGrant(config, refreshed.refresh_token as string, undefined, { DPoP: otherKey })
      .then(
        () => 'accepted',
        (err: { error?: string }) => err.error,
      )
    t.equal(stolen, 'invalid_grant', "a refresh token is useless with another device's key")
  })
})

const userAgents = {
  androidWebView:
    'Mozilla/5.0 (Linux; Android 13; SM-A135F Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36',
  iosWebView:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  facebook:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/21C62 [FBAN/FBIOS;FBAV/447.0.0.34.106;FBBV/557000000]',
  instagram:
    'Mozilla/5.0 (Linux; Android 12; RMX3195 Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.193 Mobile Safari/537.36 Instagram 309.1.0.41.113 Android',
  androidChrome:
    'Mozilla/5.0 (Linux; Android 13; SM-A135F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Mobile Safari/537.36',
  iosSafari:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  iosChrome:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1',
  desktopFirefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
}

t.test('known embedded web views are told apart from browsers', async (t) => {
  t.equal(embeddedBrowserOf(userAgents.androidWebView), 'Android WebView')
  t.equal(embeddedBrowserOf(userAgents.iosWebView), 'iOS WebView')
  t.equal(embeddedBrowserOf(userAgents.facebook), 'Facebook')
  t.ok(embeddedBrowserOf(userAgents.instagram))
  for (const ua of [
    userAgents.androidChrome,
    userAgents.iosSafari,
    userAgents.iosChrome,
    userAgents.desktopFirefox,
    undefined,
    '',
  ]) {
    t.equal(embeddedBrowserOf(ua), undefined, `a browser: ${String(ua).slice(0, 50)}`)
  }
})

t.test('the sign-in page tells a citizen in an embedded web view to use the browser', async (t) => {
  await eachDatabase(t, async (t, db: TestDatabase) => {
    const { issuer } = await startIdp(t, db)
    const app = await registerClient(db, { ...nativeInput([`${scheme}:/oauth2redirect`]), firstParty: false })
    const config = await nativeConfig(issuer, app.clientId)
    const loginPage = async (ua: string, lang = 'id') => {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: `${scheme}:/oauth2redirect`,
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      })
      const browser = new Browser()
      const step = await browser.follow(url.href, issuer)
      const res = await browser.request(step.url, { headers: { 'user-agent': ua, 'accept-language': lang } })
      t.equal(res.status, 200)
      return res.text()
    }
    const inWebView = await loginPage(userAgents.androidWebView)
    t.match(inWebView, /terbuka di dalam aplikasi \(Android WebView\), bukan di browser/)
    t.match(inWebView, /buka halaman ini di browser ponsel Anda/)
    t.match(inWebView, /autocomplete="current-password"/, 'the form is still there: the notice does not block anyone')
    t.match(await loginPage(userAgents.iosWebView, 'en'), /open inside an app \(iOS WebView\), not in a browser/)
    t.notMatch(await loginPage(userAgents.androidChrome), /di dalam aplikasi/, 'no notice in a browser')
    t.notMatch(
      await loginPage(userAgents.iosSafari),
      /di dalam aplikasi/,
      'no notice in Safari (nor in ASWebAuthenticationSession)',
    )
  })
})
