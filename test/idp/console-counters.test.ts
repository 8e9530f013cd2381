/**
 * The counters of the officers' console (issue 15), through real HTTP without JavaScript
 * on both databases: only a counter officer chooses a counter, only an active one, it is
 * recorded on the session and in the trail, and disabling the counter closes the counter
 * functions of the sessions seated there at once.
 */
import t from 'tap'
import { addCounter, disableCounter } from '../../src/accounts/counters.ts'
import { eachDatabase } from '../helpers/db.ts'
import { csrfFrom, startIdp } from '../helpers/idp.ts'
import { addOfficer, officerBrowser } from '../helpers/officers.ts'

t.test('a counter officer chooses an active counter; others cannot; a disabled counter ends it', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const now = () => new Date()
    const { issuer } = await startIdp(t, db, {}, { now })
    const at = (path: string) => `${issuer}${path}`
    const loket3 = await addCounter(db.db, { name: 'Loket 3', location: 'MPP Kabupaten Sukamaju', unit: 'Disdukcapil' })
    const loket4 = await addCounter(db.db, { name: 'Loket 4', location: 'MPP Kabupaten Sukamaju', unit: 'DPMPTSP' })
    const closed = await addCounter(db.db, { name: 'Loket 9', location: 'MPP Kabupaten Sukamaju', unit: 'Samsat' })
    await disableCounter(db.db, closed.id)
    const sri = await addOfficer(db.db, { username: 'sri.loket', name: 'Sri Wahyuni', roles: ['counter_officer'] })
    await addOfficer(db.db, { username: 'admin.sistem', name: 'Andi Admin', roles: ['system_admin'] })

    // An officer without the counter role: no counter to choose, a clear page.
    const admin = await officerBrowser(issuer, 'admin.sistem', now)
    let res = await admin.request(at('/petugas'))
    let html = await res.text()
    const adminCsrf = csrfFrom(html)
    t.match(html, /Layanan loket hanya untuk petugas dengan peran Petugas loket/)
    t.notMatch(html, /href="\/petugas\/loket"/)
    res = await admin.request(at('/petugas/loket'))
    t.equal(res.status, 403)
    html = await res.text()
    t.match(html, /<h1>Layanan loket tidak dapat dibuka<\/h1>/)
    t.notMatch(html, /Loket 3/, 'not even the list of counters')
    res = await admin.request(at('/petugas/loket'), { form: { _csrf: adminCsrf, counter: loket3.id } })
    t.equal(res.status, 403, 'nor a seat by posting')

    // The counter officer: not yet seated.
    const b = await officerBrowser(issuer, 'sri.loket', now)
    res = await b.request(at('/petugas'))
    html = await res.text()
    t.match(html, /Anda belum memilih loket/)
    res = await b.request(at('/petugas/loket'))
    t.equal(res.status, 200)
    html = await res.text()
    t.match(html, /Loket 3/)
    t.match(html, /Loket 4/)
    t.notMatch(html, /Loket 9/, 'a disabled counter is not offered')
    t.match(html, /type="radio"[^>]*name="counter"/)

    // Without CSRF, with nothing, with a disabled or unknown counter: refused.
    res = await b.request(at('/petugas/loket'), { form: { counter: loket3.id } })
    t.equal(res.status, 403)
    res = await b.request(at('/petugas/loket'), { form: { _csrf: csrfFrom(html) } })
    t.equal(res.status, 400)
    t.match(await res.text(), /Pilih salah satu loket/)
    for (const id of [closed.id, '00000000-0000-4000-8000-000000000000', 'bukan-uuid']) {
      res = await b.request(at('/petugas/loket'), { form: { _csrf: csrfFrom(html), counter: id } })
      t.equal(res.status, 400, id)
      t.match(await res.text(), /Loket itu tidak aktif lagi/)
    }

    res = await b.request(at('/petugas/loket'), { form: { _csrf: csrfFrom(html), counter: loket3.id } })
    t.equal(res.status, 303)
    t.equal(res.headers.get('location'), '/petugas?pesan=loket')
    res = await b.request(at('/petugas?pesan=loket'))
    html = await res.text()
    t.match(html, /Anda sekarang bertugas di Loket 3, MPP Kabupaten Sukamaju/)
    t.match(html, /Anda bertugas di Loket 3, MPP Kabupaten Sukamaju \(Disdukcapil\)/)
    const seated = await db.db
      .selectFrom('officer_sessions')
      .select('counter_id')
      .where('officer_id', '=', sri.id)
      .execute()
    t.same(
      seated.filter((s) => s.counter_id !== null).map((s) => s.counter_id),
      [loket3.id],
      'recorded on the session',
    )
    const chosen = await db.db
      .selectFrom('audit_events')
      .select(['actor', 'data'])
      .where('event', '=', 'officer.counter_chosen')
      .execute()
    t.equal(chosen.length, 1)
    t.equal(chosen[0]?.actor, `officer:${sri.id}`)
    t.match(chosen[0]?.data, { counterId: loket3.id, officerId: sri.id })

    // The choice page marks the current counter; changing it works.
    html = await (await b.request(at('/petugas/loket'))).text()
    t.match(html, new RegExp(`value="${loket3.id}" checked`))
    res = await b.request(at('/petugas/loket'), { form: { _csrf: csrfFrom(html), counter: loket4.id } })
    t.equal(res.status, 303)
    html = await (await b.request(at('/petugas'))).text()
    t.match(html, /Anda bertugas di Loket 4/)

    // Disabled: the session's counter no longer counts, and the page says so.
    const done = await disableCounter(db.db, loket4.id)
    t.equal(done?.seatedSessions, 1)
    html = await (await b.request(at('/petugas'))).text()
    t.match(html, /Loket 4 sudah dinonaktifkan/)
    t.notMatch(html, /Anda bertugas di/)
    t.match(html, /Pilih loket/)
  })
})
