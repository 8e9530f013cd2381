/**
 * Signing in at a self-service kiosk with the phone (issue 16): the device grant (RFC 8628)
 * over HTTP against a running idp, on both databases. The kiosk authenticates with its
 * private key (private_key_jwt) and binds its tokens to a DPoP key; the citizen's phone
 * types (or follows) the code, sees the kiosk as registered, with Batal first, and signs
 * in if it has no session. Polling: authorization_pending, slow_down, then the tokens;
 * a code is good once, and not after it expired; Batal gives access_denied; a disabled
 * kiosk gets nothing.
 */
import { randomUUID } from 'node:crypto'
import {
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose'
import t, { type Test } from 'tap'
import { addKiosk, disableKiosk, type AddedKiosk } from '../../src/idp/oidc/kiosks.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { codeAt, enrolTotp } from '../helpers/totp.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import {
  Browser,
  csrfFrom,
  formAction,
  registerClient,
  startIdp,
  testGatewayResource,
  type RunningIdp,
} from '../helpers/idp.ts'

interface Kiosk {
  added: AddedKiosk
  signingKey: CryptoKey
  dpop: { privateKey: CryptoKey; jwk: JWK; thumbprint: string }
}

async function registerKiosk(db: TestDatabase, name = 'Kiosk Lantai 1'): Promise<Kiosk> {
  const added = await addKiosk(
    db.db,
    { name, location: 'MPP Kabupaten Sukamaju, lantai 1' },
    { gatewayResource: testGatewayResource, policy: { allowLoopbackHttp: true } },
  )
  const signingKey = (await importJWK(added.key.privateJwk, 'ES256')) as CryptoKey
  const pair = await generateKeyPair('ES256')
  const jwk = await exportJWK(pair.publicKey)
  return {
    added,
    signingKey,
    dpop: { privateKey: pair.privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk) },
  }
}

/** A client assertion (RFC 7523 §3) signed with the kiosk's key, for `audience`. */
async function assertion(kiosk: Kiosk, audience: string): Promise<string> {
  const clientId = kiosk.added.kiosk.client_id
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: kiosk.added.key.privateJwk.kid as string })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(kiosk.signingKey)
}

async function dpopProof(kiosk: Kiosk, htu: string): Promise<string> {
  return new SignJWT({ htm: 'POST', htu })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: kiosk.dpop.jwk })
    .setJti(randomUUID())
    .setIssuedAt()
    .sign(kiosk.dpop.privateKey)
}

async function post(url: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form).toString(),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

interface DeviceAuthorization {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete: string
  expires_in: number
}

async function deviceAuthorization(
  idp: RunningIdp,
  kiosk: Kiosk,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return post(`${idp.issuer}/device/auth`, {
    client_id: kiosk.added.kiosk.client_id,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion(kiosk, idp.issuer),
    scope: 'openid profile',
    ...extra,
  })
}

async function poll(idp: RunningIdp, kiosk: Kiosk, deviceCode: string, db?: TestDatabase) {
  // The kiosk waits its interval between polls: here the last poll is moved back instead.
  if (db)
    await db.db
      .updateTable('device_code_polls')
      .set({ polled_at: new Date(Date.now() - 60_000) })
      .execute()
  const tokenUrl = `${idp.issuer}/token`
  return post(
    tokenUrl,
    {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: deviceCode,
      client_id: kiosk.added.kiosk.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(kiosk, idp.issuer),
    },
    { dpop: await dpopProof(kiosk, tokenUrl) },
  )
}

/** The phone opens the kiosk's QR link and answers the page it is shown. */
async function phoneOpens(phone: Browser, idp: RunningIdp, da: DeviceAuthorization) {
  const res = await phone.request(da.verification_uri_complete)
  const html = await res.text()
  return { res, html }
}

async function phoneSends(phone: Browser, idp: RunningIdp, html: string, form: Record<string, string>) {
  const action = new URL(formAction(html, '/device'), idp.issuer).toString()
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? ''
  const res = await phone.request(action, { form: { xsrf, ...form } })
  return { res, html: res.status === 200 || res.status >= 400 ? await res.text() : '' }
}

/** From the confirmation page: Ya (or Batal); then the sign-in when the phone has no session. */
async function phoneAnswers(
  t: Test,
  phone: Browser,
  idp: RunningIdp,
  confirmHtml: string,
  answer: 'confirm' | 'abort',
  secondFactor?: () => string,
): Promise<string> {
  const userCode = /name="user_code" value="([^"]+)"/.exec(confirmHtml)?.[1] ?? ''
  const sent = await phoneSends(phone, idp, confirmHtml, { user_code: userCode, [answer]: 'yes' })
  if (answer === 'abort' || sent.res.status === 200) return sent.html
  let step = await phone.follow(new URL(sent.res.headers.get('location') ?? '', idp.issuer).toString(), idp.issuer)
  let html = await step.res.text()
  if (html.includes('/login"')) {
    const res = await phone.request(new URL(formAction(html, '/login'), idp.issuer).toString(), {
      form: { _csrf: csrfFrom(html), username: budi.nik, password: budi.password },
    })
    t.equal(res.status, 303, 'the sign-in on the phone')
    step = await phone.follow(new URL(res.headers.get('location') ?? '', idp.issuer).toString(), idp.issuer)
    html = await step.res.text()
  }
  if (html.includes('/kode"') && secondFactor !== undefined) {
    const res = await phone.request(new URL(formAction(html, '/kode'), idp.issuer).toString(), {
      form: { _csrf: csrfFrom(html), code: secondFactor() },
    })
    t.equal(res.status, 303, 'the second factor on the phone')
    step = await phone.follow(new URL(res.headers.get('location') ?? '', idp.issuer).toString(), idp.issuer)
    html = await step.res.text()
  }
  return html
}

t.test('a citizen signs in at a kiosk with the phone', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const citizen = await addCitizen(db.db)
    const idp = await startIdp(t, db)
    const kiosk = await registerKiosk(db)
    // What the phone shows comes from the kiosks table: the client's own name is not it.
    await db.db
      .updateTable('oidc_clients')
      .set({
        metadata: JSON.stringify({
          ...(
            await db.db
              .selectFrom('oidc_clients')
              .select('metadata')
              .where('client_id', '=', kiosk.added.kiosk.client_id)
              .executeTakeFirstOrThrow()
          ).metadata,
          client_name: 'Kiosk Palsu',
        }),
      })
      .where('client_id', '=', kiosk.added.kiosk.client_id)
      .execute()

    const started = await deviceAuthorization(idp, kiosk, { client_name: 'Kiosk Palsu', location: 'Tempat Lain' })
    t.equal(started.status, 200, JSON.stringify(started.body))
    const da = started.body as unknown as DeviceAuthorization
    t.ok(da.expires_in <= 120 && da.expires_in > 100, `the code lives at most 2 minutes (${da.expires_in} s)`)
    t.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    t.equal(da.verification_uri, `${idp.issuer}/device`)

    const pending = await poll(idp, kiosk, da.device_code)
    t.equal(pending.status, 400)
    t.equal(pending.body.error, 'authorization_pending')
    const tooSoon = await poll(idp, kiosk, da.device_code)
    t.equal(tooSoon.body.error, 'slow_down', 'a poll sooner than the interval is told to slow down')
    const stillTooSoon = await poll(idp, kiosk, da.device_code)
    t.equal(stillTooSoon.body.error, 'slow_down')
    const after = await poll(idp, kiosk, da.device_code, db)
    t.equal(after.body.error, 'authorization_pending', 'after waiting the interval: pending again')

    const phone = new Browser()
    const opened = await phoneOpens(phone, idp, da)
    t.equal(opened.res.status, 200, `${opened.res.headers.get('location')} ${opened.html.slice(0, 300)}`)
    t.match(opened.html, 'Masukkan kode yang tampil di layar kiosk')
    t.match(opened.html, `value="${da.user_code}"`, 'the code from the QR link is filled in')
    t.notMatch(opened.html, /<script/, 'no script: the citizen sends the code')
    t.match(opened.res.headers.get('cache-control') ?? '', /no-store/)
    t.match(opened.html, 'lang="id"')

    const confirm = await phoneSends(phone, idp, opened.html, { user_code: da.user_code.toLowerCase() })
    t.equal(confirm.res.status, 200)
    t.match(confirm.html, /Masuk ke <strong>Kiosk Lantai 1<\/strong>, MPP Kabupaten Sukamaju, lantai 1\?/)
    t.notMatch(confirm.html, 'Kiosk Palsu', 'never the name the kiosk or its client claims')
    t.notMatch(confirm.html, 'Tempat Lain')
    t.match(confirm.html, da.user_code, 'the code to compare with the screen')
    t.match(confirm.html, /Nama/, 'what the kiosk asks for')
    const batal = confirm.html.indexOf('name="abort"')
    const ya = confirm.html.indexOf('name="confirm"')
    t.ok(batal > 0 && batal < ya, 'Batal comes first')
    t.notMatch(confirm.html, /<script/)

    const done = await phoneAnswers(t, phone, idp, confirm.html, 'confirm')
    t.match(done, 'Kiosk sudah masuk')
    t.match(done, 'Kiosk Lantai 1')

    const tokens = await poll(idp, kiosk, da.device_code, db)
    t.equal(tokens.status, 200, JSON.stringify(tokens.body))
    t.comment(JSON.stringify(tokens.body))
    t.equal(tokens.body.token_type, 'DPoP')
    t.notOk('refresh_token' in tokens.body, 'no refresh token for a kiosk')
    t.ok((tokens.body.expires_in as number) <= 600, 'the access token lives 10 minutes at most')
    const at = decodeJwt(tokens.body.access_token as string)
    t.equal(at.sub, citizen.id)
    t.equal(at.aud, testGatewayResource)
    t.equal(at.channel, 'kiosk')
    t.equal(at.kiosk_id, kiosk.added.kiosk.id)
    t.same(at.cnf, { jkt: kiosk.dpop.thumbprint }, 'bound to the kiosk’s DPoP key')
    t.ok((at.exp as number) - (at.iat as number) <= 600)
    t.equal(at.acr, 'urn:satupintu:acr:pwd')
    t.type(at.sp_sh, 'string', 'names its session, so that its end reaches the gateways')

    const audit = await db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('event', '=', 'token.issued')
      .where('client_id', '=', kiosk.added.kiosk.client_id)
      .executeTakeFirstOrThrow()
    t.equal(audit.subject_id, citizen.id)
    t.match(audit.data, { channel: 'kiosk', kiosk_id: kiosk.added.kiosk.id })

    const again = await poll(idp, kiosk, da.device_code, db)
    t.equal(again.status, 400)
    t.equal(again.body.error, 'invalid_grant', 'the device code is good once')
    const reused = await phoneSends(phone, idp, opened.html.replace(/value="[^"]*" (?=type|autocomplete)/, ''), {
      user_code: da.user_code,
    })
    t.match(reused.html, /sudah dipakai|tidak dapat diproses/, 'the user code is good once on the phone too')

    // Disabling the kiosk: its client is gone, and the tokens it holds are refused at the gateways.
    const disabled = await disableKiosk(db.db, kiosk.added.kiosk.id)
    t.equal(disabled?.revokedSessions, 1, 'the session its tokens came from is written for the gateways')
    const refused = await deviceAuthorization(idp, kiosk)
    t.equal(refused.status, 401)
    t.equal(refused.body.error, 'invalid_client', 'a disabled kiosk cannot start a sign-in')
    const revoked = await db.db.selectFrom('revoked_sessions').select('session_hash').execute()
    t.same(
      revoked.map((r) => r.session_hash),
      [at.sp_sh],
    )
  })
})

t.test('Batal on the phone gives access_denied at the kiosk; a signed-in phone is not asked to sign in', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await addCitizen(db.db)
    const idp = await startIdp(t, db)
    const kiosk = await registerKiosk(db)
    const phone = new Browser()

    // Declined.
    const first = (await deviceAuthorization(idp, kiosk)).body as unknown as DeviceAuthorization
    const opened = await phoneOpens(phone, idp, first)
    const confirm = await phoneSends(phone, idp, opened.html, { user_code: first.user_code })
    const declined = await phoneAnswers(t, phone, idp, confirm.html, 'abort')
    t.match(declined, 'Anda membatalkan')
    const denied = await poll(idp, kiosk, first.device_code)
    t.equal(denied.body.error, 'access_denied')

    // Approved with the sign-in, then a second kiosk code on the same phone: no sign-in again.
    const second = (await deviceAuthorization(idp, kiosk)).body as unknown as DeviceAuthorization
    const c2 = await phoneSends(phone, idp, (await phoneOpens(phone, idp, second)).html, {
      user_code: second.user_code,
    })
    t.match(await phoneAnswers(t, phone, idp, c2.html, 'confirm'), 'Kiosk sudah masuk')
    t.equal((await poll(idp, kiosk, second.device_code)).status, 200)

    const third = (await deviceAuthorization(idp, kiosk)).body as unknown as DeviceAuthorization
    const c3 = await phoneSends(phone, idp, (await phoneOpens(phone, idp, third)).html, { user_code: third.user_code })
    const sent = await phoneSends(phone, idp, c3.html, { user_code: third.user_code, confirm: 'yes' })
    t.equal(sent.res.status, 200, 'the signed-in phone goes straight to the end')
    t.match(sent.html, 'Kiosk sudah masuk')
    t.equal((await poll(idp, kiosk, third.device_code)).status, 200)
  })
})

t.test('expired and unknown codes are refused; only kiosks have the device grant', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await addCitizen(db.db)
    const idp = await startIdp(t, db)
    const kiosk = await registerKiosk(db)
    const da = (await deviceAuthorization(idp, kiosk)).body as unknown as DeviceAuthorization
    // Two minutes later.
    const past = Math.floor(Date.now() / 1000) - 1
    const row = await db.db
      .selectFrom('oidc_payloads')
      .select('payload')
      .where('model', '=', 'DeviceCode')
      .executeTakeFirstOrThrow()
    await db.db
      .updateTable('oidc_payloads')
      .set({ payload: JSON.stringify({ ...row.payload, exp: past }), expires_at: new Date(past * 1000) })
      .where('model', '=', 'DeviceCode')
      .execute()
    const phone = new Browser()
    const opened = await phoneOpens(phone, idp, da)
    const expired = await phoneSends(phone, idp, opened.html, { user_code: da.user_code })
    t.match(expired.html, 'tidak dikenal atau sudah kedaluwarsa')
    t.notMatch(expired.html, 'Masuk ke <strong>')
    const polled = await poll(idp, kiosk, da.device_code)
    t.equal(polled.status, 400)
    t.equal(polled.body.error, 'invalid_grant', 'an expired code gives the kiosk nothing')

    const unknown = await phoneSends(phone, idp, expired.html, { user_code: 'BCDF-GHJK' })
    t.match(unknown.html, 'Kode ini tidak dikenal')
    t.match(unknown.html, 'aria-invalid="true"')

    // An ordinary client cannot start a device sign-in, even with the right secret.
    const client = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'] })
    const other = await post(
      `${idp.issuer}/device/auth`,
      { client_id: client.clientId, scope: 'openid' },
      { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}` },
    )
    t.equal(other.status, 400, JSON.stringify(other.body))
    t.equal(other.body.error, 'invalid_request')
    t.equal(other.body.error_description, 'urn:ietf:params:oauth:grant-type:device_code is not allowed for this client')

    // Without a DPoP proof a kiosk gets no token, and without its key no code.
    const live = (await deviceAuthorization(idp, kiosk)).body as unknown as DeviceAuthorization
    const noDpop = await post(`${idp.issuer}/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: live.device_code,
      client_id: kiosk.added.kiosk.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(kiosk, idp.issuer),
    })
    t.equal(noDpop.status, 400)
    t.equal(
      noDpop.body.error,
      'invalid_grant',
      'no DPoP proof, no token (oidc-provider: "DPoP proof JWT not provided")',
    )
    await db.db
      .updateTable('device_code_polls')
      .set({ polled_at: new Date(Date.now() - 60_000) })
      .execute()
    t.equal(
      (await poll(idp, kiosk, live.device_code)).body.error,
      'authorization_pending',
      'with the proof: still waiting',
    )
    const stranger = await registerKiosk(db, 'Kiosk Lain')
    const forged = await post(`${idp.issuer}/device/auth`, {
      client_id: kiosk.added.kiosk.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(
        { ...stranger, added: { ...stranger.added, kiosk: kiosk.added.kiosk } },
        idp.issuer,
      ),
      scope: 'openid',
    })
    t.equal(forged.status, 401, "another kiosk's key does not speak for this one")
    t.equal(forged.body.error, 'invalid_client')
  })
})

t.test('a kiosk that asks for two-step sign-in gets it, or nothing', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const citizen = await addCitizen(db.db)
    await addCitizen(db.db, siti)
    const secret = await enrolTotp(db, citizen.id)
    const idp = await startIdp(t, db)
    const kiosk = await registerKiosk(db)
    const mfa = { acr_values: 'urn:satupintu:acr:mfa' }

    const da = (await deviceAuthorization(idp, kiosk, mfa)).body as unknown as DeviceAuthorization
    const phone = new Browser()
    const confirm = await phoneSends(phone, idp, (await phoneOpens(phone, idp, da)).html, { user_code: da.user_code })
    const done = await phoneAnswers(t, phone, idp, confirm.html, 'confirm', () => codeAt(secret, Date.now()))
    t.match(done, 'Kiosk sudah masuk')
    const tokens = await poll(idp, kiosk, da.device_code)
    t.equal(tokens.status, 200, JSON.stringify(tokens.body))
    t.equal(decodeJwt(tokens.body.access_token as string).acr, 'urn:satupintu:acr:mfa', 'the level asked for')

    // Siti has no second factor: her phone tells her how to turn one on, and the kiosk gets no token.
    const other = (await deviceAuthorization(idp, kiosk, mfa)).body as unknown as DeviceAuthorization
    const sitisPhone = new Browser()
    const c2 = await phoneSends(sitisPhone, idp, (await phoneOpens(sitisPhone, idp, other)).html, {
      user_code: other.user_code,
    })
    const sent = await phoneSends(sitisPhone, idp, c2.html, { user_code: other.user_code, confirm: 'yes' })
    const login = await sitisPhone.follow(
      new URL(sent.res.headers.get('location') ?? '', idp.issuer).toString(),
      idp.issuer,
    )
    const loginHtml = await login.res.text()
    const answer = await sitisPhone.request(new URL(formAction(loginHtml, '/login'), idp.issuer).toString(), {
      form: { _csrf: csrfFrom(loginHtml), username: siti.nik, password: siti.password },
    })
    t.not(answer.status, 303, 'the password alone does not finish the sign-in')
    t.notMatch(await answer.text(), 'Kiosk sudah masuk')
    const polled = await poll(idp, kiosk, other.device_code)
    t.equal(polled.body.error, 'authorization_pending', 'the kiosk has nothing')
  })
})

t.test('wrong codes on the phone are counted per address: after 30 in an hour, no more tries', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    const kiosk = await registerKiosk(db)
    const da = (await deviceAuthorization(idp, kiosk)).body as unknown as DeviceAuthorization
    const phone = new Browser()
    let html = (await phoneOpens(phone, idp, da)).html
    for (let i = 0; i < 30; i++) {
      const wrong = await phoneSends(phone, idp, html, { user_code: 'BCDF-GHJK' })
      t.equal(wrong.res.status, 200)
      html = wrong.html
    }
    t.match(html, 'Kode ini tidak dikenal')
    const stopped = await phoneSends(phone, idp, html, { user_code: da.user_code })
    t.equal(stopped.res.status, 429, 'even the right code waits now')
    t.match(stopped.res.headers.get('retry-after') ?? '', /^\d+$/)
    t.notMatch(stopped.html, 'Masuk ke <strong>')
    // The same post where oidc-provider's router also answers (one trailing slash, any case).
    for (const path of ['/device/', '/DEVICE', '/Device/']) {
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? ''
      const round = await phone.request(`${idp.issuer}${path}`, { form: { xsrf, user_code: da.user_code } })
      const body = await round.text()
      t.not(round.status, 200, `${path}: no way round the bar (${round.status})`)
      t.notMatch(body, 'Masuk ke <strong>', `${path}: the code is not looked up`)
    }
    const other = new Browser()
    t.equal((await other.request(`${idp.issuer}/device`)).status, 200, 'the page itself still opens')
  })
})

t.test('a client that is not a kiosk cannot hold the device grant, however it was written', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    // As a clients file or a hand-edited row could store it: the device grant, no kiosk id.
    const client = await registerClient(db, {
      redirectUris: [],
      grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      scopes: ['openid', 'profile', 'offline_access'],
      firstParty: true,
    })
    const res = await fetch(`${idp.issuer}/device/auth`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ scope: 'openid profile' }).toString(),
    })
    const body = (await res.json()) as Record<string, unknown>
    t.not(res.status, 200, 'no device authorization')
    t.equal(body.device_code, undefined)
    t.equal(body.user_code, undefined)
  })
})
