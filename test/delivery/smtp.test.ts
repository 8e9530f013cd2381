/** E-mail through nodemailer against a real SMTP server (smtp-server) on 127.0.0.1. */
import { generateKeyPairSync } from 'node:crypto'
import net, { type AddressInfo } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer, type SMTPServerOptions } from 'smtp-server'
import t, { type Test } from 'tap'
import { DeliveryError, type OutgoingMessage } from '../../src/delivery/senders.ts'
import { createSmtpSender, type SmtpConfig } from '../../src/delivery/smtp.ts'
import { localCertificate } from '../helpers/delivery.ts'

interface Received {
  mail: ParsedMail
  raw: string
  from: string
  to: string[]
  secure: boolean
  user: string | undefined
}

async function smtpServer(t: Test, options: Partial<SMTPServerOptions> = {}) {
  const received: Received[] = []
  const events: string[] = []
  const { key, cert } = localCertificate()
  const server = new SMTPServer({
    key,
    cert,
    logger: false,
    authOptional: false,
    onAuth(auth, _session, cb) {
      events.push(`auth ${auth.username}`)
      if (auth.username === 'satupintu' && auth.password === 'rahasia-relay') cb(null, { user: auth.username })
      else cb(new Error('Invalid username or password'))
    },
    onMailFrom(address, _session, cb) {
      events.push(`mail ${address.address}`)
      cb()
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        simpleParser(raw).then((mail) => {
          received.push({
            mail,
            raw,
            from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            user: session.user as string | undefined,
          })
          cb()
        }, cb)
      })
    },
    ...options,
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.server.address() as AddressInfo).port, received, events, cert }
}

function smtpConfig(port: number, over: Partial<SmtpConfig> = {}): SmtpConfig {
  return {
    host: '127.0.0.1',
    port,
    secure: false,
    requireTls: true,
    user: 'satupintu',
    password: 'rahasia-relay',
    pool: true,
    maxConnections: 2,
    connectionTimeoutMs: 3000,
    socketTimeoutMs: 3000,
    tlsServerName: 'localhost',
    ...over,
  }
}

const message: OutgoingMessage = {
  id: '6f1c1e52-4b0e-4a57-9d55-3a1f0c5a7e01',
  channel: 'email',
  recipient: 'budi@contoh.id',
  subject: 'Kode verifikasi Satu Pintu',
  text: 'Kode verifikasi Satu Pintu Anda: 123456. Berlaku 10 menit.',
  html: '<!doctype html><html lang="id"><body><p>Kode: <b>123456</b></p></body></html>',
  locale: 'id',
  kind: 'code',
  params: { code: '123456', minutes: 10 },
}

t.test(
  "delivers over STARTTLS with AUTH: text and HTML, in the citizen's language, Message-ID from the outbox row",
  async (t) => {
    const s = await smtpServer(t)
    const sender = createSmtpSender({
      from: '"Satu Pintu Sukamaju" <noreply@sukamajukab.go.id>',
      smtp: smtpConfig(s.port),
      tls: { ca: s.cert },
    })
    t.teardown(() => sender.close?.())
    const result = await sender.send(message)
    t.equal(result.messageId, '<6f1c1e52-4b0e-4a57-9d55-3a1f0c5a7e01@sukamajukab.go.id>')
    t.equal(s.received.length, 1)
    const r = s.received[0] as Received
    t.equal(r.secure, true, 'upgraded with STARTTLS before anything was sent')
    t.equal(r.user, 'satupintu', 'authenticated')
    t.equal(r.from, 'noreply@sukamajukab.go.id')
    t.strictSame(r.to, ['budi@contoh.id'])
    t.equal(r.mail.subject, 'Kode verifikasi Satu Pintu')
    t.equal(r.mail.text?.trim(), message.text)
    t.match(r.mail.html, /<b>123456<\/b>/)
    t.equal(r.mail.messageId, '<6f1c1e52-4b0e-4a57-9d55-3a1f0c5a7e01@sukamajukab.go.id>')
    t.equal(r.mail.headers.get('content-language'), 'id')
    t.equal(r.mail.headers.get('auto-submitted'), 'auto-generated')
    t.strictSame(s.events, ['auth satupintu', 'mail noreply@sukamajukab.go.id'])
  },
)

t.test('signs with DKIM when configured', async (t) => {
  const s = await smtpServer(t)
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const sender = createSmtpSender({
    from: 'noreply@sukamajukab.go.id',
    smtp: smtpConfig(s.port, { dkim: { domainName: 'sukamajukab.go.id', keySelector: 'sp2026', privateKey: pem } }),
    tls: { ca: s.cert },
  })
  t.teardown(() => sender.close?.())
  await sender.send(message)
  t.match(
    s.received[0]?.raw,
    /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=sukamajukab\.go\.id;[\s\S]*s=sp2026;/m,
  )
})

t.test('a server that refuses the recipient: a permanent failure, without the address in the error', async (t) => {
  const s = await smtpServer(t, {
    onRcptTo(_address, _session, cb) {
      const err = new Error('5.1.1 <budi@contoh.id>: Recipient address rejected: User unknown') as Error & {
        responseCode: number
      }
      err.responseCode = 550
      cb(err)
    },
  })
  const sender = createSmtpSender({ from: 'noreply@sukamajukab.go.id', smtp: smtpConfig(s.port), tls: { ca: s.cert } })
  t.teardown(() => sender.close?.())
  const err = await sender.send(message).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof DeliveryError)
  t.equal((err as DeliveryError).permanent, true)
  t.match((err as DeliveryError).message, /550/)
  t.notOk((err as DeliveryError).message.includes('budi@contoh.id'), 'the address is masked')
  t.equal(s.received.length, 0)
})

t.test('a server that drops the connection mid-message: a transient failure, to be retried', async (t) => {
  // A real SMTP dialogue that stops in the middle of DATA, as a relay that crashes does.
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.write('220 relay.test ESMTP\r\n')
    let inData = false
    let buffer = ''
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      if (inData) {
        if (buffer.length > 40) socket.destroy()
        return
      }
      for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        if (/^EHLO/i.test(line)) socket.write('250-relay.test\r\n250 8BITMIME\r\n')
        else if (/^(MAIL|RCPT)/i.test(line)) socket.write('250 OK\r\n')
        else if (/^DATA/i.test(line)) {
          socket.write('354 go ahead\r\n')
          inData = true
          buffer = ''
          return
        } else socket.write('250 OK\r\n')
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  const port = (server.address() as AddressInfo).port
  const sender = createSmtpSender({
    from: 'noreply@sukamajukab.go.id',
    smtp: smtpConfig(port, { requireTls: false, user: undefined, password: undefined, pool: false }),
  })
  t.teardown(() => sender.close?.())
  const err = await sender.send(message).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof DeliveryError)
  t.equal((err as DeliveryError).permanent, false, 'retried later')
  t.notOk((err as DeliveryError).message.includes('123456'), 'no code in the error')
})

t.test('TLS required but not offered: nothing is sent in plain text', async (t) => {
  const s = await smtpServer(t, { disabledCommands: ['STARTTLS'], authOptional: true })
  const sender = createSmtpSender({
    from: 'noreply@sukamajukab.go.id',
    smtp: smtpConfig(s.port, { user: undefined, password: undefined }),
  })
  t.teardown(() => sender.close?.())
  const err = await sender.send(message).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof DeliveryError)
  t.match((err as DeliveryError).message, /ETLS|STARTTLS/)
  t.equal(
    (err as DeliveryError).permanent,
    false,
    'a configuration fault: retried, so that fixing the relay drains the queue',
  )
  t.strictSame(s.events, [], 'no MAIL FROM, no AUTH: the conversation stopped before anything was sent')
  t.equal(s.received.length, 0)
})
