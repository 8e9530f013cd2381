// A level's time runs from when the factors were checked, and every token made after it
// lapsed says so (issue 14): the refresh grant's ID token and access token, the rotated
// refresh token, and a chain left unused past the idle limit.
import * as oidc from 'openid-client'
import { decodeJwt } from 'jose'
import { sql } from 'kysely'
import { Secret, TOTP } from 'otpauth'
import t from 'tap'
import { markEmailVerified } from '../../src/accounts/citizens.ts'
import { confirmTotpEnrolment, pendingTotpEnrolment } from '../../src/accounts/second-factors.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import {
  Browser,
  csrfFrom,
  formAction,
  registerClient,
  signIn,
  startIdp,
  testGatewayResource,
  testKek,
} from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }
const keys = { sealer: testKek, recoveryKey: testKek.derive('recovery codes') }
const mfa = 'urn:satupintu:acr:mfa'
const pwd = 'urn:satupintu:acr:pwd'
const codeAt = (secret: string, at: number) =>
  new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({ timestamp: at })

async function enrolled(db: TestDatabase): Promise<string> {
  const citizen = await addCitizen(db.db)
  await markEmailVerified(db.db, citizen.id, budi.email)
  const enrolment = await pendingTotpEnrolment(db.db, keys, citizen.id, budi.name)
  if (!enrolment) throw new Error('no enrolment')
  const past = new Date(Date.now() - 120_000)
  const ok = await confirmTotpEnrolment(db.db, keys, citizen.id, codeAt(enrolment.secret, past.getTime()), {
    now: past,
  })
  if (!ok.ok) throw new Error('not confirmed')
  return enrolment.secret
}

async function refreshTokens(db: TestDatabase, set: string): Promise<void> {
  await sql`update oidc_payloads set payload = ${sql.raw(set)} where model = 'RefreshToken' and consumed_at is null`.execute(
    db.db,
  )
}

t.test(
  'a refresh after the level lapsed: the ID token, the access token and the next refresh token all fall back',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const secret = await enrolled(db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const verifier = oidc.randomPKCECodeVerifier()
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile offline_access',
        prompt: 'consent',
        acr_values: mfa,
        resource: testGatewayResource,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      })
      const cb = await signIn(new Browser(), url.href, issuer, {
        username: budi.nik,
        password: budi.password,
        secondFactor: () => codeAt(secret, Date.now()),
      })
      const tokens = await oidc.authorizationCodeGrant(config, new URL(cb), { pkceCodeVerifier: verifier })
      t.equal(tokens.claims()?.acr, mfa)
      const fresh = await oidc.refreshTokenGrant(config, tokens.refresh_token as string, {
        resource: testGatewayResource,
      })
      t.equal(fresh.claims()?.acr, mfa, 'a refresh within the limits keeps the level')
      t.equal(decodeJwt(fresh.access_token).acr, mfa)

      // Used a minute ago, but the sign-in was 13 hours ago (past signInLevels.mfaSeconds).
      await refreshTokens(db, `jsonb_set(payload, '{authTime}', to_jsonb((payload->>'authTime')::bigint - 46800))`)
      const aged = await oidc.refreshTokenGrant(config, fresh.refresh_token as string, {
        resource: testGatewayResource,
      })
      t.equal(aged.claims()?.acr, pwd, 'the ID token falls back')
      t.same(aged.claims()?.amr, ['pwd', 'otp'], 'amr still names the methods of the sign-in')
      t.equal(decodeJwt(aged.access_token).acr, pwd, 'the access token falls back')
      const next = await oidc.refreshTokenGrant(config, aged.refresh_token as string, { resource: testGatewayResource })
      t.equal(next.claims()?.acr, pwd, 'and stays fallen: the rotated refresh token carries the lower level')

      // Idle: another chain, signed in an hour ago, its refresh token issued 31 minutes ago.
      const v2 = oidc.randomPKCECodeVerifier()
      const url2 = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile offline_access',
        prompt: 'consent',
        acr_values: mfa,
        resource: testGatewayResource,
        code_challenge: await oidc.calculatePKCECodeChallenge(v2),
        code_challenge_method: 'S256',
      })
      const cb2 = await signIn(new Browser(), url2.href, issuer, {
        username: budi.nik,
        password: budi.password,
        secondFactor: () => codeAt(secret, Date.now() + 30_000),
      })
      const chain = await oidc.authorizationCodeGrant(config, new URL(cb2), { pkceCodeVerifier: v2 })
      t.equal(chain.claims()?.acr, mfa)
      await sql`update oidc_payloads set payload = jsonb_set(jsonb_set(payload, '{authTime}', to_jsonb(extract(epoch from now())::bigint - 3600)), '{iat}', to_jsonb(extract(epoch from now())::bigint - 1860))
      where model = 'RefreshToken' and consumed_at is null and payload->>'acr' = ${mfa}`.execute(db.db)
      const idle = await oidc.refreshTokenGrant(config, chain.refresh_token as string, {
        resource: testGatewayResource,
      })
      t.equal(idle.claims()?.acr, pwd, 'a chain unused past the idle limit falls back')
    })
  },
)

t.test('auth_time is when the factors were checked, not when the browser followed the redirect', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const secret = await enrolled(db)
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      acr_values: mfa,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    })
    const b = new Browser()
    const login = await (await b.follow(url.href, issuer)).res.text()
    const r1 = await b.request(new URL(formAction(login, '/login'), issuer).toString(), {
      form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
    })
    const codePage = await (
      await b.follow(new URL(r1.headers.get('location') ?? '', issuer).toString(), issuer)
    ).res.text()
    const r2 = await b.request(new URL(formAction(codePage, '/kode'), issuer).toString(), {
      form: { _csrf: csrfFrom(codePage), code: codeAt(secret, Date.now()) },
    })
    const acceptedAt = Math.floor(Date.now() / 1000)
    t.equal(r2.status, 303)
    await new Promise((r) => setTimeout(r, 3000)) // the browser holds the redirect
    const cb = await b.follow(new URL(r2.headers.get('location') ?? '', issuer).toString(), issuer)
    const tokens = await oidc.authorizationCodeGrant(config, new URL(cb.url), { pkceCodeVerifier: verifier })
    const authTime = Number(tokens.claims()?.auth_time)
    t.ok(authTime - acceptedAt <= 1, `auth_time ${authTime - acceptedAt} s after the code was accepted`)
  })
})
