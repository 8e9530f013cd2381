// E-mail over SMTP with nodemailer: STARTTLS (required unless the connection is TLS from
// the first byte), AUTH, a connection pool, DKIM when configured (RFC 6376). The
// Message-ID is derived from the outbox row id, so a message sent again after a crash
// carries the same Message-ID and mail systems can recognise the duplicate (RFC 5322
// sec. 3.6.4).

import nodemailer from 'nodemailer'
import type { Config } from '../config/schema.ts'
import { DeliveryError, type OutgoingMessage, type Sender } from './senders.ts'

export type SmtpConfig = NonNullable<Config['delivery']['email']['smtp']>

export interface SmtpSenderOptions {
  readonly from: string
  readonly smtp: SmtpConfig
  /** Extra TLS options (tests trust their own certificate). */
  readonly tls?: { readonly ca?: string | Buffer; readonly rejectUnauthorized?: boolean }
  /** Name of this sender on the row (dev-mailbox when pointed at the local mailbox). */
  readonly name?: string
}

function domainOf(from: string): string {
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)
  return m?.[1] ?? 'localhost'
}

/** SMTP reply codes 5xx are permanent (RFC 5321 sec. 4.2.1), except when the connection broke. */
function classify(err: unknown): DeliveryError {
  const e = err as { responseCode?: number; code?: string; message?: string; command?: string }
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined
  const what = [e.code, code, e.command].filter((x) => x !== undefined).join(' ')
  const message = `smtp: ${what ? `${what}: ` : ''}${String(e.message ?? err).split('\n')[0]}`
  // ETLS (STARTTLS required but not offered) and EAUTH are configuration faults: retried
  // with backoff, so that fixing the relay lets the queue drain, and visible meanwhile.
  const permanent = code !== undefined && code >= 500 && code < 600 && e.code !== 'EAUTH' && e.code !== 'ETLS'
  return new DeliveryError(message, { permanent, cause: err })
}

export function createSmtpSender(options: SmtpSenderOptions): Sender {
  const s = options.smtp
  const transport = nodemailer.createTransport({
    host: s.host,
    port: s.port,
    secure: s.secure,
    requireTLS: !s.secure && s.requireTls,
    ...(s.user !== undefined ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
    pool: s.pool,
    maxConnections: s.maxConnections,
    connectionTimeout: s.connectionTimeoutMs,
    greetingTimeout: s.connectionTimeoutMs,
    socketTimeout: s.socketTimeoutMs,
    tls: {
      ...(s.tlsServerName !== undefined ? { servername: s.tlsServerName } : {}),
      ...(options.tls?.ca !== undefined ? { ca: options.tls.ca } : {}),
      ...(options.tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: options.tls.rejectUnauthorized } : {}),
      minVersion: 'TLSv1.2',
    },
    ...(s.dkim !== undefined
      ? { dkim: { domainName: s.dkim.domainName, keySelector: s.dkim.keySelector, privateKey: s.dkim.privateKey } }
      : {}),
    // nodemailer's own logger would print addresses and, at debug, message bodies.
    logger: false,
    debug: false,
  })
  const domain = domainOf(options.from)
  return {
    name: options.name ?? 'smtp',
    channel: 'email',
    async send(m: OutgoingMessage) {
      const messageId = `<${m.id}@${domain}>`
      try {
        const info = await transport.sendMail({
          from: options.from,
          to: m.recipient,
          subject: m.subject ?? 'Satu Pintu',
          text: m.text,
          ...(m.html !== null ? { html: m.html } : {}),
          messageId,
          headers: {
            'Content-Language': m.locale,
            // An automatic message: no vacation replies (RFC 3834 sec. 5).
            'Auto-Submitted': 'auto-generated',
          },
        })
        if (Array.isArray(info.rejected) && info.rejected.length > 0) {
          throw new DeliveryError('smtp: the server refused the recipient', { permanent: true })
        }
        return { messageId: info.messageId || messageId }
      } catch (err) {
        if (err instanceof DeliveryError) throw err
        throw classify(err)
      }
    },
    async close() {
      transport.close()
    },
  }
}
