import { createHash } from 'node:crypto'
import t from 'tap'
import { markEmailVerified, markPhoneVerified, setCitizenPassword } from '../../src/accounts/citizens.ts'
import { deviceLabel, recordSignInDevice } from '../../src/accounts/devices.ts'
import {
  noticeKinds,
  noticePreferences,
  queueNotice,
  renderNotice,
  setDocumentDigest,
  setNoticeLocale,
  type NoticeData,
  type NoticeKind,
} from '../../src/accounts/notices.ts'
import type { Database } from '../../src/db/database.ts'
import type { Kysely } from 'kysely'
import { queueDocumentDigests, startOfLocalDay } from '../../src/documents/access-digest.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'

const T = new Date('2026-12-01T03:04:00Z') // 10:04 WIB

const samples: { [K in NoticeKind]: NoticeData[K] } = {
  password_changed: { at: T },
  password_reset: { at: T },
  new_device_sign_in: { at: T, device: 'Chrome di Android' },
  second_factor_added: { at: T, factor: 'totp' },
  second_factor_removed: { at: T, factor: 'passkey' },
  passkey_renamed: { at: T },
  recovery_code_used: { at: T, left: 9 },
  recovery_codes_renewed: { at: T },
  contact_changed: { at: T, field: 'email', newContact: 'b***@baru.id' },
  officer_lookup: { at: T, officer: null, reason: 'Pelayanan di loket 3' },
  documents_fetched_digest: {
    day: '30 November 2026',
    fetches: [{ agency: 'Dinas Contoh', document: 'KTP', count: 2 }],
  },
  sign_in_attempts: { since: T, failures: 12, locked: true },
  identity_proven: { at: T, location: 'MPP Sukamaju, loket 2' },
  nik_withdrawn: { at: T },
}

async function verifiedCitizen(
  db: Kysely<Database>,
  who: typeof budi | typeof siti = budi,
  contacts: { email?: boolean; phone?: boolean } = { email: true, phone: true },
) {
  const c = await addCitizen(db, who, { verified: false })
  if (contacts.email) await markEmailVerified(db, c.id, who.email)
  if (contacts.phone) await markPhoneVerified(db, c.id, c.phone ?? '')
  return c
}

t.test('every notice kind has Indonesian and English wording: plain text, HTML and one short SMS', async (t) => {
  for (const kind of Object.keys(noticeKinds) as NoticeKind[]) {
    const id = renderNotice(kind, samples[kind] as never, 'id', { issuer: 'https://akun.sukamaju.go.id' })
    const en = renderNotice(kind, samples[kind] as never, 'en', { issuer: 'https://akun.sukamaju.go.id' })
    t.not(id.subject, en.subject, `${kind}: the two languages differ`)
    for (const [locale, r] of [
      ['id', id],
      ['en', en],
    ] as const) {
      t.ok(r.sms.length <= 160, `${kind}/${locale}: the SMS fits one segment (${r.sms.length})`)
      t.match(r.sms, /^Satu Pintu: /, `${kind}/${locale}: the SMS says who sends it`)
      t.match(r.html, new RegExp(`^<!doctype html><html lang="${locale}">`), `${kind}/${locale}: HTML in its language`)
      t.ok(r.text.includes(r.text.split('\n')[0] ?? '-'), `${kind}/${locale}: text`)
      t.match(r.text, locale === 'id' ? /Jangan membalas\./ : /Do not reply\./)
      t.match(r.html, /href="https:\/\/akun\.sukamaju\.go\.id\/akun"/, `${kind}/${locale}: links to Akun Saya`)
    }
  }
  const text = renderNotice('password_changed', { at: T }, 'id', { timeZone: 'Asia/Jayapura' }).text
  t.match(text, /1 Desember 2026 (pukul )?12\.04 WIT/, "times are shown in the regency's zone")
  t.match(renderNotice('password_changed', { at: T }, 'en').text, /1 December 2026.*10:04/, 'WIB by default')
})

t.test('data in a notice is escaped in its HTML part', async (t) => {
  const r = renderNotice(
    'officer_lookup',
    { at: T, officer: '<b>Petugas</b>', reason: '"><script>alert(1)</script>' },
    'id',
  )
  t.notOk(r.html.includes('<script>'), 'no markup from the data')
  t.match(r.html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
  t.match(r.html, /&lt;b&gt;Petugas&lt;\/b&gt; membuka data/)
  t.match(r.text, /Alasan yang dicatat: "><script>alert\(1\)<\/script>/, 'the text part is plain text')
})

t.test(
  'a notice goes only to verified contacts; an urgent one to each of them, another to the e-mail first',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const both = await verifiedCitizen(db)
      t.equal(await queueNotice(db, { citizenId: both.id, kind: 'password_changed', data: { at: T } }), 2)
      t.equal(
        await queueNotice(db, {
          citizenId: both.id,
          kind: 'new_device_sign_in',
          data: { at: T, device: 'Firefox di Linux' },
        }),
        1,
      )
      const rows = await db.selectFrom('outbox').selectAll().where('citizen_id', '=', both.id).execute()
      t.strictSame(rows.map((r) => [r.kind, r.channel, r.recipient, r.status, r.locale]).sort(), [
        ['new_device_sign_in', 'email', 'budi@contoh.id', 'queued', 'id'],
        ['password_changed', 'email', 'budi@contoh.id', 'queued', 'id'],
        ['password_changed', 'sms', '+6281234567890', 'queued', 'id'],
      ])
      const mail = rows.find((r) => r.channel === 'email' && r.kind === 'password_changed')
      t.match(mail, { subject: 'Kata sandi Satu Pintu Anda diganti', html: /^<!doctype html>/ })
      t.equal(rows.find((r) => r.channel === 'sms')?.html, null, 'an SMS has no HTML')

      const phoneOnly = await verifiedCitizen(db, siti, { phone: true })
      t.equal(
        await queueNotice(db, { citizenId: phoneOnly.id, kind: 'new_device_sign_in', data: { at: T, device: 'x' } }),
        1,
      )
      t.match(await db.selectFrom('outbox').selectAll().where('citizen_id', '=', phoneOnly.id).execute(), [
        { channel: 'sms', recipient: '+6281298765432' },
      ])

      const unverified = await addCitizen(
        db,
        {
          ...budi,
          nik: '3201011201900002',
          email: 'lain@contoh.id',
          phone: '081311112222',
        },
        { verified: false },
      )
      t.equal(
        await queueNotice(db, { citizenId: unverified.id, kind: 'password_changed', data: { at: T } }),
        0,
        'unverified contacts get nothing',
      )
      t.equal(
        await db
          .selectFrom('outbox')
          .select('id')
          .where('citizen_id', '=', unverified.id)
          .execute()
          .then((r) => r.length),
        0,
      )
    })
  },
)

t.test('a contact change goes to the old contact, named by the caller', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const c = await verifiedCitizen(db)
    const n = await queueNotice(db, {
      citizenId: c.id,
      kind: 'contact_changed',
      data: { at: T, field: 'email', newContact: 'b***@baru.id' },
      to: [{ channel: 'email', address: 'lama@contoh.id' }],
    })
    t.equal(n, 1)
    const [row] = await db.selectFrom('outbox').selectAll().execute()
    t.match(row, {
      recipient: 'lama@contoh.id',
      kind: 'contact_changed',
      subject: 'Alamat e-mail akun Satu Pintu diganti',
    })
    t.match(row?.body, /diganti menjadi b\*\*\*@baru\.id .*dikirim ke alamat lama Anda/)
  })
})

t.test("a notice is part of the caller's transaction: rolled back with it", async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const c = await verifiedCitizen(db)
    await t.rejects(
      db.transaction().execute(async (trx) => {
        await queueNotice(trx, { citizenId: c.id, kind: 'password_changed', data: { at: T } })
        throw new Error('the change failed')
      }),
      /the change failed/,
    )
    t.equal((await db.selectFrom('outbox').select('id').execute()).length, 0, 'nothing queued')
  })
})

t.test('notices are written in the language the citizen uses', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const c = await verifiedCitizen(db, budi, { email: true })
    await setNoticeLocale(db, c.id, 'en')
    t.strictSame(await noticePreferences(db, c.id), { locale: 'en', documentDigest: true })
    await queueNotice(db, { citizenId: c.id, kind: 'password_changed', data: { at: T } })
    t.match(await db.selectFrom('outbox').selectAll().executeTakeFirst(), {
      locale: 'en',
      subject: 'Your Satu Pintu password was changed',
      body: /^The password of your Satu Pintu account was changed on 1 December 2026/,
    })
  })
})

t.test('changing the password notifies the citizen; a reset says it was reset', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const c = await verifiedCitizen(db, budi, { email: true })
    await setCitizenPassword(db, c.id, 'teh manis di warung sore', { regencyName: 'Sukamaju', now: T })
    await setCitizenPassword(db, c.id, 'nasi goreng pakai telur', {
      regencyName: 'Sukamaju',
      notice: 'password_reset',
      noticeOptions: { issuer: 'http://localhost:3000' },
    })
    const rows = await db.selectFrom('outbox').select(['kind', 'recipient', 'body']).orderBy('created_at').execute()
    t.match(rows, [
      { kind: 'password_changed', recipient: 'budi@contoh.id', body: /diganti pada 1 Desember 2026/ },
      {
        kind: 'password_reset',
        recipient: 'budi@contoh.id',
        body: /atur ulang kata sandi di http:\/\/localhost:3000\/lupa-sandi/,
      },
    ])
    t.equal(rows.length, 2)
  })
})

t.test('a sign-in from a new device is notified; the first device and a known device are not', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const c = await verifiedCitizen(db, budi, { email: true })
    const android =
      'Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36'
    const first = await recordSignInDevice(db, { citizenId: c.id, deviceId: undefined, userAgent: android })
    t.match(first, { isNew: true, notified: false }, 'the first device is the registration: no notice')
    t.match(first.deviceId, /^[A-Za-z0-9_-]{43}$/)
    t.match(await recordSignInDevice(db, { citizenId: c.id, deviceId: first.deviceId, userAgent: android }), {
      deviceId: first.deviceId,
      isNew: false,
      notified: false,
    })
    const stored = await db.selectFrom('known_devices').selectAll().execute()
    t.equal(stored.length, 1)
    t.not(stored[0]?.device_hash, first.deviceId, 'only a hash of the device id is kept')

    const other = await recordSignInDevice(db, {
      citizenId: c.id,
      deviceId: 'forged-or-from-another-browser',
      userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
      now: T,
    })
    t.match(other, { isNew: true, notified: true })
    t.not(other.deviceId, 'forged-or-from-another-browser', 'a malformed id is replaced')
    t.match(await db.selectFrom('outbox').selectAll().execute(), [
      {
        kind: 'new_device_sign_in',
        recipient: 'budi@contoh.id',
        body: /perangkat baru \(Firefox di Windows\) pada 1 Desember 2026/,
      },
    ])
  })
  t.equal(
    deviceLabel(
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
      'en',
    ),
    'Safari on iOS',
  )
  t.equal(deviceLabel(undefined), 'peramban tak dikenal')
})

async function fetchDocument(
  db: Kysely<Database>,
  citizenId: string,
  agency: string,
  type: string,
  at: Date,
  n: number,
) {
  // Ids as the vault makes them: 16 bytes, base64url (22 characters).
  const docId = createHash('sha256').update(`${citizenId}/${type}`).digest('base64url').slice(0, 22)
  const versionId = createHash('sha256').update(`${citizenId}/${type}/1`).digest('base64url').slice(0, 22)
  await db
    .insertInto('documents')
    .values({ id: docId, citizen_id: citizenId, type })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
  await db
    .insertInto('document_versions')
    .values({
      id: versionId,
      document_id: docId,
      version: 1,
      storage_key: 'a'.repeat(64),
      sha256: 'a'.repeat(64),
      size: 10,
      media_type: 'application/pdf',
      original_name_encoded: 'x.pdf',
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute()
  for (let i = 0; i < n; i++) {
    await db
      .insertInto('document_accesses')
      .values({
        document_id: docId,
        version_id: versionId,
        citizen_id: citizenId,
        agency_id: agency,
        link_id: `l${i}`,
        at,
      })
      .execute()
  }
}

t.test(
  "the daily digest reports the day's fetches once per citizen, and nothing to one who turned it off",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const a = await verifiedCitizen(db, budi, { email: true })
      const b = await verifiedCitizen(db, siti, { email: true })
      const yesterday = new Date('2026-11-30T05:00:00Z') // 30 Nov, 12:00 WIB
      const tooOld = new Date('2026-11-29T16:59:00Z') // 29 Nov, 23:59 WIB
      await fetchDocument(db, a.id, 'dinas-contoh', 'ktp', yesterday, 2)
      await fetchDocument(db, a.id, 'dinas-lain', 'kk', yesterday, 1)
      await fetchDocument(db, a.id, 'dinas-contoh', 'ktp', tooOld, 5)
      await fetchDocument(db, b.id, 'dinas-contoh', 'ktp', yesterday, 1)
      await setDocumentDigest(db, b.id, false)

      const now = new Date('2026-11-30T17:30:00Z') // 1 Dec, 00:30 WIB
      const names = (type: string) => ({ ktp: 'KTP', kk: 'Kartu Keluarga' })[type] ?? type
      t.equal(await queueDocumentDigests(db, { now, documentTypeName: names }), 2, 'both citizens handled')
      t.equal(
        await queueDocumentDigests(db, { now: new Date(now.getTime() + 3600_000), documentTypeName: names }),
        0,
        'a second run (another instance) finds nothing',
      )
      const rows = await db.selectFrom('outbox').selectAll().execute()
      t.equal(rows.length, 1, 'one digest; none for the citizen who opted out')
      t.match(rows[0], {
        citizen_id: a.id,
        kind: 'documents_fetched_digest',
        subject: 'Dokumen Anda diambil instansi (30 November 2026)',
      })
      t.match(rows[0]?.body, /mengambil dokumen Anda 3 kali/)
      t.match(rows[0]?.body, /- dinas-contoh: KTP \(2×\)\n- dinas-lain: Kartu Keluarga \(1×\)/)
    })
    t.equal(startOfLocalDay(new Date('2026-11-30T17:30:00Z'), 'Asia/Jakarta').toISOString(), '2026-11-30T17:00:00.000Z')
    t.equal(
      startOfLocalDay(new Date('2026-11-30T16:30:00Z'), 'Asia/Makassar').toISOString(),
      '2026-11-30T16:00:00.000Z',
    )
  },
)
