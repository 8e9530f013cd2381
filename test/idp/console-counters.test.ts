/**
 * The counters of the officers' console (issue 15), through real HTTP without JavaScript
 * on both databases: only a counter officer chooses a counter, only an active one, it is
 * recorded on the session and in the trail, and disabling the counter closes the counter
 * functions of the sessions seated there at once.
 */
import t from 'tap'
import { addCounter, disableCounter } from '../../src/accounts/counters.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, signInAt, startIdp } from '../helpers/idp.ts'
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

t.test(
  "find a citizen: a reason from the list, the minimum shown, audited, in the citizen's activity, throttled",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const now = () => new Date()
      const { issuer } = await startIdp(t, db, {}, { now })
      const at = (path: string) => `${issuer}${path}`
      const loket3 = await addCounter(db.db, {
        name: 'Loket 3',
        location: 'MPP Kabupaten Sukamaju',
        unit: 'Disdukcapil',
      })
      const sri = await addOfficer(db.db, { username: 'sri.loket', name: 'Sri Wahyuni', roles: ['counter_officer'] })
      await addOfficer(db.db, { username: 'joko.loket', name: 'Joko Susilo', roles: ['counter_officer'] })
      await addOfficer(db.db, { username: 'admin.sistem', name: 'Andi Admin', roles: ['system_admin'] })
      const citizen = await addCitizen(db.db, budi)
      await db.db.updateTable('citizens').set({ phone: '+6281234567890' }).where('id', '=', citizen.id).execute()
      await addCitizen(db.db, siti)
      const lookups = () =>
        db.db.selectFrom('audit_events').selectAll().where('event', '=', 'citizen.looked_up').execute()

      // Without the counter role, or without a counter: refused with a clear page.
      const admin = await officerBrowser(issuer, 'admin.sistem', now)
      let res = await admin.request(at('/petugas/cari'))
      t.equal(res.status, 403)
      t.match(await res.text(), /hanya untuk petugas dengan peran Petugas loket/)
      const joko = await officerBrowser(issuer, 'joko.loket', now)
      res = await joko.request(at('/petugas/cari'))
      t.equal(res.status, 403)
      let html = await res.text()
      t.match(html, /Pilih dulu loket tempat Anda bertugas/)
      t.notMatch(html, /name="nik"/)

      const b = await officerBrowser(issuer, 'sri.loket', now)
      html = await (await b.request(at('/petugas/loket'))).text()
      await b.request(at('/petugas/loket'), { form: { _csrf: csrfFrom(html), counter: loket3.id } })
      html = await (await b.request(at('/petugas'))).text()
      t.match(html, /href="\/petugas\/cari"/)
      res = await b.request(at('/petugas/cari'))
      t.equal(res.status, 200)
      html = await res.text()
      t.match(html, /<select id="reason" name="reason"/)
      t.match(html, /Pelayanan KTP-el/)
      const csrf = csrfFrom(html)

      // Without CSRF, without a reason, with a reason not on the list: refused, nothing looked up.
      res = await b.request(at('/petugas/cari'), { form: { reason: 'ktp_el', nik: budi.nik } })
      t.equal(res.status, 403)
      for (const reason of ['', 'penasaran']) {
        res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason, nik: budi.nik } })
        t.equal(res.status, 400, `reason "${reason}"`)
        t.match(await res.text(), /Pilih alasan pencarian dari daftar/)
      }
      res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason: 'ktp_el' } })
      t.equal(res.status, 400)
      t.match(await res.text(), /Isi NIK 16 angka/)
      t.equal((await lookups()).length, 0, 'nothing searched, nothing recorded')

      // By NIK: the minimum, never the full NIK or number.
      res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason: 'ktp_el', nik: budi.nik } })
      t.equal(res.status, 200)
      html = await res.text()
      t.match(html, /Budi Santoso/)
      t.match(html, /\*{12}0001/)
      t.match(html, />1990</)
      t.match(html, /0812-\*\*\*\*-\*890/)
      for (const secret of [
        budi.nik,
        '081234567890',
        '0812-3456-7890',
        '+6281234567890',
        '1990-01-12',
        'budi@contoh.id',
      ])
        t.notOk(html.includes(secret), `not shown: ${secret}`)
      t.notMatch(html, /Siti Aminah/)

      // By phone, and by name and birth date.
      res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason: 'kartu_keluarga', phone: siti.phone } })
      html = await res.text()
      t.match(html, /Siti Aminah/)
      t.notOk(html.includes(siti.nik))
      res = await b.request(at('/petugas/cari'), {
        form: { _csrf: csrf, reason: 'bantuan_akun', name: 'budi  santoso', birthDate: '1990-01-12' },
      })
      html = await res.text()
      t.match(html, /Budi Santoso/)
      res = await b.request(at('/petugas/cari'), {
        form: { _csrf: csrf, reason: 'bantuan_akun', name: 'Budi Santoso', birthDate: '1991-01-12' },
      })
      t.match(await res.text(), /Tidak ada akun yang cocok/)

      const rows = await lookups()
      t.equal(rows.length, 4, 'each look-up recorded')
      const budiRows = rows.filter((r) => r.subject_id === citizen.id)
      t.equal(budiRows.length, 2)
      for (const r of rows) {
        t.equal(r.actor, `officer:${sri.id}`)
        t.match(r.data, { officerId: sri.id, counterId: loket3.id, counterName: 'Loket 3' })
      }
      t.match(budiRows[0]?.data, { reason: 'ktp_el', by: 'nik', location: 'MPP Kabupaten Sukamaju' })
      t.notOk(JSON.stringify(rows).includes(budi.nik), 'the trail holds no NIK searched for')

      // The citizen reads it in plain words in Akun Saya → Aktivitas.
      const citizenBrowser = new Browser()
      const signed = await signInAt(citizenBrowser, `${issuer}/akun/aktivitas`, issuer, budi)
      t.equal(signed.res.status, 200)
      html = signed.html
      t.match(html, /Dicari oleh petugas Sri Wahyuni, Loket 3, MPP Kabupaten Sukamaju: Pelayanan KTP-el/)
      t.match(html, /Dicari oleh petugas Sri Wahyuni, Loket 3, MPP Kabupaten Sukamaju: Bantuan akun Satu Pintu/)
      html = await (await citizenBrowser.request(`${issuer}/akun/aktivitas?oleh=petugas`)).text()
      t.match(html, /Dicari oleh petugas Sri Wahyuni/, 'under "Akses oleh petugas" too')

      // Throttled per officer: 30 searches in 15 minutes.
      for (let i = rows.length; i < 30; i++) {
        res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason: 'ktp_el', phone: '081300000000' } })
        t.equal(res.status, 200)
        await res.text()
      }
      res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason: 'ktp_el', nik: budi.nik } })
      t.equal(res.status, 429)
      t.ok(Number(res.headers.get('retry-after')) > 0)
      t.match(await res.text(), /Terlalu banyak pencarian/)

      // A disabled counter ends access at once.
      await disableCounter(db.db, loket3.id)
      res = await b.request(at('/petugas/cari'))
      t.equal(res.status, 403)
      t.match(await res.text(), /Loket Anda \(Loket 3\) sudah dinonaktifkan/)
      res = await b.request(at('/petugas/cari'), { form: { _csrf: csrf, reason: 'ktp_el', nik: budi.nik } })
      t.equal(res.status, 403)
    })
  },
)

t.test(
  'prove identity in person: three checks, the proof with officer and counter, refused when proven elsewhere',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const now = () => new Date()
      const { issuer } = await startIdp(t, db, {}, { now })
      const at = (path: string) => `${issuer}${path}`
      const loket3 = await addCounter(db.db, {
        name: 'Loket 3',
        location: 'MPP Kabupaten Sukamaju',
        unit: 'Disdukcapil',
      })
      const sri = await addOfficer(db.db, { username: 'sri.loket', name: 'Sri Wahyuni', roles: ['counter_officer'] })
      await addOfficer(db.db, { username: 'joko.loket', name: 'Joko Susilo', roles: ['counter_officer'] })
      const citizen = await addCitizen(db.db, budi)
      // Another account claiming the same NIK (a claim blocks nobody until it is proven).
      const other = await addCitizen(db.db, { ...budi, email: 'lain@contoh.id', phone: '081377778888' })
      const path = `/petugas/warga/${citizen.id}/verifikasi`

      const joko = await officerBrowser(issuer, 'joko.loket', now)
      t.equal((await joko.request(at(path))).status, 403, 'not without a counter')

      const b = await officerBrowser(issuer, 'sri.loket', now)
      let html = await (await b.request(at('/petugas/loket'))).text()
      await b.request(at('/petugas/loket'), { form: { _csrf: csrfFrom(html), counter: loket3.id } })
      let res = await b.request(at(path))
      t.equal(res.status, 200)
      html = await res.text()
      t.match(html, /Nama pada KTP-el sama: Budi Santoso/)
      t.match(html, /berakhiran 0001/)
      t.notOk(html.includes(budi.nik), 'the full NIK is not shown')
      const csrf = csrfFrom(html)

      res = await b.request(at(path), { form: { _csrf: csrf, checkName: 'ya', checkNik: 'ya' } })
      t.equal(res.status, 400)
      t.match(await res.text(), /Centang ketiga data/)
      res = await b.request(at(path), { form: { checkName: 'ya', checkNik: 'ya', checkBirthDate: 'ya' } })
      t.equal(res.status, 403, 'CSRF')
      let row = await db.db.selectFrom('citizens').select('nik_status').where('id', '=', citizen.id).executeTakeFirst()
      t.not(row?.nik_status, 'proven')

      res = await b.request(at(path), { form: { _csrf: csrf, checkName: 'ya', checkNik: 'ya', checkBirthDate: 'ya' } })
      t.equal(res.status, 200)
      t.match(await res.text(), /Identitas Budi Santoso sudah diverifikasi langsung/)
      row = await db.db.selectFrom('citizens').select('nik_status').where('id', '=', citizen.id).executeTakeFirst()
      t.equal(row?.nik_status, 'proven')
      const proof = await db.db.selectFrom('identity_proofs').selectAll().where('citizen_id', '=', citizen.id).execute()
      t.equal(proof.length, 1)
      t.match(proof[0], { officer_id: sri.id, location: 'Loket 3, MPP Kabupaten Sukamaju', evidence_type: 'ktp_el' })
      const lost = await db.db.selectFrom('citizens').select('nik_status').where('id', '=', other.id).executeTakeFirst()
      t.equal(lost?.nik_status, 'withdrawn', 'the other claim is withdrawn')

      // The other account cannot take the proven NIK at the counter.
      const otherPath = `/petugas/warga/${other.id}/verifikasi`
      html = await (await b.request(at(otherPath))).text()
      res = await b.request(at(otherPath), {
        form: { _csrf: csrfFrom(html), checkName: 'ya', checkNik: 'ya', checkBirthDate: 'ya' },
      })
      t.equal(res.status, 409)
      t.match(await res.text(), /sudah diverifikasi di akun lain/)

      // The citizen sees it in Aktivitas.
      const citizenBrowser = new Browser()
      const signed = await signInAt(citizenBrowser, `${issuer}/akun/aktivitas`, issuer, budi)
      t.equal(signed.res.status, 200)
      t.match(signed.html, /NIK diverifikasi petugas/)
    })
  },
)
