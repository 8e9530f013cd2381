// Issue 20: the regency's own (first-party) clients are not asked for consent; agencies are.
// The grant is still made, saved and listed, and the NIK is still asked for.
import { sql } from 'kysely'
import * as oidc from 'openid-client'
import t from 'tap'
import { errors } from 'oidc-provider'
import { firstPartyKey } from '../../src/idp/oidc/clients.ts'
import { gatewayClientInput } from '../../src/idp/oidc/gateway-client.ts'
import { firstPartyMarkValidator, type KoaContextWithOIDC } from '../../src/idp/oidc/provider.ts'
import { addCitizen, budi, proveInPerson } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, startIdp, testGatewayResource } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }

/** Authorize → sign-in; the page after the sign-in (consent, or the way back to the client). */
async function afterSignIn(
  issuer: string,
  clientId: string,
  secret: string | undefined,
  params: Record<string, string>,
) {
  const config = await oidc.discovery(new URL(issuer), clientId, secret, undefined, insecure)
  const verifier = oidc.randomPKCECodeVerifier()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  })
  const browser = new Browser()
  const login = await (await browser.follow(url.href, issuer)).res.text()
  const posted = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
  })
  const step = await browser.follow(new URL(posted.headers.get('location') ?? '', issuer).toString(), issuer)
  const html = step.url.startsWith(issuer) ? await step.res.text() : ''
  return { config, verifier, browser, landed: step.url, html }
}

async function grantOf(db: TestDatabase, accountId: string, clientId: string) {
  const r = await sql<{
    payload: { openid?: { scope?: string }; resources?: Record<string, string> }
  }>`select payload from oidc_payloads
    where model = 'Grant' and account_id = ${accountId} and payload->>'clientId' = ${clientId}`.execute(db.db)
  return r.rows.map((x) => x.payload)
}

t.test(
  'a first-party client is not asked for consent; the grant is saved, audited and listed in Akun Saya',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      const client = await registerClient(db, {
        redirectUris: [redirectUri],
        name: 'Portal Kabupaten',
        firstParty: true,
      })
      const flow = await afterSignIn(issuer, client.clientId, client.secret, {
        scope: 'openid profile email',
        resource: testGatewayResource,
      })
      t.equal(flow.html, '', 'no page between the sign-in and the client')
      t.ok(flow.landed.startsWith(`${redirectUri}?`), `straight back to the client (${flow.landed.slice(0, 50)})`)
      const tokens = await oidc.authorizationCodeGrant(
        flow.config,
        new URL(flow.landed),
        { pkceCodeVerifier: flow.verifier, idTokenExpected: true },
        { resource: testGatewayResource },
      )
      t.ok(tokens.access_token, 'tokens for the gateway resource')

      const grants = await grantOf(db, citizen.id, client.clientId)
      t.equal(grants.length, 1, 'one grant recorded')
      t.same(
        new Set(grants[0]?.openid?.scope?.split(' ')),
        new Set(['openid', 'profile', 'email']),
        'with the scopes asked for',
      )
      t.same(
        new Set(grants[0]?.resources?.[testGatewayResource]?.split(' ')),
        new Set(['openid', 'profile', 'email']),
        'and the resource scopes asked for',
      )

      const audit = await db.db
        .selectFrom('audit_events')
        .select(['event', 'client_id', 'data'])
        .where('subject_id', '=', citizen.id)
        .where('event', '=', 'consent.granted')
        .execute()
      t.equal(audit.length, 1, 'the consent is audited')
      t.equal(audit[0]?.client_id, client.clientId)
      t.match(audit[0]?.data, { firstParty: true }, 'as given to a first-party client')

      const listed = await (await flow.browser.request(`${issuer}/akun/instansi`)).text()
      t.match(listed, /Portal Kabupaten/, 'Akun Saya lists it, so the citizen can withdraw it')

      // A second sign-in in a new browser: the same grant, no second audit row.
      const again = await afterSignIn(issuer, client.clientId, client.secret, { scope: 'openid profile' })
      t.ok(again.landed.startsWith(`${redirectUri}?`), 'again no consent page')
      t.equal((await grantOf(db, citizen.id, client.clientId)).length, 1, 'still one grant')
      const audit2 = await db.db
        .selectFrom('audit_events')
        .select('id')
        .where('subject_id', '=', citizen.id)
        .where('event', '=', 'consent.granted')
        .execute()
      t.equal(audit2.length, 1, 'nothing new was granted, nothing new audited')
    })
  },
)

t.test('an agency (not first-party) is still asked', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const client = await registerClient(db, { redirectUris: [redirectUri], name: 'Dinas Perizinan', firstParty: false })
    const flow = await afterSignIn(issuer, client.clientId, client.secret, { scope: 'openid profile email' })
    t.ok(flow.landed.startsWith(issuer), 'still on the idp')
    t.match(flow.html, /Izinkan akses/, 'the consent page')
    t.match(flow.html, /Dinas Perizinan/)
    t.match(flow.html, /Alamat email/)
    t.equal((await grantOf(db, citizen.id, client.clientId)).length, 0, 'nothing granted before the citizen answers')
  })
})

t.test('a first-party client asking for the NIK is asked for the NIK alone', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    // Only a NIK proven at the counter is released (issue 14).
    await proveInPerson(db.db, (await addCitizen(db.db)).id)
    const client = await registerClient(db, { redirectUris: [redirectUri], firstParty: true })
    const flow = await afterSignIn(issuer, client.clientId, client.secret, { scope: 'openid profile nik' })
    t.match(flow.html, /Izinkan akses/, 'the consent page')
    t.match(flow.html, /NIK \(Nomor Induk Kependudukan\)/, 'for the NIK')
    t.notMatch(flow.html, /Nama lengkap/, 'not for what a first-party client gets without asking')
    const res = await flow.browser.request(new URL(formAction(flow.html, '/consent'), issuer).toString(), {
      form: { _csrf: csrfFrom(flow.html), decision: 'allow' },
    })
    t.equal(res.status, 303)
    const back = await flow.browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
    t.ok(back.url.startsWith(`${redirectUri}?`), 'then back to the client')
    const tokens = await oidc.authorizationCodeGrant(flow.config, new URL(back.url), {
      pkceCodeVerifier: flow.verifier,
      idTokenExpected: true,
    })
    const info = await oidc.fetchUserInfo(flow.config, tokens.access_token, tokens.claims()?.sub as string)
    t.equal(info.nik, budi.nik, 'the NIK, once allowed')
    t.equal(info.name, budi.name, 'and the name')
  })
})

t.test("the gateway's own client is registered first-party", async (t) => {
  const { testConfig } = await import('../helpers/config.ts')
  t.equal(gatewayClientInput(testConfig()).firstParty, true)
})

t.test('a client describing itself (dynamic registration) cannot call itself first-party', async (t) => {
  const request = {} as KoaContextWithOIDC
  t.throws(
    () => firstPartyMarkValidator(request, firstPartyKey, true),
    errors.InvalidClientMetadata,
    'refused in a registration request',
  )
  t.throws(
    () => firstPartyMarkValidator(undefined, firstPartyKey, 'yes'),
    errors.InvalidClientMetadata,
    'only a boolean',
  )
  t.doesNotThrow(
    () => firstPartyMarkValidator(undefined, firstPartyKey, true),
    "an operator's client, loaded from the table",
  )
  t.doesNotThrow(() => firstPartyMarkValidator(request, firstPartyKey, false), 'not first-party is always fine')
  t.doesNotThrow(
    () => firstPartyMarkValidator(request, 'urn:satupintu:agency', 'dinas-uji'),
    'other keys are not its business',
  )
})
