// Delivery inside an idp process: the senders chosen by configuration, the outbox worker
// and its periodic jobs (the daily digest, forgetting expired codes), and in development
// the local mailbox. Stopped with the app (onClose).

import type { Kysely } from 'kysely'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import type { OutboxChannel } from '../db/tables/outbox.ts'
import { noticeOptionsOf } from '../accounts/notices.ts'
import { queueDocumentDigests } from '../documents/access-digest.ts'
import { startDevMailbox, type DevMailbox } from './dev-mailbox.ts'
import type { Sender } from './senders.ts'
import { createHttpSmsSender } from './sms-http.ts'
import { createSmtpSender } from './smtp.ts'
import { createWhatsAppSender } from './whatsapp.ts'
import { createOutboxWorker, type OutboxWorker, type WorkerLogger } from './worker.ts'
import { forgetExpiredCodes } from './retention.ts'

export interface Delivery {
  readonly worker: OutboxWorker | undefined
  readonly mailbox: DevMailbox | undefined
  readonly senders: Partial<Record<OutboxChannel, Sender>>
  stop(): Promise<void>
}

/** The senders of a configuration (the mailbox's SMTP port when e-mail goes there). */
export function buildSenders(config: Config, mailbox?: DevMailbox): Partial<Record<OutboxChannel, Sender>> {
  const d = config.delivery
  const senders: Partial<Record<OutboxChannel, Sender>> = {}
  if (d.email.transport === 'smtp' && d.email.smtp !== undefined) {
    senders.email = createSmtpSender({ from: d.email.from, smtp: d.email.smtp })
  } else if (d.email.transport === 'dev-mailbox' && mailbox !== undefined) {
    senders.email = createSmtpSender({
      from: d.email.from,
      name: 'dev-mailbox',
      smtp: {
        host: '127.0.0.1',
        port: mailbox.port,
        secure: false,
        requireTls: false,
        pool: false,
        maxConnections: 1,
        connectionTimeoutMs: 5000,
        socketTimeoutMs: 10000,
      },
    })
  }
  if (d.sms.provider === 'http' && d.sms.http !== undefined) senders.sms = createHttpSmsSender(d.sms.http)
  else if (d.sms.provider === 'whatsapp' && d.sms.whatsapp !== undefined)
    senders.sms = createWhatsAppSender(d.sms.whatsapp)
  else if (d.sms.provider === 'dev-mailbox' && mailbox !== undefined) senders.sms = mailbox.smsSender
  return senders
}

export async function startDelivery(input: {
  config: Config
  db: Kysely<Database>
  logger: WorkerLogger
}): Promise<Delivery> {
  const { config, db, logger } = input
  const d = config.delivery
  const wantsMailbox =
    config.env === 'development' && (d.email.transport === 'dev-mailbox' || d.sms.provider === 'dev-mailbox')
  const mailbox = wantsMailbox ? await startDevMailbox() : undefined
  const senders = buildSenders(config, mailbox)
  const typeNames = new Map(config.documents.types.map((t) => [t.id, t.name]))
  const worker = d.worker.enabled
    ? createOutboxWorker({
        db,
        senders,
        config: d.worker,
        logger,
        periodic: [
          {
            name: 'document-digest',
            everyMs: 10 * 60 * 1000,
            run: (now) =>
              queueDocumentDigests(db, {
                now,
                timeZone: config.regency.timeZone,
                ...noticeOptionsOf(config),
                documentTypeName: (type, locale) => typeNames.get(type)?.[locale] ?? type,
              }),
          },
          { name: 'forget-expired-codes', everyMs: 10 * 60 * 1000, run: (now) => forgetExpiredCodes(db, now) },
        ],
      })
    : undefined
  worker?.start()
  return {
    worker,
    mailbox,
    senders,
    async stop() {
      if (worker) await worker.stop()
      else await Promise.all(Object.values(senders).map((s) => s?.close?.()))
      await mailbox?.close()
    },
  }
}
