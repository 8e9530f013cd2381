/**
 * "Lupa kata sandi" over HTTP: the same answer whether or not an account exists, a code
 * that dies after five wrong guesses, and a new password that signs out every device.
 */
import { sql } from 'kysely'
import t from 'tap'
import { authenticateCitizen, createCitizen } from '../../src/accounts/citizens.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, startIdp } from '../helpers/idp.ts'

const newPassword = 'lampu jalan menyala terang'

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

/** Page HTML without the parts that differ per request (CSRF token, request id). */
function stable(html: string): string {
  return html.replace(/name="_csrf" value="[^"]*"/g, '').replace(/<code class="reference-code">[^<]*<\/code>/g, '')
}

/** Asks for a reset code for `identifier`; returns the code page that follows. */
async function ask(
  browser: Browser,
  issuer: string,
  identifier: string,
): Promise<{ status: number; location: string | null; cookie: string | undefined; page: string }> {
  const html = await (await browser.request(`${issuer}/lupa-sandi`)).text()
  const res = await browser.request(new URL(formAction(html, '/lupa-sandi'), issuer).toString(), {
    form: { _csrf: csrfFrom(html), identifier },
  })
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('sp_reset='))
  const page = await (await browser.request(`${issuer}${res.headers.get('location') ?? ''}`)).text()
  return { status: res.status, location: res.headers.get('location'), cookie, page }
}

async function sendCode(
  browser: Browser,
  issuer: string,
  page: string,
  fields: Record<string, string>,
): Promise<Response> {
  return browser.request(new URL(formAction(page, '/lupa-sandi/kode'), issuer).toString(), {
    form: { _csrf: csrfFrom(page), ...fields },
  })
}

async function signInToAccount(
  browser: Browser,
  issuer: string,
  username: string,
  password: string,
): Promise<Response> {
  const step = await browser.follow(`${issuer}/akun`, issuer)
  const login = await step.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username, password },
  })
  return (await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)).res
}

t.test('SECURITY 37: the answer is the same whether or not an account exists', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', citizen.id).execute()
    // An account without any verified address gets no code either.
    await createCitizen(db.db, {
      ...siti,
      email: 'siti.belum@contoh.id',
      phone: '081299990000',
      regencyName: 'Sukamaju',
    })

    const known = await ask(new Browser(), issuer, budi.nik)
    const unknown = await ask(new Browser(), issuer, '3201012505800003')
    const unverified = await ask(new Browser(), issuer, siti.nik)
    for (const r of [known, unknown, unverified]) {
      t.equal(r.status, 303)
      t.equal(r.location, '/lupa-sandi/kode')
      t.match(r.cookie, /^sp_reset=[0-9a-f-]{36}; Max-Age=3600; Path=\/lupa-sandi; HttpOnly; SameSite=Lax$/)
    }
    t.equal(stable(known.page), stable(unknown.page), 'the code page is identical')
    t.equal(stable(known.page), stable(unverified.page))
    t.match(known.page, 'Bila ada akun dengan data tersebut')
    const sent = await db.db.selectFrom('outbox').select(['recipient']).execute()
    t.same(
      sent.map((s) => s.recipient),
      [budi.email],
      'a code only to the verified address of the account that exists',
    )

    // A guess against the made-up flow reads exactly like a wrong guess against the real one.
    const b1 = new Browser()
    const k = await ask(b1, issuer, budi.email)
    const b2 = new Browser()
    const u = await ask(b2, issuer, 'tidak.ada@contoh.id')
    const wrongKnown = await sendCode(b1, issuer, k.page, {
      code: '999999' === (await latestCode(db, budi.email)) ? '888888' : '999999',
      password: newPassword,
      password2: newPassword,
    })
    const wrongUnknown = await sendCode(b2, issuer, u.page, {
      code: '999999',
      password: newPassword,
      password2: newPassword,
    })
    t.equal(wrongKnown.status, 400)
    t.equal(wrongUnknown.status, 400)
    t.equal(stable(await wrongKnown.text()), stable(await wrongUnknown.text()))
  })
})

t.test(
  'the code page words its hints by what was typed — a phone number the SMS, an e-mail the e-mail, a NIK both — the same whether or not an account exists',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db, budi)
      await db.db
        .updateTable('citizens')
        .set({ email_verified: true, phone_verified: true })
        .where('id', '=', citizen.id)
        .execute()
      const hint = (html: string) => /<p class="hint link-row">([^<]*)<\/p>/.exec(html)?.[1] ?? ''

      for (const [label, known, unknown] of [
        ['a phone number', budi.phone, '0813 0000 1111'],
        ['an e-mail address', budi.email, 'tidak.ada@contoh.id'],
        ['a NIK', budi.nik, '3201012505800003'],
      ] as const) {
        const k = await ask(new Browser(), issuer, known)
        const u = await ask(new Browser(), issuer, unknown)
        t.equal(k.location, u.location, `${label}: the same next page`)
        t.equal(stable(k.page), stable(u.page), `${label}: the same code page`)
        const text = hint(k.page)
        if (label === 'a phone number') {
          t.equal(k.location, '/lupa-sandi/kode?lewat=sms')
          t.match(text, 'SMS')
          t.match(text, 'sinyal')
          t.notMatch(text, /spam|email/i, 'no word of a spam folder for an SMS')
        } else if (label === 'an e-mail address') {
          t.equal(k.location, '/lupa-sandi/kode?lewat=email')
          t.match(text, 'folder spam')
          t.notMatch(text, /SMS|sinyal/, 'no word of signal for an e-mail')
        } else {
          t.equal(k.location, '/lupa-sandi/kode')
          t.match(text, 'SMS')
          t.match(text, 'folder spam')
        }
      }
      const b = new Browser()
      const asked = await ask(b, issuer, budi.phone)
      const wrong = await sendCode(b, issuer, asked.page, {
        code: '999999' === (await latestCode(db, '+6281234567890')) ? '888888' : '999999',
        password: newPassword,
        password2: newPassword,
      })
      t.equal(wrong.status, 400)
      const again = await wrong.text()
      t.match(again, 'Kode tidak cocok')
      t.match(hint(again), 'sinyal', 'the refused form keeps the SMS wording')

      const en = await (await b.request(`${issuer}/lupa-sandi/kode?lewat=sms&lang=en`)).text()
      t.match(hint(en), 'signal')
      t.notMatch(hint(en), /spam/i)
    })
  },
)

t.test('five wrong codes kill the code; the right one after that does nothing', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', citizen.id).execute()
    const browser = new Browser()
    const { page } = await ask(browser, issuer, budi.email)
    const code = await latestCode(db, budi.email)
    const wrong = code === '123456' ? '654321' : '123456'
    let first = ''
    for (let i = 0; i < 5; i++) {
      const res = await sendCode(browser, issuer, page, { code: wrong, password: newPassword, password2: newPassword })
      t.equal(res.status, 400)
      const html = stable(await res.text())
      if (i === 0) first = html
      else t.equal(html, first, 'the same words every time: nothing counts down for an onlooker')
      t.match(html, 'Kode tidak cocok atau sudah tidak berlaku')
    }
    const late = await sendCode(browser, issuer, page, { code, password: newPassword, password2: newPassword })
    t.equal(late.status, 400)
    t.equal(stable(await late.text()), first)
    t.equal((await authenticateCitizen(db.db, budi.nik, budi.password)).ok, true, 'the old password still works')
    t.equal((await authenticateCitizen(db.db, budi.nik, newPassword)).ok, false)
  })
})

t.test('a new password ends every session of the account', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db, budi)
    await db.db.updateTable('citizens').set({ phone_verified: true }).where('id', '=', citizen.id).execute()

    const elsewhere = new Browser()
    t.equal(
      (await signInToAccount(elsewhere, issuer, budi.nik, budi.password)).status,
      200,
      'signed in on another device',
    )

    const browser = new Browser()
    const { page } = await ask(browser, issuer, budi.phone)
    const smsTo = await db.db.selectFrom('outbox').select(['recipient', 'channel']).executeTakeFirstOrThrow()
    t.same(smsTo, { recipient: '+6281234567890', channel: 'sms' }, 'asked by phone number, sent by SMS')
    const code = await latestCode(db, '+6281234567890')

    await t.test('the checks that need no account come first and keep the code', async (t) => {
      const mismatch = await sendCode(browser, issuer, page, {
        code,
        password: newPassword,
        password2: 'lain sama sekali ya',
      })
      t.equal(mismatch.status, 400)
      const html = await mismatch.text()
      t.match(html, 'Kedua kata sandi tidak sama')
      t.match(html, 'href="#password2"')
      const common = await sendCode(browser, issuer, page, { code, password: 'password123', password2: 'password123' })
      t.equal(common.status, 400)
      t.match(await common.text(), 'terlalu umum')
      const noCsrf = await browser.request(`${issuer}/lupa-sandi/kode`, {
        form: { code, password: newPassword, password2: newPassword },
      })
      t.equal(noCsrf.status, 403)
    })

    await t.test(
      "a password from the citizen's own data is refused after the code, which then is not needed again",
      async (t) => {
        const own = await sendCode(browser, issuer, page, {
          code,
          password: 'Budi Santoso 1990',
          password2: 'Budi Santoso 1990',
        })
        t.equal(own.status, 400)
        const html = await own.text()
        t.match(html, 'dibuat dari nama Anda')
        t.match(html, 'Kode Anda sudah benar')
        t.notMatch(html, 'id="code"', 'no code field any more')
        const ok = await sendCode(browser, issuer, html, { password: newPassword, password2: newPassword })
        t.equal(ok.status, 303)
        t.equal(ok.headers.get('location'), '/lupa-sandi/selesai')
        t.match(ok.headers.getSetCookie().join('\n'), /sp_reset=;/, 'the flow cookie is cleared')
      },
    )

    t.equal((await authenticateCitizen(db.db, budi.nik, newPassword)).ok, true, 'the new password works')
    t.equal((await authenticateCitizen(db.db, budi.nik, budi.password)).ok, false, 'the old one does not')
    const sessions = await db.db
      .selectFrom('oidc_payloads')
      .select('id')
      .where('account_id', '=', citizen.id)
      .where('model', '=', 'Session')
      .execute()
    t.equal(sessions.length, 0, 'no session of the account is left')
    const again = await elsewhere.request(`${issuer}/akun`)
    t.equal(again.status, 303, 'the other device must sign in again')
    t.match(again.headers.get('location'), /\/auth\?client_id=satupintu-akun/)
    const audit = await db.db
      .selectFrom('audit_events')
      .select(['event', 'actor'])
      .where('subject_id', '=', citizen.id)
      .where('event', '=', 'account.password_changed')
      .execute()
    t.same(audit, [{ event: 'account.password_changed', actor: `citizen:${citizen.id}` }])
  })
})

t.test('the reset pages refuse what they cannot use', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()
    const direct = await browser.request(`${issuer}/lupa-sandi/kode`)
    t.equal(direct.status, 303, 'no flow: back to the start')
    t.equal(direct.headers.get('location'), '/lupa-sandi')
    const html = await (await browser.request(`${issuer}/lupa-sandi`)).text()
    t.match(html, 'autocomplete="username"')
    const bad = await browser.request(`${issuer}/lupa-sandi`, {
      form: { _csrf: csrfFrom(html), identifier: 'bukan apa-apa' },
    })
    t.equal(bad.status, 400)
    t.match(await bad.text(), 'Tulis NIK (16 angka), alamat email, atau nomor HP Indonesia')
    const nul = await browser.request(`${issuer}/lupa-sandi`, {
      form: { _csrf: csrfFrom(html), identifier: 'a\u0000b' },
    })
    t.equal(nul.status, 400)
    t.match(await nul.text(), 'karakter yang tidak dapat dipakai')
    const forged = new Browser()
    forged.cookies.set('sp_reset', {
      value: 'ok.00000000-0000-4000-8000-000000000000.9999999999.forged',
      path: '/lupa-sandi',
    })
    const res = await forged.request(`${issuer}/lupa-sandi/kode`)
    t.equal(res.status, 303, 'a forged "code already checked" state is ignored')
  })
})

t.test(
  'SECURITY 10: a reset asked for a known and for an unknown identifier does the same work: the same statements, one message queued, one audit row',
  async (t) => {
    const { sendResetCode } = await import('../../src/idp/account/password-reset.ts')
    const { classifyIdentifier } = await import('../../src/accounts/identifiers.ts')
    await eachDatabase(t, async (t, db) => {
      const citizen = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', citizen.id).execute()
      const other = await addCitizen(db.db, siti)
      await db.db.updateTable('citizens').set({ phone_verified: true }).where('id', '=', other.id).execute()
      /** Runs one reset request on a database that counts every statement by its kind. */
      async function work(identifier: string): Promise<{ statements: string[]; sends: number }> {
        const statements: string[] = []
        // Only statements that ran (a sub-query is built, but not run, on its own).
        const kinds = new Map<string, string>()
        const counting = db.db.withPlugin({
          transformQuery: (args) => {
            kinds.set(args.queryId.queryId, args.node.kind)
            return args.node
          },
          transformResult: async (args) => {
            statements.push(kinds.get(args.queryId.queryId) ?? '?')
            return args.result
          },
        })
        let sends = 0
        const classified = classifyIdentifier(identifier)
        if (classified.kind === 'invalid') throw new Error('invalid identifier')
        const { databaseOutbox } = await import('../../src/accounts/outbox.ts')
        await sendResetCode(counting, classified, {
          ip: '203.0.113.1',
          outbox: (trx) => {
            const real = databaseOutbox(trx)
            return {
              send: async (m) => {
                sends++
                await real.send(m)
              },
            }
          },
        })
        return { statements, sends }
      }
      const known = await work(budi.nik)
      const unknown = await work('3201012505800003')
      const knownPhone = await work(siti.phone)
      const unknownPhone = await work('081399998888')
      t.equal(known.sends, 1, 'the known NIK queues one message')
      t.equal(unknown.sends, 1, 'the unknown NIK renders and queues one too (then undone)')
      t.same(unknown.statements, known.statements, `the same statements in the same order (${known.statements.length})`)
      t.same(unknownPhone.statements, knownPhone.statements, 'and by phone number')
      const toNobody = await db.db
        .selectFrom('outbox')
        .select('id')
        .where('recipient', 'not in', [budi.email, '+6281298765432'])
        .execute()
      t.equal(toNobody.length, 0, 'nothing queued for nobody is left behind')
      // Asked again at once: nothing new is sent, and still the same work.
      const again = await work(budi.nik)
      t.equal(again.sends, 1, 'rendered and queued (then undone)')
      t.same(again.statements, known.statements, 'a too-soon request does the same statements as a sending one')
      const sentToBudi = await db.db.selectFrom('outbox').select('id').where('recipient', '=', budi.email).execute()
      t.equal(sentToBudi.length, 1, 'and nothing more was sent')
    })
  },
)

t.test(
  "SECURITY 39: a reset code belongs to the flow that asked for it: a stranger who asks for the same NIK can neither learn, burn nor retire the owner's code",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', citizen.id).execute()
      const owner = new Browser()
      const asked = await ask(owner, issuer, budi.nik)
      const code = await latestCode(db, budi.email)
      const ownerToken = owner.cookies.get('sp_reset')?.value

      // A stranger asks right after (no new code is sent yet): the cookie names nothing of the owner's.
      const stranger = new Browser()
      const strangerAsk = await ask(stranger, issuer, budi.nik)
      t.not(stranger.cookies.get('sp_reset')?.value, ownerToken, "the stranger does not get the owner's code id")
      const wrong = code === '123456' ? '654321' : '123456'
      for (let i = 0; i < 6; i++)
        await sendCode(stranger, issuer, strangerAsk.page, {
          code: wrong,
          password: newPassword,
          password2: newPassword,
        })
      // Even the right code, from the stranger's flow, is refused: it is not that flow's code.
      const stolen = await sendCode(stranger, issuer, strangerAsk.page, {
        code,
        password: 'kata sandi si penyusup',
        password2: 'kata sandi si penyusup',
      })
      t.equal(stolen.status, 400, "the owner's code does not work in another flow")

      // A minute later the stranger asks again and a code is sent to the owner: the owner's first code still works.
      await sql`update one_time_codes set created_at = created_at - interval '2 minutes' where citizen_id = ${citizen.id}`.execute(
        db.db,
      )
      await ask(new Browser(), issuer, budi.nik)
      const live = await db.db
        .selectFrom('one_time_codes')
        .select('id')
        .where('citizen_id', '=', citizen.id)
        .where('consumed_at', 'is', null)
        .execute()
      t.equal(live.length, 2, "the stranger's request did not retire the owner's code")

      const res = await sendCode(owner, issuer, asked.page, { code, password: newPassword, password2: newPassword })
      t.equal(res.status, 303, "the owner's code, from the owner's flow, works after all that")
      t.equal((await authenticateCitizen(db.db, budi.nik, newPassword)).ok, true)
      const left = await db.db
        .selectFrom('one_time_codes')
        .select('id')
        .where('citizen_id', '=', citizen.id)
        .where('consumed_at', 'is', null)
        .execute()
      t.equal(left.length, 0, 'and every other reset code of the account died with the old password')
    })
  },
)

t.test(
  "SECURITY 39: a stranger asking for resets of the NIK from elsewhere never uses up the owner's codes; one address is held to a wait and a cap, and all together to a ceiling",
  async (t) => {
    const { sendResetCode } = await import('../../src/idp/account/password-reset.ts')
    const { classifyIdentifier } = await import('../../src/accounts/identifiers.ts')
    const { defaultOtpPolicy } = await import('../../src/accounts/otp.ts')
    await eachDatabase(t, async (t, db) => {
      const citizen = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', citizen.id).execute()
      const nik = classifyIdentifier(budi.nik)
      if (nik.kind === 'invalid') throw new Error('invalid NIK')
      const live = async (token: string) =>
        (await db.db
          .selectFrom('one_time_codes')
          .select('id')
          .where('id', '=', token)
          .where('citizen_id', '=', citizen.id)
          .where('consumed_at', 'is', null)
          .executeTakeFirst()) !== undefined
      const sent = async () =>
        Number(
          (
            await db.db
              .selectFrom('outbox')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('recipient', '=', budi.email)
              .executeTakeFirstOrThrow()
          ).n,
        )
      /** Ages every code of the account, as if `seconds` had passed. */
      const later = (seconds: number) =>
        sql`update one_time_codes set created_at = created_at - make_interval(secs => ${seconds}) where citizen_id = ${citizen.id}`.execute(
          db.db,
        )

      // A stranger, from one address, asks as fast as the limits let them: one code a minute, five an hour.
      const stranger = '203.0.113.9'
      let strangerToken: string | undefined
      const strangerCodes: boolean[] = []
      for (let i = 0; i < 7; i++) {
        const before = await sent()
        strangerToken = await sendResetCode(db.db, nik, { ip: stranger, currentToken: strangerToken })
        strangerCodes.push((await sent()) > before && (await live(strangerToken)))
        await later(61)
      }
      t.same(
        strangerCodes,
        [true, true, true, true, true, false, false],
        'five codes an hour from one address, then none',
      )
      t.equal(await sent(), defaultOtpPolicy.maxPerHour, 'five messages went to the owner')

      // The owner, from their own address, still gets a code at once.
      const ownerToken = await sendResetCode(db.db, nik, { ip: '198.51.100.20' })
      t.ok(await live(ownerToken), "the owner's flow names a real, live code")
      t.equal(await sent(), defaultOtpPolicy.maxPerHour + 1, 'and it was sent')

      // From the same address, another flow right away waits (one message a minute per address),
      // and so does the same flow asking again.
      const quick = await sendResetCode(db.db, nik, { ip: '198.51.100.20' })
      t.notOk(await live(quick), 'a new flow from the same address within the minute gets no code')
      const again = await sendResetCode(db.db, nik, { ip: '198.51.100.20', currentToken: ownerToken })
      t.equal(again, ownerToken, 'the same flow asking again keeps its code')
      t.equal(await sent(), defaultOtpPolicy.maxPerHour + 1, 'and nothing more was sent')

      // Many addresses together stop at the ceiling.
      let issued = defaultOtpPolicy.maxPerHour + 1
      for (let i = 0; i < 30; i++) {
        if (await live(await sendResetCode(db.db, nik, { ip: `192.0.2.${i + 1}` }))) issued++
      }
      t.equal(
        issued,
        defaultOtpPolicy.maxResetsPerCitizenPerHour,
        `at most ${defaultOtpPolicy.maxResetsPerCitizenPerHour} reset codes an hour for one account, from all addresses`,
      )
    })
  },
)

t.test(
  "SECURITY 38: strangers who fill the hourly ceiling of reset codes from many addresses do not starve the owner's known device; one IPv6 /56 counts as one address",
  async (t) => {
    const { sendResetCode } = await import('../../src/idp/account/password-reset.ts')
    const { classifyIdentifier } = await import('../../src/accounts/identifiers.ts')
    const { defaultOtpPolicy } = await import('../../src/accounts/otp.ts')
    const { newDeviceId, recordSignInDevice } = await import('../../src/accounts/devices.ts')
    await eachDatabase(t, async (t, db) => {
      const citizen = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ email_verified: true }).where('id', '=', citizen.id).execute()
      const nik = classifyIdentifier(budi.nik)
      if (nik.kind === 'invalid') throw new Error('invalid NIK')
      const sent = async () =>
        (
          await db.db
            .selectFrom('outbox')
            .select('id')
            .where('recipient', '=', budi.email)
            .where('kind', '=', 'code')
            .execute()
        ).length
      // Twenty /64s of one /56 (a household's allocation): five codes, as from one address.
      for (let i = 0; i < 20; i++)
        await sendResetCode(db.db, nik, { ip: `2001:db8:1234:56${i.toString(16).padStart(2, '0')}::1` })
      t.equal(await sent(), 1, 'one /56 gets one code at once (the wait per address)')
      // Strangers from many IPv4 addresses fill the ceiling.
      for (let i = 0; i < 40; i++) await sendResetCode(db.db, nik, { ip: `203.0.113.${i + 1}` })
      t.equal(await sent(), defaultOtpPolicy.maxResetsPerCitizenPerHour, 'the ceiling holds for addresses')
      // The owner, on a new device: none left (the residual, in docs/operations.md).
      const fresh = await sendResetCode(db.db, nik, { ip: '198.51.100.50' })
      t.notOk(
        await db.db.selectFrom('one_time_codes').select('id').where('id', '=', fresh).executeTakeFirst(),
        'a new device waits for the hour',
      )
      // The owner, on a phone that signed in before: a code at once.
      const device = newDeviceId()
      await recordSignInDevice(db.db, { citizenId: citizen.id, deviceId: device, userAgent: 'uji' })
      const own = await sendResetCode(db.db, nik, { ip: '198.51.100.50', deviceId: device })
      t.ok(
        await db.db
          .selectFrom('one_time_codes')
          .select('id')
          .where('id', '=', own)
          .where('consumed_at', 'is', null)
          .executeTakeFirst(),
        'the known device gets a live code',
      )
      t.equal(await sent(), defaultOtpPolicy.maxResetsPerCitizenPerHour + 1, 'and it was sent')
      // A device cookie the account never signed in from is a stranger's.
      const forged = await sendResetCode(db.db, nik, { ip: '198.51.100.51', deviceId: newDeviceId() })
      t.notOk(
        await db.db.selectFrom('one_time_codes').select('id').where('id', '=', forged).executeTakeFirst(),
        'an unknown device cookie gets nothing',
      )
    })
  },
)
