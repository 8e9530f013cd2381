/**
 * Registration over HTTP, the way a citizen's browser (no JavaScript) walks it:
 * /daftar → code from the outbox → /daftar/verifikasi → sign in → Akun Saya.
 */
import { sql } from 'kysely'
import t from 'tap'
import { findCitizenByIdentifier } from '../../src/accounts/citizens.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, startIdp } from '../helpers/idp.ts'

const form = {
  nik: siti.nik,
  name: siti.name,
  day: '3',
  month: '3',
  year: '1985',
  gender: 'female',
  email: siti.email,
  phone: '',
  password: siti.password,
  password2: siti.password,
}

async function latestCode(db: TestDatabase, recipient: string): Promise<string> {
  const row = await db.db
    .selectFrom('outbox')
    .select('body')
    .where('recipient', '=', recipient)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow()
  const m = /\b([0-9]{6})\b/.exec(row.body)
  if (!m?.[1]) throw new Error('no code in the message')
  return m[1]
}

async function citizenCount(db: TestDatabase): Promise<number> {
  const r = await db.db
    .selectFrom('citizens')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow()
  return Number(r.n)
}

/** Opens /daftar in `browser` and submits `fields` with the page's CSRF token. */
async function submit(browser: Browser, issuer: string, fields: Record<string, string>, query = ''): Promise<Response> {
  const page = await browser.request(`${issuer}/daftar${query}`)
  const html = await page.text()
  return browser.request(new URL(formAction(html, '/daftar'), issuer).toString(), {
    form: { _csrf: csrfFrom(html), ...fields },
  })
}

/** The part of a page that says what went wrong (the alert and the field messages). */
function errorsOf(html: string): string {
  return [...html.matchAll(/<div class="alert alert-error"[\s\S]*?<\/div>|<p class="error-message"[\s\S]*?<\/p>/g)]
    .map((m) => m[0])
    .join('\n')
}

t.test('a citizen registers, verifies the email with the code and signs in to Akun Saya', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()

    const page = await browser.request(`${issuer}/daftar`)
    t.equal(page.status, 200)
    const html = await page.text()
    t.match(
      html,
      /<input class="input" id="nik" name="nik" type="text"[^>]*inputmode="numeric"/,
      'NIK asks for a numeric keyboard',
    )
    t.match(html, /name="email" type="email"\s+autocomplete="email"/)
    t.match(html, /name="phone" type="tel"\s+autocomplete="tel"/)
    t.match(html, /autocomplete="bday-day"/)
    t.match(html, /autocomplete="bday-year"/)
    t.equal(html.match(/autocomplete="new-password"/g)?.length, 2, 'both password fields are new-password')
    t.match(html, /type="radio"[^>]*name="gender" value="female"/)

    const res = await submit(browser, issuer, form)
    t.equal(res.status, 303)
    t.equal(res.headers.get('location'), '/daftar/verifikasi')
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sp_daftar='))
    t.match(cookie, /HttpOnly/i)
    t.match(cookie, /Path=\/daftar/)
    t.match(cookie, /^sp_daftar=[0-9a-f-]{36};/, 'the cookie holds an opaque id, no personal data')
    const citizen = await findCitizenByIdentifier(db.db, { kind: 'nik', value: siti.nik })
    t.ok(citizen, 'the account exists')
    t.equal(citizen?.emailVerified, false)

    const verify = await browser.request(`${issuer}/daftar/verifikasi`)
    t.equal(verify.status, 200)
    const vhtml = await verify.text()
    t.match(vhtml, 's***@contoh.id', 'shows where the code went, masked')
    t.notMatch(vhtml, siti.email)
    t.match(vhtml, /autocomplete="one-time-code"/)
    t.match(vhtml, /id="code"[^>]*inputmode="numeric"/)

    const wrong = await browser.request(`${issuer}/daftar/verifikasi`, {
      form: { _csrf: csrfFrom(vhtml), code: '000000' === (await latestCode(db, siti.email)) ? '111111' : '000000' },
    })
    t.equal(wrong.status, 400)
    t.match(await wrong.text(), 'Sisa percobaan: 4')

    const code = await latestCode(db, siti.email)
    const ok = await browser.request(`${issuer}/daftar/verifikasi`, { form: { _csrf: csrfFrom(vhtml), code } })
    t.equal(ok.status, 303)
    t.equal(ok.headers.get('location'), '/daftar/selesai')
    const done = await browser.request(`${issuer}/daftar/selesai`)
    t.match(await done.text(), 'Akun Anda sudah aktif')
    t.equal((await findCitizenByIdentifier(db.db, { kind: 'nik', value: siti.nik }))?.emailVerified, true)
    const events = (
      await db.db
        .selectFrom('audit_events')
        .select('event')
        .where('subject_id', '=', citizen?.id ?? '')
        .execute()
    ).map((e) => e.event)
    for (const e of ['account.registered', 'otp.sent', 'otp.failed', 'otp.verified', 'account.email_verified'])
      t.ok(events.includes(e), e)

    // Sign in through the account client's authorization request.
    let step = await browser.follow(`${issuer}/akun`, issuer)
    const login = await step.res.text()
    t.match(step.url, /\/interaction\//)
    const signedIn = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
      form: { _csrf: csrfFrom(login), username: siti.email, password: siti.password },
    })
    t.equal(signedIn.status, 303)
    step = await browser.follow(new URL(signedIn.headers.get('location') ?? '', issuer).toString(), issuer)
    t.equal(new URL(step.url).pathname, '/akun')
    t.equal(step.res.status, 200)
    const akun = await step.res.text()
    t.match(akun, 'Halo, Siti Aminah.')
    t.match(akun, '3201********0002', 'NIK masked')
    t.notMatch(akun, siti.nik)
  })
})

t.test(
  'issue 14: an account may not sign in before a contact is verified; the right password leads to a new code, then the sign-in',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      // Registered, but the code never entered (the browser was closed).
      t.equal((await submit(new Browser(), issuer, form)).status, 303)
      await sql`delete from outbox`.execute(db.db)
      // Later than the wait between two codes.
      await sql`update one_time_codes set created_at = created_at - interval '2 minutes'`.execute(db.db)

      const browser = new Browser()
      let step = await browser.follow(`${issuer}/akun`, issuer)
      const login = await step.res.text()
      const uid = /\/interaction\/([^/?#]+)/.exec(step.url)?.[1] ?? ''
      const wrong = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(login), username: siti.nik, password: 'bukan kata sandinya sama sekali' },
      })
      t.equal(wrong.status, 401, 'a wrong password is only a wrong password')
      t.match(await wrong.text(), 'masuklah dengan email atau nomor HP', 'a NIK is told of the other way in')
      t.equal((await db.db.selectFrom('outbox').select('id').execute()).length, 0, 'and nothing is sent')

      const right = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(login), username: siti.nik, password: siti.password },
      })
      t.equal(right.status, 303, 'not signed in: sent to verify')
      const next = right.headers.get('location') ?? ''
      t.equal(next, `/daftar/verifikasi?kembali=${encodeURIComponent(`/interaction/${uid}`)}&masuk=1`)
      const page = await (await browser.request(`${issuer}${next}`)).text()
      t.match(page, 'belum dapat dipakai untuk masuk', 'the page says why')
      t.match(page, 's***@contoh.id')
      const code = await latestCode(db, siti.email)
      const ok = await browser.request(new URL(formAction(page, '/daftar/verifikasi'), issuer).toString(), {
        form: { _csrf: csrfFrom(page), code },
      })
      t.equal(ok.status, 303)
      const done = ok.headers.get('location') ?? ''
      t.match(done, /^\/daftar\/selesai\?kembali=/)
      const donePage = await (await browser.request(`${issuer}${done}`)).text()
      t.match(donePage, `href="/interaction/${uid}"`, 'back to the same sign-in')

      step = await browser.follow(`${issuer}/interaction/${uid}`, issuer)
      const again = await step.res.text()
      const signedIn = await browser.request(new URL(formAction(again, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(again), username: siti.nik, password: siti.password },
      })
      t.equal(signedIn.status, 303)
      step = await browser.follow(new URL(signedIn.headers.get('location') ?? '', issuer).toString(), issuer)
      t.equal(new URL(step.url).pathname, '/akun')
      t.match(await step.res.text(), 'Halo, Siti Aminah.')
    })
  },
)

t.test('a new code can be asked for, but not at once again', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()
    await submit(browser, issuer, form)
    const vhtml = await (await browser.request(`${issuer}/daftar/verifikasi`)).text()
    const again = await browser.request(`${issuer}/daftar/verifikasi/kirim-ulang`, { form: { _csrf: csrfFrom(vhtml) } })
    t.equal(again.status, 429)
    t.ok(Number(again.headers.get('retry-after')) > 0)
    t.match(await again.text(), 'Kode baru belum dapat dikirim')
    const sent = await db.db.selectFrom('outbox').select('id').where('recipient', '=', siti.email).execute()
    t.equal(sent.length, 1, 'no second message')
  })
})

t.test('the return path is kept through registration, and only a local one', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()
    const res = await submit(browser, issuer, form, `?kembali=${encodeURIComponent('/interaction/abcdefghijklmnop')}`)
    t.equal(res.headers.get('location'), '/daftar/verifikasi?kembali=%2Finteraction%2Fabcdefghijklmnop')
    const vhtml = await (await browser.request(`${issuer}${res.headers.get('location')}`)).text()
    const ok = await browser.request(new URL(formAction(vhtml, '/daftar/verifikasi'), issuer).toString(), {
      form: { _csrf: csrfFrom(vhtml), code: await latestCode(db, siti.email) },
    })
    t.equal(ok.headers.get('location'), '/daftar/selesai?kembali=%2Finteraction%2Fabcdefghijklmnop')
    const done = await (await browser.request(`${issuer}${ok.headers.get('location')}`)).text()
    t.match(done, 'href="/interaction/abcdefghijklmnop"')

    const evil = await (
      await browser.request(`${issuer}/daftar?kembali=${encodeURIComponent('//evil.example/x')}`)
    ).text()
    t.match(evil, 'action="/daftar"', 'a foreign return path is dropped')
    t.notMatch(evil, /href="\/\/evil/, 'and never becomes a link')
  })
})

t.test('refusals come back on the same page, next to the field, and write nothing', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()

    await t.test('a NIK that is not a NIK', async (t) => {
      const res = await submit(browser, issuer, { ...form, nik: '1234' })
      t.equal(res.status, 400)
      const html = await res.text()
      t.match(html, /<div class="field field-error">\s*<label class="label" for="nik">/)
      t.match(html, 'NIK harus terdiri dari 16 angka')
      t.match(html, 'href="#nik"', 'the summary links to the field')
      t.match(html, `value="${siti.name}"`, 'what was typed is kept')
      t.notMatch(html, siti.password, 'a password is never sent back')
    })

    await t.test('a birth date that does not match the NIK', async (t) => {
      const res = await submit(browser, issuer, { ...form, day: '4' })
      t.equal(res.status, 400)
      const html = await res.text()
      t.match(html, 'Tanggal lahir tidak sesuai dengan NIK')
      t.match(html, 'href="#birth-day"')
      t.match(html, /<fieldset class="field field-error"/)
    })

    await t.test('a gender that does not match the NIK', async (t) => {
      const res = await submit(browser, issuer, { ...form, gender: 'male' })
      t.equal(res.status, 400)
      t.match(await res.text(), 'Jenis kelamin tidak sesuai dengan NIK')
    })

    await t.test('a weak password', async (t) => {
      const res = await submit(browser, issuer, { ...form, password: 'password123', password2: 'password123' })
      t.equal(res.status, 400)
      const html = await res.text()
      t.match(html, 'terlalu umum')
      t.match(html, 'href="#password"')
    })

    await t.test('a password built from the name', async (t) => {
      const res = await submit(browser, issuer, {
        ...form,
        password: 'Siti Aminah 1985',
        password2: 'Siti Aminah 1985',
      })
      t.equal(res.status, 400)
      t.match(await res.text(), 'dibuat dari nama Anda')
    })

    await t.test('two different passwords, no contact, several at once', async (t) => {
      const res = await submit(browser, issuer, {
        ...form,
        email: '',
        phone: '',
        password2: 'something else entirely',
        gender: '',
      })
      t.equal(res.status, 400)
      const html = await res.text()
      t.match(html, 'Kedua kata sandi tidak sama')
      t.match(html, 'Isi alamat email atau nomor HP')
      t.match(html, 'Pilih jenis kelamin Anda')
    })

    await t.test('control characters or an over-long field: the form again, not a bare error page', async (t) => {
      const res = await submit(browser, issuer, { ...form, name: 'Siti\u0000Aminah' })
      t.equal(res.status, 400)
      const html = await res.text()
      t.match(html, 'terlalu panjang atau berisi karakter yang tidak dapat dipakai')
      t.match(html, 'href="#name"')
      const long = await submit(browser, issuer, { ...form, email: `${'a'.repeat(400)}@contoh.id` })
      t.equal(long.status, 400)
      t.match(await long.text(), 'href="#email"')
    })

    await t.test('a form without its CSRF token is refused', async (t) => {
      const res = await browser.request(`${issuer}/daftar`, { form })
      t.equal(res.status, 403)
      t.notMatch(await res.text(), /at \w+ \(/, 'no stack trace')
    })

    await t.test('a JSON body is not a second way in', async (t) => {
      const res = await fetch(`${issuer}/daftar`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/html' },
        body: JSON.stringify(form),
      })
      t.equal(res.status, 415)
    })

    t.equal(await citizenCount(db), 0, 'no account was written by any refusal')
    t.equal((await db.db.selectFrom('outbox').select('id').execute()).length, 0, 'and no message')

    await t.test('in English on request', async (t) => {
      const res = await submit(browser, issuer, { ...form, nik: '1234' }, '?lang=en')
      t.equal(res.status, 400)
      const html = await res.text()
      t.match(html, 'Create a Satu Pintu account')
      t.match(html, 'A NIK has exactly 16 digits')
    })
  })
})

t.test(
  'one submission shows every problem that needs no database, all in the error summary, and the same for a registered NIK',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const existing = await addCitizen(db.db, siti)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', existing.id).execute()
      // A password built from the name, a date that is not a date, a gender that the NIK
      // contradicts, an e-mail and a phone number that are not ones: each has its message.
      const wrong = {
        ...form,
        day: '31',
        month: '2',
        gender: 'male',
        email: 'siti@',
        phone: '12ab',
        password: 'Siti Aminah 1985',
        password2: 'Siti Aminah 1985',
      }
      const pages: string[] = []
      for (const nik of [siti.nik, `${siti.nik.slice(0, 12)}0009`]) {
        const res = await submit(new Browser(), issuer, { ...wrong, nik })
        t.equal(res.status, 400)
        pages.push(await res.text())
      }
      const [registered, fresh] = pages as [string, string]
      const summary = /<div class="alert alert-error"[\s\S]*?<\/div>/.exec(fresh)?.[0] ?? ''
      for (const [message, href] of [
        ['Tanggal lahir tidak valid', '#birth-day'],
        ['Jenis kelamin tidak sesuai dengan NIK', '#gender-female'],
        ['Alamat email tidak valid', '#email'],
        ['Nomor HP tidak valid', '#phone'],
        ['dibuat dari nama Anda', '#password'],
      ] as const) {
        t.match(summary, message, `the summary says: ${message}`)
        t.match(summary, `href="${href}"`, `and links to ${href}`)
      }
      const shape = (html: string) => html.replace(/name="_csrf" value="[^"]*"/g, '').replace(/value="[0-9]{16}"/g, '')
      t.equal(shape(registered), shape(fresh), 'a registered NIK gets exactly the same page')
      t.notMatch(registered, 'sudah terdaftar')

      // A date that disagrees with the NIK and a password from the birth date, with a good gender.
      const res = await submit(new Browser(), issuer, {
        ...form,
        nik: `${siti.nik.slice(0, 12)}0009`,
        day: '4',
        password: 'Aminah 04031985',
        password2: 'Aminah 04031985',
      })
      t.equal(res.status, 400)
      const html = errorsOf(await res.text())
      t.match(html, 'Tanggal lahir tidak sesuai dengan NIK')
      t.match(html, /kata sandi/i)
      t.equal(await citizenCount(db), 1, 'no account written')
      t.equal((await db.db.selectFrom('outbox').select('id').execute()).length, 0, 'and no message sent')
    })
  },
)

t.test(
  'the code page words its hints for the channel: an SMS says wait, signal and the number; an e-mail the spam folder; a registered NIK the same as a new one',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const existing = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', existing.id).execute()
      const noCode = (html: string) => /<p>(Belum menerima kode\?[^<]*)<\/p>/.exec(html)?.[1] ?? ''
      const fresh = { ...form, nik: `${siti.nik.slice(0, 12)}0009` }
      const known = { ...form, nik: budi.nik, name: budi.name, day: '12', month: '1', year: '1990', gender: 'male' }
      for (const fields of [fresh, known]) {
        const bySms = new Browser()
        const sms = await submit(bySms, issuer, { ...fields, email: '', phone: '0813 1111 2222' })
        t.equal(sms.status, 303)
        const smsPage = await (await bySms.request(`${issuer}${sms.headers.get('location') ?? ''}`)).text()
        const smsHint = noCode(smsPage)
        t.match(smsHint, 'SMS')
        t.match(smsHint, 'sinyal')
        t.match(smsHint, 'nomor')
        t.notMatch(smsHint, /spam|email/i, 'no word of a spam folder for an SMS')
        // A wrong code gives the page again, still worded for the SMS.
        const wrong = await bySms.request(new URL(formAction(smsPage, '/daftar/verifikasi'), issuer).toString(), {
          form: { _csrf: csrfFrom(smsPage), code: '000000' },
        })
        t.equal(wrong.status, 400)
        t.match(noCode(await wrong.text()), 'sinyal')

        const byEmail = new Browser()
        const mail = await submit(byEmail, issuer, { ...fields, email: 'kode.lewat@contoh.id', phone: '' })
        const mailHint = noCode(await (await byEmail.request(`${issuer}${mail.headers.get('location') ?? ''}`)).text())
        t.match(mailHint, 'folder spam')
        t.notMatch(mailHint, /SMS|sinyal/)
      }
    })
  },
)

t.test(
  'SECURITY 37: a registered NIK gets the same answer as a new one, because it is one (issue 14): a second, unproven claim with a real code',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const existing = await addCitizen(db.db, budi)
      const fresh = { ...form, nik: `${siti.nik.slice(0, 12)}0009`, email: 'baru@contoh.id' }
      const same = {
        nik: budi.nik,
        name: budi.name,
        day: '12',
        month: '1',
        year: '1990',
        gender: 'male',
        email: budi.email,
        phone: '',
        password: 'teh manis hangat sore hari',
        password2: 'teh manis hangat sore hari',
      }
      const other = { ...same, name: 'Orang Lain', email: 'lain@contoh.id', phone: '081311112222' }

      const answers: { status: number; location: string | null; page: string }[] = []
      for (const fields of [fresh, same, other]) {
        const browser = new Browser()
        const res = await submit(browser, issuer, fields)
        const page = await (await browser.request(`${issuer}${res.headers.get('location') ?? ''}`)).text()
        answers.push({ status: res.status, location: res.headers.get('location'), page })
      }
      const [n, a, b] = answers
      t.equal(a?.status, n?.status, 'the same status as a new registration')
      t.equal(b?.status, n?.status)
      t.equal(a?.location, n?.location, 'the same next page')
      const shape = (html: string) =>
        html
          .replace(/name="_csrf" value="[^"]*"/g, '')
          .replace(/<code class="reference-code">[^<]*<\/code>/g, '')
          .replace(/[a-z]\*\*\*@contoh\.id/g, 'X')
      t.equal(shape(b?.page ?? ''), shape(n?.page ?? ''), 'the same code page, naming only the contact that was typed')
      t.notMatch(a?.page ?? '', 'sudah terdaftar', 'no word of an existing account')
      t.equal(await citizenCount(db), 4, 'each registration of the NIK is an account of its own')
      const claims = await db.db
        .selectFrom('citizens')
        .select(['id', 'nik_status'])
        .where('nik', '=', budi.nik)
        .execute()
      t.same(
        claims.map((c) => c.nik_status),
        ['claimed', 'claimed', 'claimed'],
        'all unproven',
      )

      // The typed contact gets a real code, for its own new account.
      const told = await db.db.selectFrom('outbox').select(['kind']).where('recipient', '=', 'lain@contoh.id').execute()
      t.same(
        told.map((r) => r.kind),
        ['code'],
      )
      // The NIK still stands for the account with a verified contact.
      t.equal((await findCitizenByIdentifier(db.db, { kind: 'nik', value: budi.nik }))?.id, existing.id)
    })
  },
)

t.test(
  'SECURITY 37: an unproven claim on a NIK never blocks its real owner (issue 14); once the NIK is proven, a later registration is told it is verified on another account',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const intruder = {
        ...form,
        email: 'penyusup@contoh.id',
        password: 'kopi hitam tanpa gula pagi',
        password2: 'kopi hitam tanpa gula pagi',
      }
      // A stranger registers the owner's NIK with their own address and never proves anything.
      t.equal((await submit(new Browser(), issuer, intruder)).status, 303)

      // The owner registers the same NIK at once: a real code comes, and the account is theirs.
      const browser = new Browser()
      t.equal((await submit(browser, issuer, form)).status, 303)
      const code = await latestCode(db, siti.email)
      const page = await (await browser.request(`${issuer}/daftar/verifikasi`)).text()
      const verified = await browser.request(new URL(formAction(page, '/daftar/verifikasi'), issuer).toString(), {
        form: { _csrf: csrfFrom(page), code },
      })
      t.equal(verified.headers.get('location'), '/daftar/selesai', 'the owner verifies the address')
      const owner = await findCitizenByIdentifier(db.db, { kind: 'nik', value: siti.nik })
      t.equal(owner?.email, siti.email, 'the NIK stands for the account with a verified contact')
      t.equal(await citizenCount(db), 2, 'the claim is still there, unproven, and blocks nobody')

      // Proven at the counter: a later registration of the NIK is an account without it.
      await db.db
        .updateTable('citizens')
        .set({ nik_status: 'proven' })
        .where('id', '=', owner?.id ?? '')
        .execute()
      const late = new Browser()
      const lateForm = { ...intruder, email: 'telat@contoh.id' }
      t.equal((await submit(late, issuer, lateForm)).status, 303)
      const lateCode = await latestCode(db, 'telat@contoh.id')
      const latePage = await (await late.request(`${issuer}/daftar/verifikasi`)).text()
      const lateVerified = await late.request(new URL(formAction(latePage, '/daftar/verifikasi'), issuer).toString(), {
        form: { _csrf: csrfFrom(latePage), code: lateCode },
      })
      t.equal(lateVerified.headers.get('location'), '/daftar/selesai?nik=lain')
      const done = await (await late.request(`${issuer}/daftar/selesai?nik=lain`)).text()
      t.match(done, 'sudah terverifikasi pada akun lain', 'told, once the contact is proven')
      t.match(done, 'loket Mal Pelayanan Publik')
      const lateRow = await db.db
        .selectFrom('citizens')
        .select('nik_status')
        .where('email', '=', 'telat@contoh.id')
        .executeTakeFirstOrThrow()
      t.equal(lateRow.nik_status, 'withdrawn')
      const still = await findCitizenByIdentifier(db.db, { kind: 'nik', value: siti.nik })
      t.equal(still?.id, owner?.id, 'the proven account keeps the NIK')
    })
  },
)

t.test(
  'SECURITY 37: the code step of a registration for a registered NIK runs exactly like a new one: the cookie, wrong codes, the resend wait and the resend after it',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const existing = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', existing.id).execute()
      const fresh = { ...form, nik: `${siti.nik.slice(0, 12)}0009`, email: 'baru@contoh.id' }
      const known = {
        nik: budi.nik,
        name: budi.name,
        day: '12',
        month: '1',
        year: '1990',
        gender: 'male',
        email: 'lain@contoh.id',
        phone: '',
        password: 'teh manis hangat sore hari',
        password2: 'teh manis hangat sore hari',
      }
      const cookieOf = (res: Response) => res.headers.getSetCookie().find((c) => c.startsWith('sp_daftar='))
      /** Everything a person at the browser sees of one registration's code step. */
      async function walk(fields: Record<string, string>): Promise<string[]> {
        const seen: string[] = []
        const browser = new Browser()
        const res = await submit(browser, issuer, fields)
        seen.push(`${res.status} ${res.headers.get('location')} ${cookieOf(res)?.replace(/=[^;]*/, '=<value>')}`)
        const value = browser.cookies.get('sp_daftar')?.value ?? ''
        seen.push(
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(value)
            ? 'an opaque uuid'
            : `cookie value ${value}`,
        )
        let html = await (await browser.request(`${issuer}/daftar/verifikasi`)).text()
        for (let i = 0; i < 6; i++) {
          const wrong = await browser.request(`${issuer}/daftar/verifikasi`, {
            form: { _csrf: csrfFrom(html), code: '000000' },
          })
          html = await wrong.text()
          seen.push(`${wrong.status} ${errorsOf(html)}`)
        }
        const soon = await browser.request(`${issuer}/daftar/verifikasi/kirim-ulang`, {
          form: { _csrf: csrfFrom(html), code: '' },
        })
        html = await soon.text()
        seen.push(`${soon.status} retry-after ${soon.headers.get('retry-after') !== null} ${errorsOf(html)}`)
        // A minute later, a new "code" may be asked for: a new handle, and wrong codes count from five again.
        await sql`update one_time_codes set created_at = created_at - interval '2 minutes'`.execute(db.db)
        await sql`update registration_decoys set created_at = created_at - interval '2 minutes'`.execute(db.db)
        const later = await browser.request(`${issuer}/daftar/verifikasi/kirim-ulang`, {
          form: { _csrf: csrfFrom(html) },
        })
        seen.push(
          `${later.status} ${later.headers.get('location')} new handle ${(browser.cookies.get('sp_daftar')?.value ?? value) !== value}`,
        )
        html = await (await browser.request(`${issuer}${later.headers.get('location') ?? ''}`)).text()
        seen.push(errorsOf(html) + (html.includes('Kode baru sudah dikirim') ? ' resent notice' : ''))
        const after = await browser.request(`${issuer}/daftar/verifikasi`, {
          form: { _csrf: csrfFrom(html), code: '000000' },
        })
        seen.push(`${after.status} ${errorsOf(await after.text())}`)
        return seen
      }
      const n = await walk(fresh)
      const k = await walk(known)
      t.same(k, n, 'step by step, the same answers')
      t.match(n[2] ?? '', 'Sisa percobaan: 4', 'a wrong code is counted')
      t.match(n[8] ?? '', /^429 retry-after true/, 'an immediate resend waits')
      t.equal(await citizenCount(db), 3, 'the known NIK is claimed once more (issue 14)')
      const told = await db.db.selectFrom('outbox').select('kind').where('recipient', '=', 'lain@contoh.id').execute()
      t.same(
        told.map((r) => r.kind),
        ['code', 'code'],
        'the typed contact gets a code the first time and on resend, as for any registration',
      )
    })
  },
)

t.test(
  'SECURITY 37: "Kirim kode baru" sent six times at once passes once, for a registered NIK as for a new one',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const existing = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', existing.id).execute()
      const fresh = { ...form, nik: `${siti.nik.slice(0, 12)}0009`, email: 'sasaran@contoh.id' }
      const known = {
        nik: budi.nik,
        name: 'Siapa Saja',
        day: '12',
        month: '1',
        year: '1990',
        gender: 'male',
        email: 'sasaran@contoh.id',
        phone: '',
        password: 'layang layang merah di sawah',
        password2: 'layang layang merah di sawah',
      }
      const answers: Record<string, string> = {}
      for (const [kind, fields] of [
        ['new', fresh],
        ['known', known],
      ] as const) {
        const browser = new Browser()
        await submit(browser, issuer, fields)
        const html = await (await browser.request(`${issuer}/daftar/verifikasi`)).text()
        await sql`update one_time_codes set created_at = created_at - interval '2 minutes'`.execute(db.db)
        await sql`update registration_decoys set created_at = created_at - interval '2 minutes'`.execute(db.db)
        await sql`delete from outbox`.execute(db.db)
        const all = await Promise.all(
          Array.from({ length: 6 }, () =>
            browser.request(`${issuer}/daftar/verifikasi/kirim-ulang`, { form: { _csrf: csrfFrom(html) } }),
          ),
        )
        const sent = await db.db
          .selectFrom('outbox')
          .select('id')
          .where('recipient', '=', 'sasaran@contoh.id')
          .execute()
        answers[kind] = `${all
          .map((r) => r.status)
          .sort()
          .join(',')} messages=${sent.length}`
      }
      t.equal(answers.new, '303,429,429,429,429,429 messages=1', 'a new registration: one resend passes')
      t.equal(answers.known, answers.new, 'a registered NIK: the same')
    })
  },
)
