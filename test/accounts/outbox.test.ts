import t from 'tap'
import { databaseOutbox, listOutbox, maskRecipient } from '../../src/accounts/outbox.ts'
import { eachDatabase } from '../helpers/db.ts'

t.test('the database outbox writes a row and logs a line without the body or the full recipient', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const lines: Array<{ obj: Record<string, unknown>; msg: string }> = []
    const outbox = databaseOutbox(db, { info: (obj, msg) => void lines.push({ obj, msg }) })
    await outbox.send({ channel: 'sms', recipient: '+6281234567890', body: 'Kode verifikasi Satu Pintu Anda: 654321.' })
    await outbox.send({ channel: 'email', recipient: 'budi@contoh.id', subject: 'Halo', body: 'Isi' })
    const rows = await listOutbox(db, { limit: 10 })
    t.equal(rows.length, 2)
    t.match(
      rows.find((r) => r.channel === 'sms'),
      {
        recipient: '+6281234567890',
        subject: null,
        body: 'Kode verifikasi Satu Pintu Anda: 654321.',
        attempts: 0,
        sent_at: null,
      },
    )
    t.equal(lines.length, 2)
    const logged = JSON.stringify(lines)
    t.notOk(logged.includes('654321'), 'no code in the log')
    t.notOk(logged.includes('+6281234567890') || logged.includes('budi@contoh.id'), 'no full recipient in the log')
    t.match(lines[0]?.obj, { channel: 'sms', recipient: '+62812*****890' })
  })
})

t.test('lists the newest messages first, only unsent ones on request, within the limit', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    for (let i = 0; i < 3; i++) {
      await db
        .insertInto('outbox')
        .values({
          channel: 'email',
          recipient: `r${i}@contoh.id`,
          body: `pesan ${i}`,
          created_at: new Date(Date.UTC(2026, 10, 27, 8, i)),
        })
        .execute()
    }
    await db
      .updateTable('outbox')
      .set({ sent_at: new Date(), status: 'sent' })
      .where('recipient', '=', 'r2@contoh.id')
      .execute()
    t.strictSame(
      (await listOutbox(db, { limit: 2 })).map((r) => r.recipient),
      ['r2@contoh.id', 'r1@contoh.id'],
    )
    t.strictSame(
      (await listOutbox(db, { unsentOnly: true })).map((r) => r.recipient),
      ['r1@contoh.id', 'r0@contoh.id'],
    )
  })
})

t.test('masks recipients for logs', async (t) => {
  t.equal(maskRecipient('budi.santoso@contoh.id'), 'b***@contoh.id')
  t.equal(maskRecipient('+6281234567890'), '+62812*****890')
  t.equal(maskRecipient('something else'), '***')
})
