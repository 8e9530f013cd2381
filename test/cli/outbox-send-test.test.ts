/** `satupintu outbox send-test`: a real SMTP server and a real HTTP gateway on 127.0.0.1. */
import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { SMTPServer } from 'smtp-server'
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { recordingServer } from '../helpers/delivery.ts'

async function run(overrides: Record<string, unknown>, args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

async function smtp(t: Test, refuse = false) {
  const got: string[] = []
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onRcptTo(address, _s, cb) {
      if (refuse) cb(Object.assign(new Error('5.1.1 User unknown'), { responseCode: 550 }))
      else cb()
    },
    onData(stream, session, cb) {
      stream.resume()
      stream.on('end', () => {
        got.push(session.envelope.rcptTo.map((r) => r.address).join(','))
        cb()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.server.address() as AddressInfo).port, got }
}

function mailOverrides(port: number) {
  return {
    delivery: {
      email: {
        transport: 'smtp',
        from: 'noreply@sukamajukab.go.id',
        smtp: { host: '127.0.0.1', port, requireTls: false, pool: false },
      },
    },
  }
}

t.test('send-test sends an e-mail through the configured SMTP server and reports its message id', async (t) => {
  const s = await smtp(t)
  const r = await run(mailOverrides(s.port), ['outbox', 'send-test', '--to', 'Admin@Sukamajukab.go.id'])
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    /^sent a test email to a\*\*\*@sukamajukab\.go\.id via smtp: provider message id <[0-9a-f-]{36}@sukamajukab\.go\.id>$/,
  )
  t.strictSame(s.got, ['admin@sukamajukab.go.id'])
})

t.test('send-test says why a refused e-mail was not sent, and exits 1', async (t) => {
  const s = await smtp(t, true)
  const r = await run(mailOverrides(s.port), ['outbox', 'send-test', '--to', 'admin@sukamajukab.go.id'])
  t.equal(r.code, 1)
  t.match(r.err, /not sent \(refused\): smtp: .*550/)
})

t.test('send-test sends an SMS through the HTTP gateway', async (t) => {
  const gw = await recordingServer(t, () => ({ status: 200, body: { id: 'GW-1' } }))
  const r = await run(
    { delivery: { sms: { provider: 'http', http: { url: `${gw.url}/sms`, secret: 'gateway-shared-secret-2026' } } } },
    ['outbox', 'send-test', '--to', '0812 3456 7890'],
  )
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    /^sent a test sms to 0812-\*\*\*\*-\*890 via http-sms: provider message id GW-1$/,
    'the number as every page shows it, masked',
  )
  t.equal(JSON.parse(gw.requests[0]!.body).to, '+6281234567890')
})

t.test(
  'send-test queues the message when the running process delivers (no provider here), and refuses a bad address',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-send-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const overrides = { dataDir: dir, database: { pgliteDir: path.join(dir, 'pglite') } }
    const h = await openDatabase(testConfig(overrides).database)
    await migrateToLatestOrThrow(h.db)
    await h.close()
    const r = await run(overrides, ['outbox', 'send-test', '--to', 'admin@sukamajukab.go.id'])
    t.equal(r.code, 0, r.err)
    t.match(r.out, /^queued a test email to a\*\*\*@sukamajukab\.go\.id \(delivery\.email\.transport is none/)
    const list = await run(overrides, ['outbox', '--json'])
    t.match(JSON.parse(list.out), {
      counts: { queued: 1 },
      messages: [{ kind: 'test', recipient: 'admin@sukamajukab.go.id', status: 'queued' }],
    })
    const bad = await run(overrides, ['outbox', 'send-test', '--to', 'bukan alamat'])
    t.equal(bad.code, 2)
    t.match(bad.err, /--to must be an e-mail address or a mobile number/)
  },
)
