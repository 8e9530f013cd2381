// SECURITY.md line 35: contact changes and the data export need a fresh sign-in, and the
// old contact is told of a change.
import { sql } from 'kysely'
import t from 'tap'
import { findCitizenById, markEmailVerified, markPhoneVerified } from '../../src/accounts/citizens.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, signInAt, startIdp } from '../helpers/idp.ts'

/** Moves every session of the account's sign-in `seconds` into the past. */
async function ageSignIn(db: TestDatabase, accountId: string, seconds: number): Promise<void> {
  await sql`update oidc_payloads set payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - ${seconds}::bigint))
    where model = 'Session' and account_id = ${accountId}`.execute(db.db)
}

async function outboxTo(
  db: TestDatabase,
  recipient: string,
): Promise<{ channel: string; subject: string | null; body: string }[]> {
  return db.db.selectFrom('outbox').select(['channel', 'subject', 'body']).where('recipient', '=', recipient).execute()
}

t.test(
  'SECURITY 35: a contact change with a stale sign-in is sent through the sign-in page and changes nothing',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      const browser = new Browser()
      const signed = await signInAt(browser, `${issuer}/akun/kontak`, issuer, budi)
      t.equal(signed.res.status, 200, 'a fresh sign-in may open the form')
      const token = csrfFrom(signed.html)
      await ageSignIn(db, citizen.id, 3600)

      const post = await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: token, email: 'baru@contoh.id', phone: budi.phone },
      })
      t.equal(post.status, 303)
      const location = new URL(post.headers.get('location') ?? '', issuer)
      t.equal(location.pathname, '/auth')
      t.equal(location.searchParams.get('prompt'), 'login', 'the password is asked even though the session lives')
      t.equal(location.searchParams.get('state'), '/akun/kontak', 'and the citizen comes back to the form')
      t.equal((await findCitizenById(db.db, citizen.id))?.email, budi.email, 'nothing changed')

      const page = await browser.request(`${issuer}/akun/kontak`)
      t.equal(page.status, 303, 'the form itself asks for a fresh sign-in first')

      // The re-authentication step, and back.
      const back = await signInAt(browser, `${issuer}/akun/kontak`, issuer, budi)
      t.equal(back.res.status, 200)
      t.ok(back.url.endsWith('/akun/kontak'), `back on the form (${back.url})`)
      const changed = await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(back.html), email: 'baru@contoh.id', phone: budi.phone },
      })
      t.equal(changed.status, 303)
      t.equal(changed.headers.get('location'), '/akun/verifikasi?jenis=email')
      t.equal((await findCitizenById(db.db, citizen.id))?.email, 'baru@contoh.id')
    })
  },
)

t.test(
  'SECURITY 35: the data export with a stale sign-in is sent through the sign-in page and nothing is exported',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      const browser = new Browser()
      const signed = await signInAt(browser, `${issuer}/akun/data`, issuer, budi)
      t.equal(signed.res.status, 200)
      const token = csrfFrom(signed.html)
      await ageSignIn(db, citizen.id, 3600)
      const res = await browser.request(`${issuer}/akun/data`, { form: { _csrf: token } })
      t.equal(res.status, 303)
      const location = new URL(res.headers.get('location') ?? '', issuer)
      t.equal(location.searchParams.get('prompt'), 'login')
      t.equal(location.searchParams.get('state'), '/akun/data')
      t.notMatch(res.headers.get('content-type') ?? '', /json/)
      const exported = await db.db
        .selectFrom('audit_events')
        .select('id')
        .where('event', '=', 'data.exported')
        .execute()
      t.equal(exported.length, 0, 'no export happened')

      const back = await signInAt(browser, `${issuer}/akun/data`, issuer, budi)
      const ok = await browser.request(`${issuer}/akun/data`, { form: { _csrf: csrfFrom(back.html) } })
      t.equal(ok.status, 200)
      t.match(ok.headers.get('content-disposition') ?? '', /attachment/)
    })
  },
)

t.test(
  'SECURITY 35: the old verified e-mail address and phone are told of a change; an unverified old one is not',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      await markPhoneVerified(db.db, citizen.id, budi.phone)
      const browser = new Browser()
      const signed = await signInAt(browser, `${issuer}/akun/kontak`, issuer, budi)
      const res = await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(signed.html), email: 'baru@contoh.id', phone: '081311112222' },
      })
      t.equal(res.status, 303)
      const toOldEmail = (await outboxTo(db, budi.email)).filter((m) => /Alamat e-mail/.test(m.subject ?? ''))
      t.equal(toOldEmail.length, 1, 'one e-mail to the old address')
      t.match(toOldEmail[0]?.subject, /Alamat e-mail akun Satu Pintu diganti/, 'in Bahasa Indonesia')
      t.match(toOldEmail[0]?.body, /b\*\*\*@contoh\.id/, 'the new address only masked')
      t.notMatch(toOldEmail[0]?.body, /baru@contoh\.id/)
      const toOldPhone = (await outboxTo(db, '+6281234567890')).filter((m) => /nomor ponsel/.test(m.body))
      t.equal(toOldPhone.length, 1, 'one SMS to the old number')
      t.equal(toOldPhone[0]?.channel, 'sms')

      // Now both contacts are new and unverified: another change tells nobody.
      const page = await (await browser.request(`${issuer}/akun/kontak`)).text()
      await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(page), email: 'lagi@contoh.id', phone: '081311112222' },
      })
      t.equal(
        (await outboxTo(db, 'baru@contoh.id')).filter((m) => /diganti/.test(m.subject ?? '')).length,
        0,
        'an unverified old address is not told',
      )
    })
  },
)

t.test(
  'SECURITY 35: a change of one contact is told to the other verified contact too (e-mail and phone)',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      await markPhoneVerified(db.db, citizen.id, budi.phone)
      const browser = new Browser()
      const signed = await signInAt(browser, `${issuer}/akun/kontak`, issuer, budi)
      // Only the e-mail changes: the phone, untouched and verified, hears of it as well.
      const res = await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(signed.html), email: 'baru@contoh.id', phone: budi.phone },
      })
      t.equal(res.status, 303)
      t.equal(
        (await outboxTo(db, budi.email)).filter((m) => /diganti/.test(m.subject ?? '')).length,
        1,
        'the old e-mail address is told',
      )
      const sms = (await outboxTo(db, '+6281234567890')).filter((m) => /alamat e-mail/.test(m.body))
      t.equal(sms.length, 1, 'the verified phone is told of the e-mail change')
      t.equal(sms[0]?.channel, 'sms')
      t.notMatch(sms[0]?.body ?? '', /baru@contoh\.id/, 'never the new address in full')

      // Now the phone changes: the old phone is told; the new e-mail, not verified yet, is not.
      const page = await (await browser.request(`${issuer}/akun/kontak`)).text()
      await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(page), email: 'baru@contoh.id', phone: '081311112222' },
      })
      t.equal(
        (await outboxTo(db, '+6281234567890')).filter((m) => /nomor ponsel/.test(m.body)).length,
        1,
        'the old phone is told',
      )
      t.equal(
        (await outboxTo(db, 'baru@contoh.id')).filter((m) => /diganti/.test(m.subject ?? '')).length,
        0,
        'an unverified contact is not told',
      )
    })
  },
)
