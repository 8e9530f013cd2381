import * as oidc from 'openid-client'
import t from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, registerClient, signIn, startIdp } from '../helpers/idp.ts'
import { backchannelReceiver } from '../helpers/stack.ts'

t.test('"sign out everywhere" on the account page tells every relying party (back-channel logout)', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { port, received } = await backchannelReceiver(t)
    const { issuer } = await startIdp(t, db, { idp: { backchannelLogoutHosts: ['127.0.0.1'] } })
    await addCitizen(db.db)
    const client = await registerClient(db, {
      redirectUris: ['http://127.0.0.1:9/cb'],
      backchannelLogoutUri: `http://127.0.0.1:${port}/bcl`,
    })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, {
      execute: [oidc.allowInsecureRequests],
    })
    const browser = new Browser()
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:9/cb',
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: oidc.randomState(),
    })
    await signIn(browser, url.href, issuer, { username: budi.nik, password: budi.password })

    const page = await (await browser.follow(`${issuer}/akun/perangkat`, issuer)).res.text()
    const res = await browser.request(`${issuer}/akun/perangkat/keluar-semua`, { form: { _csrf: csrfFrom(page) } })
    t.equal(res.status, 303)
    t.equal(received.length, 1, 'the relying party was told')
    const sessions = await db.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Session').execute()
    t.equal(sessions.length, 0, 'and the sessions are gone')
  })
})
