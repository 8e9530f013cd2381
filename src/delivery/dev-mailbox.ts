// The development mailbox: an SMTP server inside the quick start's process (smtp-server,
// the same package the tests use), so that e-mail travels the real path — outbox, worker,
// nodemailer, SMTP — and lands where the developer can read it (/dev/kotak-surat). SMS
// land there too. Development only: the configuration refuses it in production, and the
// packages it needs are development dependencies (the production image has none).
//
// What it keeps is in memory, newest first, at most `limit` messages: it is a developer's
// inbox on one machine, not storage.

import type { AddressInfo } from 'node:net'
import type { Sender } from './senders.ts'

export interface MailboxEntry {
  readonly id: number
  readonly channel: 'email' | 'sms'
  readonly at: Date
  readonly to: string
  readonly from: string
  readonly subject: string
  readonly text: string
  /** The e-mail's HTML part, as received (shown sandboxed, never inline). */
  readonly html: string | null
  readonly messageId: string
}

export interface DevMailbox {
  readonly port: number
  entries(): readonly MailboxEntry[]
  find(id: number): MailboxEntry | undefined
  /** The SMS sender that drops messages here. */
  readonly smsSender: Sender
  close(): Promise<void>
}

export async function startDevMailbox(options: { limit?: number; host?: string } = {}): Promise<DevMailbox> {
  // Development dependencies, loaded only when the mailbox is wanted.
  let modules: [typeof import('smtp-server'), typeof import('mailparser')]
  try {
    modules = await Promise.all([import('smtp-server'), import('mailparser')])
  } catch (err) {
    throw new Error(
      'the development mailbox (delivery.email.transport or delivery.sms.provider dev-mailbox) needs the development dependencies: run `npm install` (not --omit=dev), or set MAIL_TRANSPORT=none and SMS_PROVIDER=none',
      { cause: err },
    )
  }
  const [{ SMTPServer }, { simpleParser }] = modules
  const limit = options.limit ?? 200
  const list: MailboxEntry[] = []
  let next = 1
  const add = (e: Omit<MailboxEntry, 'id'>) => {
    list.unshift({ ...e, id: next++ })
    list.length = Math.min(list.length, limit)
  }

  const server = new SMTPServer({
    // Loopback only, no TLS, no AUTH: nothing leaves or enters this machine.
    disabledCommands: ['AUTH', 'STARTTLS'],
    authOptional: true,
    size: 5 * 1024 * 1024,
    logger: false,
    banner: 'Satu Pintu kotak surat pengembangan',
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          const to = session.envelope.rcptTo.map((r) => r.address).join(', ')
          add({
            channel: 'email',
            at: new Date(),
            to,
            from: mail.from?.text ?? (session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address),
            subject: mail.subject ?? '',
            text: mail.text ?? '',
            html: typeof mail.html === 'string' ? mail.html : null,
            messageId: mail.messageId ?? '',
          })
          callback()
        })
        .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))))
    },
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  server.on('error', () => {
    // A client that misbehaves: the server keeps listening.
  })
  const port = (server.server.address() as AddressInfo).port

  return {
    port,
    entries: () => list,
    find: (id) => list.find((e) => e.id === id),
    smsSender: {
      name: 'dev-mailbox',
      channel: 'sms',
      async send(m) {
        const messageId = `dev-sms-${m.id}`
        add({
          channel: 'sms',
          at: new Date(),
          to: m.recipient,
          from: 'Satu Pintu',
          subject: '',
          text: m.text,
          html: null,
          messageId,
        })
        return { messageId }
      },
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
