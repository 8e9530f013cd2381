/**
 * The outbox worker on both databases, sending through the real HTTP SMS sender to a real
 * HTTP server that behaves like a gateway (it deduplicates by Idempotency-Key).
 */
import t, { type Test } from 'tap'
import { countOutbox, databaseOutbox } from '../../src/accounts/outbox.ts'
import { issueOtp } from '../../src/accounts/otp.ts'
import { markPhoneVerified } from '../../src/accounts/citizens.ts'
import { createHttpSmsSender } from '../../src/delivery/sms-http.ts'
import { backoffSeconds, claimDue, createOutboxWorker, type WorkerConfig } from '../../src/delivery/worker.ts'
import { forgetExpiredCodes } from '../../src/delivery/retention.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { recordingServer, type RecordedRequest } from '../helpers/delivery.ts'

const config: WorkerConfig = {
  enabled: true,
  pollMs: 50,
  batch: 10,
  leaseSeconds: 60,
  maxAttempts: 3,
  backoffBaseSeconds: 10,
  backoffMaxSeconds: 600,
}

function memoryLog() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = []
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg })
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } }
}

/** A gateway that accepts each Idempotency-Key once and answers repeats with the same id. */
async function gateway(t: Test, status: (n: number) => number = () => 202) {
  const delivered = new Map<string, string>()
  const server = await recordingServer(t, (req: RecordedRequest, n) => {
    const key = String(req.headers['idempotency-key'])
    const s = status(n)
    if (s !== 202) return { status: s, body: { error: 'nope' } }
    if (!delivered.has(key)) delivered.set(key, `GW-${delivered.size + 1}`)
    return { status: 202, body: { id: delivered.get(key) } }
  })
  const sender = createHttpSmsSender({
    url: `${server.url}/sms`,
    secret: 'gateway-shared-secret-2026',
    signatureHeader: 'X-Signature',
    fields: { to: 'to', text: 'text', reference: 'reference' },
    extra: {},
    messageIdField: 'id',
    timeoutMs: 1000,
  })
  return { server, sender, delivered }
}

async function queueSms(db: TestDatabase, text: string, extra: { expiresAt?: Date } = {}) {
  await databaseOutbox(db.db).send({
    channel: 'sms',
    recipient: '+6281234567890',
    body: text,
    kind: 'password_changed',
    ...extra,
  })
  return (await db.db.selectFrom('outbox').select('id').orderBy('created_at', 'desc').executeTakeFirstOrThrow()).id
}

t.test("sends a due message, marks it sent with the provider's id, and never logs the code", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const c = await addCitizen(db.db)
    await markPhoneVerified(db.db, c.id, budi.phone)
    await issueOtp(db.db, { citizenId: c.id, purpose: 'verify_phone', channel: 'sms', destination: budi.phone })
    const gw = await gateway(t)
    const log = memoryLog()
    const worker = createOutboxWorker({
      db: db.db,
      senders: { sms: gw.sender },
      config,
      logger: log.logger,
      workerId: 'w1',
    })
    t.equal(await worker.runOnce(), 1)
    const row = await db.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow()
    t.match(row, {
      status: 'sent',
      attempts: 1,
      provider: 'http-sms',
      provider_message_id: 'GW-1',
      lease_until: null,
      last_error: null,
    })
    t.ok(row.sent_at instanceof Date)
    const code = /\b(\d{6})\b/.exec(row.body)?.[1] as string
    t.equal(JSON.parse(gw.server.requests[0]!.body).text, row.body, 'the gateway got the text')
    const logged = JSON.stringify(log.lines)
    t.notOk(logged.includes(code), 'the code is not in the log')
    t.notOk(logged.includes('+6281234567890'), 'nor the number')
    t.match(log.lines, [
      {
        level: 'info',
        msg: 'message sent',
        obj: { channel: 'sms', kind: 'code', recipient: '+62812*****890', providerMessageId: 'GW-1' },
      },
    ])
    t.equal(await worker.runOnce(), 0, 'nothing left to do')
    t.equal(gw.server.requests.length, 1)
  })
})

t.test('two workers claiming at once never take the same row (FOR UPDATE SKIP LOCKED)', async (t) => {
  await eachDatabase(t, async (t, db) => {
    for (let i = 0; i < 12; i++) await queueSms(db, `pesan ${i}`)
    const now = new Date()
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((w) => claimDue(db.db, { workerId: w, now, limit: 5, leaseSeconds: 60, channels: ['sms'] })),
    )
    const ids = [...a!, ...b!, ...c!].map((r) => r.id)
    t.equal(ids.length, 12, 'every row claimed')
    t.equal(new Set(ids).size, 12, 'none twice')
    t.equal(
      (await claimDue(db.db, { workerId: 'd', now, limit: 5, leaseSeconds: 60, channels: ['sms'] })).length,
      0,
      'leased rows are not due',
    )
    t.equal(
      (await claimDue(db.db, { workerId: 'e', now, limit: 5, leaseSeconds: 60, channels: ['email'] })).length,
      0,
      'only the channels a worker can send',
    )
  })
})

t.test('a failed send is retried with backoff and jitter, then given up (dead) after maxAttempts', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const id = await queueSms(db, 'Satu Pintu: kata sandi Anda diganti.')
    const gw = await gateway(t, () => 503)
    let clock = new Date('2026-12-01T04:00:00Z')
    const log = memoryLog()
    const worker = createOutboxWorker({
      db: db.db,
      senders: { sms: gw.sender },
      config,
      logger: log.logger,
      workerId: 'w1',
      now: () => clock,
    })
    // The row was queued "now" (the database's clock): move ours past it.
    clock = new Date(Date.now() + 1000)
    t.equal(await worker.runOnce(), 1)
    let row = await db.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    t.match(row, { status: 'failed', attempts: 1, last_error: 'sms gateway: HTTP 503' })
    const wait1 = (row.next_attempt_at.getTime() - clock.getTime()) / 1000
    t.ok(wait1 >= 1 && wait1 <= 10, `first retry within the base delay (${wait1} s)`)
    t.equal(await worker.runOnce(), 0, 'not due before its time')
    clock = new Date(row.next_attempt_at.getTime() + 1)
    t.equal(await worker.runOnce(), 1)
    row = await db.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    t.match(row, { status: 'failed', attempts: 2 })
    clock = new Date(row.next_attempt_at.getTime() + 1)
    t.equal(await worker.runOnce(), 1)
    row = await db.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    t.match(row, { status: 'dead', attempts: 3, last_error: 'sms gateway: HTTP 503' })
    t.ok(row.dead_at instanceof Date)
    t.equal(gw.server.requests.length, 3)
    t.match(await countOutbox(db.db), { dead: 1, queued: 0, failed: 0, sent: 0 })
    t.match(
      log.lines.map((l) => l.msg),
      ['message not sent; will retry', 'message not sent; will retry', 'message given up'],
    )
  })
  // Full jitter: uniform up to a cap that doubles, bounded by backoffMaxSeconds.
  t.equal(
    backoffSeconds(1, config, (max) => max),
    10,
  )
  t.equal(
    backoffSeconds(4, config, (max) => max),
    80,
  )
  t.equal(
    backoffSeconds(30, config, (max) => max),
    600,
  )
  t.equal(
    backoffSeconds(3, config, () => 0),
    1,
    'never zero',
  )
})

t.test('a refusal that retrying cannot fix is dead at once', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await queueSms(db, 'x')
    const gw = await gateway(t, () => 400)
    const worker = createOutboxWorker({
      db: db.db,
      senders: { sms: gw.sender },
      config,
      logger: memoryLog().logger,
      now: () => new Date(Date.now() + 1000),
    })
    await worker.runOnce()
    t.match(await db.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow(), {
      status: 'dead',
      attempts: 1,
      last_error: 'sms gateway: HTTP 400',
    })
  })
})

t.test('a code that expired before it could be delivered is not sent', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await queueSms(db, '123456 adalah kode verifikasi', { expiresAt: new Date(Date.now() - 1000) })
    const gw = await gateway(t)
    const worker = createOutboxWorker({
      db: db.db,
      senders: { sms: gw.sender },
      config,
      logger: memoryLog().logger,
      now: () => new Date(Date.now() + 1000),
    })
    await worker.runOnce()
    t.match(await db.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow(), {
      status: 'dead',
      last_error: 'expired before it could be delivered',
    })
    t.equal(gw.server.requests.length, 0)
  })
})

t.test(
  'after a crash mid-send, another instance takes over once the lease ran out, with the same idempotency key: delivered once',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const id = await queueSms(db, 'Satu Pintu: masuk dari perangkat baru.')
      const gw = await gateway(t)
      const t0 = new Date(Date.now() + 1000)
      // Worker A claims the row and sends it, then "dies" before recording the outcome.
      const [claimed] = await claimDue(db.db, { workerId: 'A', now: t0, limit: 1, leaseSeconds: 60, channels: ['sms'] })
      t.equal(claimed?.id, id)
      await gw.sender.send({
        id,
        channel: 'sms',
        recipient: claimed!.recipient,
        subject: null,
        text: claimed!.body,
        html: null,
        locale: 'id',
        kind: claimed!.kind,
        params: null,
      })
      // Worker B, within A's lease: nothing to do.
      const b = createOutboxWorker({
        db: db.db,
        senders: { sms: gw.sender },
        config,
        logger: memoryLog().logger,
        workerId: 'B',
        now: () => new Date(t0.getTime() + 30_000),
      })
      t.equal(await b.runOnce(), 0, 'the lease protects the row')
      // After the lease: B sends again, with the same key; the gateway recognises it.
      const b2 = createOutboxWorker({
        db: db.db,
        senders: { sms: gw.sender },
        config,
        logger: memoryLog().logger,
        workerId: 'B',
        now: () => new Date(t0.getTime() + 61_000),
      })
      t.equal(await b2.runOnce(), 1)
      t.match(await db.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow(), {
        status: 'sent',
        attempts: 2,
        claimed_by: 'B',
        provider_message_id: 'GW-1',
      })
      t.strictSame(
        gw.server.requests.map((r) => r.headers['idempotency-key']),
        [id, id],
        'the same key both times',
      )
      t.equal(gw.delivered.size, 1, 'the citizen got one SMS')
      // A comes back to life and tries to record its outcome: the row is no longer its own.
      const late = await db.db
        .updateTable('outbox')
        .set({ status: 'failed' })
        .where('id', '=', id)
        .where('claimed_by', '=', 'A')
        .where('status', '=', 'sending')
        .executeTakeFirst()
      t.equal(late.numUpdatedRows, 0n)
    })
  },
)

t.test('the worker polls until stopped, and stop waits for the round in progress', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const gw = await gateway(t)
    const worker = createOutboxWorker({
      db: db.db,
      senders: { sms: gw.sender },
      config,
      logger: memoryLog().logger,
      now: () => new Date(Date.now() + 1000),
    })
    worker.start()
    await queueSms(db, 'satu')
    const deadline = Date.now() + 5000
    while (gw.server.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    t.equal(gw.server.requests.length, 1, 'picked up by polling')
    await worker.stop()
    await queueSms(db, 'dua')
    await new Promise((r) => setTimeout(r, 300))
    t.equal(gw.server.requests.length, 1, 'nothing sent after stop')
  })
})

t.test("an expired code's text is removed from the outbox an hour later", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const c = await addCitizen(db.db)
    const now = new Date()
    await issueOtp(
      db.db,
      { citizenId: c.id, purpose: 'verify_email', channel: 'email', destination: budi.email },
      { now: new Date(now.getTime() - 2 * 3600_000) },
    )
    t.equal(await forgetExpiredCodes(db.db, now), 1)
    t.match(await db.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow(), {
      body: '(kode kedaluwarsa, dihapus)',
      html: null,
      params: null,
    })
    t.equal(await forgetExpiredCodes(db.db, now), 0)
  })
})
