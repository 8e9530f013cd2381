/**
 * "Akun Saya" over HTTP: who may see it, agencies' access and its withdrawal, devices,
 * the password, the activity record and the data download (UU PDP).
 */
import * as oidc from 'openid-client'
import t from 'tap'
import { authenticateCitizen } from '../../src/accounts/citizens.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, signIn, startIdp } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }

async function signInToAccount(browser: Browser, issuer: string, password = budi.password): Promise<Response> {
  const step = await browser.follow(`${issuer}/akun`, issuer)
  const login = await step.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: budi.nik, password },
  })
  return (await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)).res
}

async function sessionCount(db: TestDatabase, accountId: string): Promise<number> {
  const rows = await db.db
    .selectFrom('oidc_payloads')
    .select('id')
    .where('model', '=', 'Session')
    .where('account_id', '=', accountId)
    .execute()
  return rows.length
}

async function post(
  browser: Browser,
  issuer: string,
  pagePath: string,
  action: string,
  fields: Record<string, string> = {},
): Promise<Response> {
  const html = await (await browser.request(`${issuer}${pagePath}`)).text()
  return browser.request(new URL(formAction(html, action), issuer).toString(), {
    form: { _csrf: csrfFrom(html), ...fields },
  })
}

t.test('without a session the account pages send the browser to sign in as the account client', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()
    for (const path of ['/akun', '/akun/perangkat', '/akun/instansi', '/akun/aktivitas', '/akun/data', '/akun/sandi']) {
      const res = await browser.request(`${issuer}${path}`)
      t.equal(res.status, 303, path)
      const to = new URL(res.headers.get('location') ?? '')
      t.equal(`${to.origin}${to.pathname}`, `${issuer}/auth`)
      t.equal(to.searchParams.get('client_id'), 'satupintu-akun')
      t.equal(to.searchParams.get('state'), path)
      t.equal(to.searchParams.get('code_challenge_method'), 'S256')
    }
    const post = await browser.request(`${issuer}/akun/perangkat/keluar-semua`, { form: { _csrf: 'x' } })
    t.equal(post.status, 403, 'a form without a valid CSRF token is refused first')

    const back = await browser.request(`${issuer}/akun/kembali?code=abc&state=${encodeURIComponent('//evil.example/')}`)
    t.equal(back.status, 303)
    t.equal(back.headers.get('location'), '/akun', 'only a local return path')
    const cancelled = await browser.request(`${issuer}/akun/kembali?error=access_denied&state=%2Fakun%2Finstansi`)
    t.equal(cancelled.status, 200)
    const html = await cancelled.text()
    t.match(html, 'Anda belum masuk')
    t.match(html, 'Coba masuk lagi')
  })
})

t.test('a signed-in citizen sees the profile, with the NIK masked', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db, budi)
    const browser = new Browser()
    const res = await signInToAccount(browser, issuer)
    t.equal(res.status, 200)
    const html = await res.text()
    t.match(html, 'Halo, Budi Santoso.')
    t.match(html, '3201********0001')
    t.notMatch(html, budi.nik)
    t.match(html, '12 Januari 1990')
    t.match(html, 'Laki-laki')
    t.match(html, 'Belum diverifikasi')
    t.match(html, 'href="/session/end"', "sign out is the provider's own logout")
    const en = await (await browser.request(`${issuer}/akun?lang=en`)).text()
    t.match(en, 'Hello, Budi Santoso.')
    t.match(en, '12 January 1990')
  })
})

t.test('a mobile number is shown one way on every page: 0812-3456-7890, masked 0812-****-*890', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db, budi)
    const browser = new Browser()
    t.match(await (await signInToAccount(browser, issuer)).text(), '0812-3456-7890', 'Akun Saya')
    const form = await (await browser.request(`${issuer}/akun/kontak`)).text()
    t.match(form, 'value="0812-3456-7890"', 'the contact form')
    t.match(form, 'Contoh: 0812-3456-7890', 'its example')
    const res = await post(browser, issuer, '/akun/kontak', '/akun/kontak', {
      email: budi.email,
      phone: '0813 1111 2222',
    })
    t.equal(res.status, 303)
    const code = await (await browser.request(`${issuer}${res.headers.get('location') ?? ''}`)).text()
    t.match(code, '0813-****-*222', 'the code page')
    t.notMatch(code, '+62813', 'never E.164 on a page')
    const register = await (await browser.request(`${issuer}/daftar`)).text()
    t.match(register, 'Contoh: 0812-3456-7890', 'the registration example')
  })
})

t.test('changing the email sends a code to the new address, which verifies it', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    const browser = new Browser()
    await signInToAccount(browser, issuer)
    const taken = await post(browser, issuer, '/akun/kontak', '/akun/kontak', {
      email: 'bukan email',
      phone: budi.phone,
    })
    t.equal(taken.status, 400)
    t.match(await taken.text(), 'Alamat email tidak valid')
    const res = await post(browser, issuer, '/akun/kontak', '/akun/kontak', {
      email: 'budi.baru@contoh.id',
      phone: budi.phone,
    })
    t.equal(res.status, 303)
    t.equal(res.headers.get('location'), '/akun/verifikasi?jenis=email')
    const page = await (await browser.request(`${issuer}/akun/verifikasi?jenis=email`)).text()
    t.match(page, 'b***@contoh.id')
    const msg = await db.db
      .selectFrom('outbox')
      .select('body')
      .where('recipient', '=', 'budi.baru@contoh.id')
      .executeTakeFirstOrThrow()
    const code = /\b([0-9]{6})\b/.exec(msg.body)?.[1] ?? ''
    const ok = await browser.request(`${issuer}/akun/verifikasi?jenis=email`, { form: { _csrf: csrfFrom(page), code } })
    t.equal(ok.status, 303)
    t.equal(ok.headers.get('location'), '/akun?pesan=terverifikasi')
    const row = await db.db
      .selectFrom('citizens')
      .select(['email', 'email_verified'])
      .where('id', '=', citizen.id)
      .executeTakeFirstOrThrow()
    t.same(row, { email: 'budi.baru@contoh.id', email_verified: true })
    const noCode = (html: string) => /<p>(Belum menerima kode\?[^<]*)<\/p>/.exec(html)?.[1] ?? ''
    t.match(noCode(page), 'folder spam', 'the e-mail code page speaks of the spam folder')
    t.notMatch(noCode(page), /SMS|sinyal/)

    // A new phone number: the SMS wording, never the spam folder.
    const phone = await post(browser, issuer, '/akun/kontak', '/akun/kontak', {
      email: 'budi.baru@contoh.id',
      phone: '0813 5555 6666',
    })
    t.equal(phone.headers.get('location'), '/akun/verifikasi?jenis=hp')
    const smsPage = await (await browser.request(`${issuer}/akun/verifikasi?jenis=hp`)).text()
    t.match(noCode(smsPage), 'sinyal', 'the SMS code page says to wait and check the signal')
    t.notMatch(noCode(smsPage), /spam|email/i)
  })
})

t.test("withdrawing an agency's access makes its refresh token fail", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    const client = await registerClient(db, { name: 'Dinas Kependudukan Uji', redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const browser = new Browser()
    const verifier = oidc.randomPKCECodeVerifier()
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile nik offline_access',
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    })
    const callback = await signIn(browser, url.href, issuer, { username: budi.nik, password: budi.password })
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
      pkceCodeVerifier: verifier,
      idTokenExpected: true,
    })
    t.ok(tokens.refresh_token)
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string)
    t.ok(refreshed.access_token, 'the refresh token works before')

    // The same browser is signed in at the provider: Akun Saya opens without a new sign-in.
    const list = await browser.request(`${issuer}/akun/instansi`)
    t.equal(list.status, 200)
    const html = await list.text()
    t.match(html, 'Dinas Kependudukan Uji')
    t.match(html, 'NIK (Nomor Induk Kependudukan)', 'scopes in plain words')
    t.match(html, 'Nama lengkap, tanggal lahir, dan jenis kelamin')
    t.notMatch(html, 'Akun Saya — Satu Pintu', 'the account pages themselves are not listed')

    const revoke = await browser.request(`${issuer}/akun/instansi/cabut`, {
      form: { _csrf: csrfFrom(html), instansi: client.clientId },
    })
    t.equal(revoke.status, 303)
    const after = await (await browser.request(`${issuer}${revoke.headers.get('location') ?? ''}`)).text()
    t.match(after, 'Akses Dinas Kependudukan Uji sudah dicabut')
    t.match(after, 'Anda belum memberi izin kepada instansi mana pun')

    const refused = await oidc.refreshTokenGrant(config, refreshed.refresh_token as string).then(
      () => 'no error',
      (err: unknown) => String((err as { error?: unknown }).error),
    )
    t.equal(refused, 'invalid_grant', 'the refresh token is dead')
    const left = await db.db
      .selectFrom('oidc_payloads')
      .select('model')
      .where((eb) => eb(eb.ref('payload', '->>').key('clientId' as never), '=', client.clientId))
      .where('model', 'in', ['Grant', 'RefreshToken', 'AccessToken', 'AuthorizationCode'])
      .execute()
    t.same(left, [], 'neither the grant nor any token of it is left')
    const audit = await db.db
      .selectFrom('audit_events')
      .select(['client_id'])
      .where('subject_id', '=', citizen.id)
      .where('event', '=', 'consent.revoked')
      .execute()
    t.same(audit, [{ client_id: client.clientId }])

    // Another citizen's client id in the form changes nothing.
    const none = await browser.request(`${issuer}/akun/instansi/cabut`, {
      form: { _csrf: csrfFrom(html), instansi: 'dinas-lain-123' },
    })
    t.equal(none.status, 303)
  })
})

t.test('signing out everywhere ends every session and refresh token', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    const phone = new Browser()
    const laptop = new Browser()
    await signInToAccount(phone, issuer)
    await signInToAccount(laptop, issuer)
    t.equal(await sessionCount(db, citizen.id), 2)

    const page = await (await laptop.request(`${issuer}/akun/perangkat`)).text()
    t.equal(page.match(/<li class="session"/g)?.length, 2, 'two devices listed')
    t.equal(page.match(/aria-current="true">\s*<h2>Perangkat ini<\/h2>/g)?.length, 1, 'this device is marked, once')
    t.match(page, 'Akun Saya — Satu Pintu', 'what each session was used for')
    t.match(page, / WIB</, 'times in WIB')
    t.notMatch(page, /name="perangkat" value="[^"]{23,}"/, 'session ids never go into the page')

    const res = await laptop.request(`${issuer}/akun/perangkat/keluar-semua`, { form: { _csrf: csrfFrom(page) } })
    t.equal(res.status, 303)
    t.equal(res.headers.get('location'), '/akun/keluar-semua')
    t.match(
      await (await laptop.request(`${issuer}/akun/keluar-semua`)).text(),
      'Anda sudah keluar dari semua perangkat',
    )
    t.equal(await sessionCount(db, citizen.id), 0)
    for (const b of [phone, laptop]) t.equal((await b.request(`${issuer}/akun`)).status, 303, 'must sign in again')
    const audit = await db.db
      .selectFrom('audit_events')
      .select('data')
      .where('subject_id', '=', citizen.id)
      .where('event', '=', 'auth.logout')
      .execute()
    t.same(
      audit.map((a) => a.data),
      [{ scope: 'all_devices' }],
    )
  })
})

t.test('one other device can be signed out from the list', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    const phone = new Browser()
    const laptop = new Browser()
    await signInToAccount(phone, issuer)
    await signInToAccount(laptop, issuer)
    const page = await (await laptop.request(`${issuer}/akun/perangkat`)).text()
    const res = await laptop.request(`${issuer}/akun/perangkat/keluar`, {
      form: { _csrf: csrfFrom(page), perangkat: /name="perangkat" value="([^"]+)"/.exec(page)?.[1] ?? '' },
    })
    t.equal(res.status, 303)
    t.equal(await sessionCount(db, citizen.id), 1)
    t.equal((await laptop.request(`${issuer}/akun`)).status, 200, 'this device stays signed in')
    t.equal((await phone.request(`${issuer}/akun`)).status, 303, 'the other one is out')
  })
})

t.test('changing the password needs the current one and signs out the other devices', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    const phone = new Browser()
    const laptop = new Browser()
    await signInToAccount(phone, issuer)
    await signInToAccount(laptop, issuer)
    const next = 'jembatan kayu di atas sungai'

    const form = await (await laptop.request(`${issuer}/akun/sandi`)).text()
    t.match(form, /id="current"[^>]*autocomplete="current-password"/)
    const wrong = await laptop.request(`${issuer}/akun/sandi`, {
      form: { _csrf: csrfFrom(form), current: 'bukan kata sandinya', password: next, password2: next },
    })
    t.equal(wrong.status, 400)
    t.match(await wrong.text(), 'Kata sandi saat ini salah')
    const missing = await laptop.request(`${issuer}/akun/sandi`, {
      form: { _csrf: csrfFrom(form), current: '', password: next, password2: next },
    })
    t.equal(missing.status, 400)
    t.match(await missing.text(), 'Isi kata sandi Anda saat ini')
    t.equal((await authenticateCitizen(db.db, budi.nik, budi.password)).ok, true, 'unchanged so far')

    const weak = await laptop.request(`${issuer}/akun/sandi`, {
      form: { _csrf: csrfFrom(form), current: budi.password, password: 'budisantoso', password2: 'budisantoso' },
    })
    t.equal(weak.status, 400)
    t.match(await weak.text(), 'dibuat dari nama Anda')

    const ok = await laptop.request(`${issuer}/akun/sandi`, {
      form: { _csrf: csrfFrom(form), current: budi.password, password: next, password2: next },
    })
    t.equal(ok.status, 303)
    t.equal(ok.headers.get('location'), '/akun?pesan=sandi')
    t.match(await (await laptop.request(`${issuer}/akun?pesan=sandi`)).text(), 'Kata sandi Anda sudah diganti')
    t.equal((await authenticateCitizen(db.db, budi.nik, next)).ok, true)
    t.equal(await sessionCount(db, citizen.id), 1, 'only this device is still signed in')
    t.equal((await phone.request(`${issuer}/akun`)).status, 303)
  })
})

t.test('the activity record lists sign-ins in plain words with the time in WIB', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db, budi)
    const browser = new Browser()
    // A failed attempt first, then the real sign-in.
    const step = await browser.follow(`${issuer}/akun`, issuer)
    const login = await step.res.text()
    await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
      form: { _csrf: csrfFrom(login), username: budi.nik, password: 'salah sekali' },
    })
    await signInToAccount(browser, issuer)
    const html = await (await browser.request(`${issuer}/akun/aktivitas`)).text()
    t.match(html, 'Masuk ke akun')
    t.match(html, 'Percobaan masuk gagal')
    t.match(html, 'Akun dibuat')
    t.match(html, /<h2 class="day-heading">[A-Z][a-z]+, \d{1,2} [A-Z][a-z]+ \d{4}<\/h2>/, "under the day's heading")
    t.match(
      html,
      /Percobaan masuk gagal \(kata sandi salah\)<\/strong><br><span class="hint">\d{2}\.\d{2} WIB · oleh seseorang yang belum masuk/,
      'a failed attempt is not put on the citizen',
    )
    t.match(html, /Masuk ke akun<\/strong><br><span class="hint">\d{2}\.\d{2} WIB · oleh Anda · alamat IP 127\.0\.0\.1/)
  })
})

t.test('the data download holds the profile and the activity, never the password hash', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    const browser = new Browser()
    await signInToAccount(browser, issuer)
    const res = await post(browser, issuer, '/akun/data', '/akun/data')
    t.equal(res.status, 200)
    t.equal(res.headers.get('content-disposition'), 'attachment; filename="data-saya.json"')
    t.match(res.headers.get('content-type'), /^application\/json/)
    t.equal(res.headers.get('cache-control'), 'no-store')
    const text = await res.text()
    const data = JSON.parse(text) as {
      profile: Record<string, unknown>
      activity: { event: string }[]
      sessions: unknown[]
      agencies: unknown[]
    }
    t.equal(data.profile.nik, budi.nik, "the citizen's own NIK, in full")
    t.equal(data.profile.name, budi.name)
    t.equal(data.profile.sub, citizen.id)
    t.ok(data.activity.some((e) => e.event === 'auth.login.succeeded'))
    t.ok(data.activity.some((e) => e.event === 'account.registered'))
    t.equal(data.sessions.length, 1)
    t.notMatch(text, /argon2|password_hash|passwordHash/i, 'no password hash')
    const hash = await db.db
      .selectFrom('citizens')
      .select('password_hash')
      .where('id', '=', citizen.id)
      .executeTakeFirstOrThrow()
    t.notMatch(text, hash.password_hash ?? 'never', 'not even its parts')
    const session = await db.db
      .selectFrom('oidc_payloads')
      .select('id')
      .where('model', '=', 'Session')
      .where('account_id', '=', citizen.id)
      .executeTakeFirstOrThrow()
    t.notMatch(text, session.id, 'no session id')
    const audit = await db.db
      .selectFrom('audit_events')
      .select('actor')
      .where('subject_id', '=', citizen.id)
      .where('event', '=', 'data.exported')
      .execute()
    t.same(audit, [{ actor: `citizen:${citizen.id}` }])
  })
})
