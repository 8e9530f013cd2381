/**
 * The officers' console at the idp (issue 14, Officers), through real HTTP with a
 * cookie-keeping browser (no JavaScript) on both databases: an officer without a second
 * factor reaches enrolment and nothing else; the enrolment code works once; a TOTP code
 * is taken once; wrong codes are throttled; sessions end after 15 idle minutes and at 12
 * hours (the clock is injected); disabling ends the session at once; citizen and officer
 * sessions open nothing of each other's.
 */
import t from 'tap'
import { createOfficer, setOfficerStatus } from '../../src/accounts/officers.ts'
import { resetOfficerFactors } from '../../src/accounts/officer-factors.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, signInAt, startIdp } from '../helpers/idp.ts'
import { codeAt } from '../helpers/totp.ts'

const PASSWORD = 'Petugas loket yang ramah'

function clock() {
  let offset = 0
  return {
    now: () => new Date(Date.now() + offset),
    advance: (seconds: number) => {
      offset += seconds * 1000
    },
  }
}

/** The secret as the enrolment page shows it, in groups. */
function secretFrom(html: string): string {
  const m = /id="secret"[^>]*>([\s\S]*?)<\/p>/.exec(html)
  if (!m?.[1]) throw new Error('no secret on the page')
  return m[1].replace(/<[^>]+>|\s/g, '')
}

t.test(
  'SECURITY 8: an officer enrols with the one-time code, signs in with the app under a new session id, and signs out',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const time = clock()
      const { issuer } = await startIdp(t, db, {}, { now: time.now })
      const officer = await createOfficer(db.db, {
        username: 'sri.loket',
        name: 'Sri Wahyuni',
        roles: ['counter_officer', 'system_admin'],
        password: PASSWORD,
        regencyName: 'Sukamaju',
      })
      const browser = new Browser()
      const at = (path: string) => `${issuer}${path}`

      // Nothing without a session.
      let res = await browser.request(at('/petugas'))
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/petugas/masuk')

      res = await browser.request(at('/petugas/masuk'))
      t.equal(res.status, 200)
      let html = await res.text()
      t.match(html, /<h1>Masuk sebagai petugas<\/h1>/)
      t.match(html, /<html lang="id">/)

      // A wrong password, then the right one.
      res = await browser.request(at('/petugas/masuk'), {
        form: { _csrf: csrfFrom(html), username: 'sri.loket', password: 'bukan ini' },
      })
      t.equal(res.status, 401)
      html = await res.text()
      t.match(html, /Nama pengguna atau kata sandi salah/)
      // A form without its CSRF token is refused.
      res = await browser.request(at('/petugas/masuk'), { form: { username: 'sri.loket', password: PASSWORD } })
      t.equal(res.status, 403)
      res = await browser.request(at('/petugas/masuk'), {
        form: { _csrf: csrfFrom(html), username: 'sri.loket', password: PASSWORD },
      })
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/petugas/pasang-faktor')
      const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sp_petugas='))
      t.ok(cookie, 'the officer session cookie')
      t.match(cookie, /; Path=\/petugas/)
      t.match(cookie, /; HttpOnly/i)
      t.match(cookie, /; SameSite=Strict/i)

      // Only enrolment: the home and the code step lead back to it.
      for (const path of ['/petugas', '/petugas/masuk/kode']) {
        res = await browser.request(at(path))
        t.equal(res.status, 303, path)
        t.equal(res.headers.get('location'), '/petugas/pasang-faktor', path)
      }
      res = await browser.request(at('/petugas/pasang-faktor'))
      t.equal(res.status, 200)
      html = await res.text()
      t.match(html, /Kode pendaftaran/)
      t.notMatch(html, /<svg/, 'no QR code before the enrolment code')
      // Confirming without the enrolment code does nothing.
      res = await browser.request(at('/petugas/pasang-faktor'), { form: { _csrf: csrfFrom(html), code: '123456' } })
      t.equal(res.status, 303)
      res = await browser.request(at('/petugas/pasang-faktor/kode-pendaftaran'), {
        form: { _csrf: csrfFrom(html), enrolmentCode: 'AAAA-AAAA-AAAA' },
      })
      t.equal(res.status, 400)
      t.match(await res.text(), /Kode pendaftaran salah/)
      res = await browser.request(at('/petugas/pasang-faktor/kode-pendaftaran'), {
        form: { _csrf: csrfFrom(html), enrolmentCode: officer.enrolment.code },
      })
      t.equal(res.status, 303)
      res = await browser.request(at('/petugas/pasang-faktor'))
      html = await res.text()
      t.match(html, /<figure class="qr"[^>]*><svg/, 'the QR code, server-rendered SVG')
      const secret = secretFrom(html)
      t.match(secret, /^[A-Z2-7]{32}$/)
      res = await browser.request(at('/petugas/pasang-faktor'), {
        form: { _csrf: csrfFrom(html), code: codeAt(secret, time.now().getTime()) },
      })
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/petugas?pesan=faktor')
      const rotated = res.headers.getSetCookie().find((c) => c.startsWith('sp_petugas='))
      t.ok(rotated && rotated !== cookie, 'a new session id after the second factor')

      res = await browser.request(at('/petugas?pesan=faktor'))
      t.equal(res.status, 200)
      html = await res.text()
      t.match(html, /Anda masuk sebagai Sri Wahyuni/)
      t.match(html, /Petugas loket, Administrator sistem/)
      t.match(html, /Keluar<\/button>/)
      t.equal(res.headers.get('cache-control'), 'no-store')

      // The officer's cookie opens nothing of a citizen's.
      res = await browser.request(at('/akun'))
      t.equal(res.status, 303, 'Akun Saya wants a citizen sign-in')
      t.notMatch(res.headers.get('location') ?? '', /^\/akun/)

      // Sign out: the session ends on the server.
      const stale = browser.cookies.get('sp_petugas')?.value as string
      res = await browser.request(at('/petugas/keluar'), { form: { _csrf: csrfFrom(html) } })
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/petugas/masuk?pesan=keluar')
      t.notOk(browser.cookies.has('sp_petugas'), 'the cookie is cleared')
      res = await fetch(at('/petugas'), { headers: { cookie: `sp_petugas=${stale}` }, redirect: 'manual' })
      t.equal(res.status, 303, 'the old cookie opens nothing')

      // Next sign-in: the code step; the enrolment code is spent.
      res = await browser.request(at('/petugas/masuk'))
      html = await res.text()
      res = await browser.request(at('/petugas/masuk'), {
        form: { _csrf: csrfFrom(html), username: 'sri.loket', password: PASSWORD },
      })
      t.equal(res.headers.get('location'), '/petugas/masuk/kode')
      res = await browser.request(at('/petugas/pasang-faktor'))
      t.equal(res.headers.get('location'), '/petugas/masuk/kode', 'no enrolment once a factor exists')
      res = await browser.request(at('/petugas/masuk/kode'))
      html = await res.text()
      t.match(html, /Kode dari aplikasi autentikator/)
      // The code used for enrolment is in the same step: refused (replay).
      time.advance(1)
      res = await browser.request(at('/petugas/masuk/kode'), {
        form: { _csrf: csrfFrom(html), code: codeAt(secret, time.now().getTime() - 1000) },
      })
      t.equal(res.status, 400, 'the same step again is refused')
      t.match(await res.text(), /Kode salah atau sudah dipakai/)
      time.advance(30)
      res = await browser.request(at('/petugas/masuk/kode'), {
        form: { _csrf: csrfFrom(html), code: codeAt(secret, time.now().getTime()) },
      })
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/petugas')

      const events = await db.db
        .selectFrom('audit_events')
        .select(['event', 'actor', 'data'])
        .where('actor', '=', `officer:${officer.id}`)
        .execute()
      const names = events.map((e) => e.event)
      for (const e of [
        'auth.login.failed',
        'auth.login.succeeded',
        'auth.second_factor.failed',
        'account.second_factor_added',
        'officer.signed_in',
        'auth.logout',
      ])
        t.ok(names.includes(e), `audited: ${e}`)
      t.equal(names.filter((e) => e === 'officer.signed_in').length, 2)

      // 15 minutes idle ends it; then the page says so.
      time.advance(15 * 60)
      res = await browser.request(at('/petugas'))
      t.equal(res.status, 303)
      t.equal(res.headers.get('location'), '/petugas/masuk?pesan=berakhir')
      res = await browser.request(at('/petugas/masuk?pesan=berakhir'))
      t.match(await res.text(), /Sesi Anda sudah berakhir/)
    })
  },
)

t.test('12 hours at most, a disabled officer at once, wrong codes throttled, citizens kept out', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const time = clock()
    const { issuer } = await startIdp(t, db, {}, { now: time.now })
    const at = (path: string) => `${issuer}${path}`
    const officer = await createOfficer(db.db, {
      username: 'joko.loket',
      name: 'Joko Susilo',
      roles: ['counter_officer'],
      password: PASSWORD,
      regencyName: 'Sukamaju',
    })
    const browser = new Browser()
    async function signInWithCode(b: Browser, secret: string) {
      let res = await b.request(at('/petugas/masuk'))
      let html = await res.text()
      res = await b.request(at('/petugas/masuk'), {
        form: { _csrf: csrfFrom(html), username: 'joko.loket', password: PASSWORD },
      })
      res = await b.request(at('/petugas/masuk/kode'))
      html = await res.text()
      time.advance(30)
      return b.request(at('/petugas/masuk/kode'), {
        form: { _csrf: csrfFrom(html), code: codeAt(secret, time.now().getTime()) },
      })
    }
    // Enrol through the pages.
    let res = await browser.request(at('/petugas/masuk'))
    let html = await res.text()
    await browser.request(at('/petugas/masuk'), {
      form: { _csrf: csrfFrom(html), username: 'joko.loket', password: PASSWORD },
    })
    html = await (await browser.request(at('/petugas/pasang-faktor'))).text()
    await browser.request(at('/petugas/pasang-faktor/kode-pendaftaran'), {
      form: { _csrf: csrfFrom(html), enrolmentCode: officer.enrolment.code },
    })
    html = await (await browser.request(at('/petugas/pasang-faktor'))).text()
    const secret = secretFrom(html)
    res = await browser.request(at('/petugas/pasang-faktor'), {
      form: { _csrf: csrfFrom(html), code: codeAt(secret, time.now().getTime()) },
    })
    t.equal(res.status, 303)

    // Active every 10 minutes: still in at 11 h 50, out at 12 h.
    for (let i = 0; i < 71; i++) {
      time.advance(10 * 60)
      res = await browser.request(at('/petugas'))
      if (res.status !== 200) break
    }
    t.equal(res.status, 200, 'alive at 11 h 50 with activity')
    time.advance(10 * 60)
    res = await browser.request(at('/petugas'))
    t.equal(res.headers.get('location'), '/petugas/masuk?pesan=berakhir', 'ended at 12 hours')

    // Disabled: the session ends at once.
    res = await signInWithCode(browser, secret)
    t.equal(res.headers.get('location'), '/petugas')
    t.equal((await browser.request(at('/petugas'))).status, 200)
    await setOfficerStatus(db.db, officer.id, 'disabled')
    res = await browser.request(at('/petugas'))
    t.equal(res.status, 303, 'disabled: out at once')
    await setOfficerStatus(db.db, officer.id, 'active')
    res = await browser.request(at('/petugas'))
    t.equal(res.status, 303, 'and not back when enabled again')

    // Wrong codes: five, then even the right one waits.
    res = await browser.request(at('/petugas/masuk'))
    html = await res.text()
    await browser.request(at('/petugas/masuk'), {
      form: { _csrf: csrfFrom(html), username: 'joko.loket', password: PASSWORD },
    })
    html = await (await browser.request(at('/petugas/masuk/kode'))).text()
    for (let i = 0; i < 5; i++) {
      res = await browser.request(at('/petugas/masuk/kode'), { form: { _csrf: csrfFrom(html), code: '000000' } })
      t.equal(res.status, 400)
    }
    // Within the 30-second lock after the fifth failure (the throttle reads the same clock).
    time.advance(5)
    res = await browser.request(at('/petugas/masuk/kode'), {
      form: { _csrf: csrfFrom(html), code: codeAt(secret, time.now().getTime()) },
    })
    t.equal(res.status, 429, 'throttled')
    t.ok(res.headers.get('retry-after'))
    t.match(await res.text(), /Terlalu banyak kode yang salah/)

    // reset-factors: the officer is back to enrolment only.
    const reset = await resetOfficerFactors(db.db, officer.id)
    t.ok(reset.code)
    res = await browser.request(at('/petugas/masuk'))
    html = await res.text()
    res = await browser.request(at('/petugas/masuk'), {
      form: { _csrf: csrfFrom(html), username: 'joko.loket', password: PASSWORD },
    })
    t.equal(res.headers.get('location'), '/petugas/pasang-faktor')

    // A citizen's session opens nothing under /petugas; the citizen's sign-in refuses the officer.
    await addCitizen(db.db)
    const citizen = new Browser()
    const signed = await signInAt(citizen, `${issuer}/akun`, issuer, budi)
    t.equal(signed.res.status, 200, 'the citizen is signed in')
    res = await citizen.request(at('/petugas'))
    t.equal(res.status, 303)
    t.equal(res.headers.get('location'), '/petugas/masuk')
    const stranger = new Browser()
    const step = await stranger.follow(at('/akun'), issuer)
    const login = await step.res.text()
    res = await stranger.request(new URL(formAction(login, '/login'), issuer).toString(), {
      form: { _csrf: csrfFrom(login), username: 'joko.loket', password: PASSWORD },
    })
    t.equal(res.status, 403, "an officer's password on the citizens' sign-in is refused")
    t.match(await res.text(), /Petugas masuk di halaman \/petugas\/masuk/)
  })
})

t.test('over https the officer cookie is __Host-, Secure, Path=/', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { buildIdp } = await import('../../src/idp/app.ts')
    const { silentLogger, testConfig } = await import('../helpers/config.ts')
    const { testKek } = await import('../helpers/idp.ts')
    const config = testConfig({
      idp: { issuer: 'https://id.sukamaju.go.id', port: 3000 },
      gateway: { publicUrl: 'https://layanan.sukamaju.go.id', port: 1 },
    })
    const app = await buildIdp({ config, database: db, logger: silentLogger(), keyEncryption: testKek })
    t.teardown(() => app.close())
    await createOfficer(db.db, {
      username: 'sri.loket',
      name: 'Sri Wahyuni',
      roles: ['counter_officer'],
      password: PASSWORD,
      regencyName: 'Sukamaju',
    })
    const headers = { host: 'id.sukamaju.go.id', accept: 'text/html' }
    const page = await app.inject({ url: '/petugas/masuk', headers })
    t.equal(page.statusCode, 200)
    const english = await app.inject({ url: '/petugas/masuk', headers: { ...headers, 'accept-language': 'en' } })
    t.match(english.body, /<h1>Sign in as an officer<\/h1>/, 'in English for an English browser')
    const csrfCookie = [page.headers['set-cookie']]
      .flat()
      .map(String)
      .map((c) => c.split(';')[0])
      .join('; ')
    const res = await app.inject({
      method: 'POST',
      url: '/petugas/masuk',
      headers: { ...headers, cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        _csrf: csrfFrom(page.body),
        username: 'sri.loket',
        password: PASSWORD,
      }).toString(),
    })
    t.equal(res.statusCode, 303)
    const cookie = [res.headers['set-cookie']]
      .flat()
      .map(String)
      .find((c) => c.startsWith('__Host-sp_petugas='))
    t.ok(cookie)
    t.match(cookie, /; Path=\/(;|$)/)
    t.match(cookie, /; Secure/i)
    t.match(cookie, /; SameSite=Strict/i)
    t.notMatch(cookie, /; Domain=/i)
  })
})

t.test('the demo officer of the quick start signs in with the printed password and key', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { demoOfficer, ensureDemoData } = await import('../../src/demo.ts')
    const { testKek } = await import('../helpers/idp.ts')
    const { issuer, config } = await startIdp(t, db)
    const demo = await ensureDemoData(db.db, config, 'http://localhost:1', testKek)
    t.match(demo.officer, { username: 'petugas.demo', totpSecret: demoOfficer.totpSecret })
    t.match(
      demo.officer.totpUri,
      /^otpauth:\/\/totp\/Satu%20Pintu:petugas\.demo\?.*secret=JBSWY3DPEHPK3PXPSATUPINTUDEMO234/,
    )
    // A second start keeps the officer and the key.
    await ensureDemoData(db.db, config, 'http://localhost:1', testKek)
    const browser = new Browser()
    let res = await browser.request(`${issuer}/petugas/masuk`)
    let html = await res.text()
    res = await browser.request(`${issuer}/petugas/masuk`, {
      form: { _csrf: csrfFrom(html), username: demo.officer.username, password: demo.officer.password },
    })
    t.equal(res.headers.get('location'), '/petugas/masuk/kode', 'already enrolled: the code step')
    html = await (await browser.request(`${issuer}/petugas/masuk/kode`)).text()
    res = await browser.request(`${issuer}/petugas/masuk/kode`, {
      form: { _csrf: csrfFrom(html), code: codeAt(demo.officer.totpSecret, Date.now()) },
    })
    t.equal(res.headers.get('location'), '/petugas')
    res = await browser.request(`${issuer}/petugas`)
    t.equal(res.status, 200)
    t.match(await res.text(), /Anda masuk sebagai Sri Wahyuni/)
  })
})
