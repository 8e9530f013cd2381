import t from 'tap'
import { AuditDataError, listAuditForSubject, recordAudit, sanitizeAuditData } from '../../src/audit/audit.ts'
import { eachDatabase } from '../helpers/db.ts'

const SUBJECT = '5b0c3f3e-3f7e-4f7e-9a43-0c9a3c1e2b11'

t.test('records an entry with every field', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const id = await recordAudit(db, {
      event: 'consent.granted',
      actor: `citizen:${SUBJECT}`,
      subjectId: SUBJECT,
      clientId: 'dinas-kesehatan',
      ip: '192.0.2.1',
      requestId: 'req-1',
      data: { scopes: ['openid', 'profile'], purpose: 'Pendaftaran layanan' },
    })
    const row = await db.selectFrom('audit_events').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    t.match(row, {
      event: 'consent.granted',
      actor: `citizen:${SUBJECT}`,
      subject_id: SUBJECT,
      client_id: 'dinas-kesehatan',
      ip: '192.0.2.1',
      request_id: 'req-1',
      data: { scopes: ['openid', 'profile'], purpose: 'Pendaftaran layanan' },
    })
  })
})

t.test('refuses data with a key that names a secret, and writes nothing', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const refused = [
      { password: 'x' },
      { newPassword: 'x' },
      { access_token: 'x' },
      { idToken: 'x' },
      { otp: '123456' },
      { code: '123456' },
      { verificationCode: '123456' },
      { client_secret: 'x' },
      { nested: { deeper: [{ refresh_token: 'x' }] } },
      { Authorization: 'Bearer x' },
      { apiKey: 'x' },
    ]
    for (const data of refused) {
      await t.rejects(
        recordAudit(db, { event: 'auth.login.failed', actor: 'anonymous', data }),
        AuditDataError,
        JSON.stringify(data),
      )
    }
    t.strictSame(await db.selectFrom('audit_events').select('id').execute(), [])
  })
})

t.test('masks NIK-like values wherever they are in data', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await recordAudit(db, {
      event: 'citizen.looked_up',
      actor: 'officer:00000000-0000-4000-8000-000000000001',
      subjectId: SUBJECT,
      data: {
        query: '3201011201900001',
        note: 'dicari dengan NIK 3201 0112 0190 0001 di loket',
        asNumber: 3201011201900001,
        list: ['320101-120190-0001', 'nik3201011201900001'],
        officer: '00000000-0000-4000-8000-000000000001',
        phone: '+6281234567890',
        seventeen: '32010112019000011',
      },
    })
    const [entry] = await listAuditForSubject(db, SUBJECT)
    t.strictSame(entry?.data, {
      query: '3201********0001',
      note: 'dicari dengan NIK 3201********0001 di loket',
      asNumber: '3201********0001',
      list: ['3201********0001', 'nik3201********0001'],
      officer: '00000000-0000-4000-8000-000000000001',
      phone: '+6281234567890',
      seventeen: '32010112019000011',
    })
    const { seventeen: _, ...masked } = entry?.data ?? {}
    t.notOk(JSON.stringify(masked).includes('011201900'), 'no district or birth date digits left')
  })
})

t.test('refuses unknown events, a subject that is not a citizen id, and oversized data', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    // @ts-expect-error an event name outside the union
    await t.rejects(recordAudit(db, { event: 'something.else', actor: 'system' }), /unknown event/)
    await t.rejects(
      recordAudit(db, { event: 'auth.logout', actor: 'system', subjectId: '3201011201900001' }),
      /not a citizen id/,
    )
    await t.rejects(
      recordAudit(db, { event: 'auth.logout', actor: 'system', data: { note: 'x'.repeat(20_000) } }),
      /16 KiB/,
    )
  })
  t.throws(() => sanitizeAuditData({ f: () => 1 }), AuditDataError)
})

t.test("lists a subject's trail newest first, within the limit, and no one else's", async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    for (let i = 0; i < 3; i++) {
      await db
        .insertInto('audit_events')
        .values({
          event: 'token.issued',
          actor: 'system',
          subject_id: SUBJECT,
          at: new Date(Date.UTC(2026, 10, 27, 8, i)),
          data: JSON.stringify({ n: i }),
        })
        .execute()
    }
    await recordAudit(db, { event: 'token.issued', actor: 'system', subjectId: '00000000-0000-4000-8000-000000000009' })
    t.strictSame(
      (await listAuditForSubject(db, SUBJECT, { limit: 2 })).map((e) => e.data),
      [{ n: 2 }, { n: 1 }],
    )
    t.equal((await listAuditForSubject(db, SUBJECT)).length, 3)
    t.strictSame(await listAuditForSubject(db, 'not-a-uuid'), [])
  })
})

t.test('entries recorded together outside a transaction are each committed, with their own ids', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const ids = await Promise.all(
      Array.from({ length: 25 }, (_, n) =>
        recordAudit(db, { event: 'token.issued', actor: 'client:app', subjectId: SUBJECT, data: { n } }),
      ),
    )
    t.equal(new Set(ids).size, 25, 'one id per entry')
    const rows = await db.selectFrom('audit_events').select(['id', 'data']).where('id', 'in', ids).execute()
    const byId = new Map(rows.map((r) => [r.id, r.data]))
    t.strictSame(
      ids.map((id) => byId.get(id)),
      ids.map((_, n) => ({ n })),
      'each id names the row of its own entry',
    )
    t.equal((await listAuditForSubject(db, SUBJECT, { limit: 100 })).length, 25, 'all in the trail')
    const later = await recordAudit(db, { event: 'token.revoked', actor: 'client:app', subjectId: SUBJECT })
    t.equal(
      (await listAuditForSubject(db, SUBJECT, { limit: 1 }))[0]?.id,
      later,
      'an entry recorded afterwards is listed first',
    )
  })
})

t.test('an entry recorded in a transaction that rolls back is not written', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await t.rejects(
      db.transaction().execute(async (trx) => {
        await recordAudit(trx, { event: 'token.issued', actor: 'system', subjectId: SUBJECT, data: { n: 1 } })
        throw new Error('the change fails')
      }),
    )
    t.strictSame(await listAuditForSubject(db, SUBJECT), [])
  })
})
