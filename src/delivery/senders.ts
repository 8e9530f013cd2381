// The delivery port: one Sender per channel. Each implementation has its tests against a
// real server speaking its protocol (test/delivery/*.test.ts).

import type { OutboxChannel, OutboxLocale, OutboxParams } from '../db/tables/outbox.ts'

/** A message as a sender sees it: one row of the outbox. */
export interface OutgoingMessage {
  /** The outbox row id: the idempotency key and the base of the e-mail's Message-ID. */
  readonly id: string
  readonly channel: OutboxChannel
  readonly recipient: string
  readonly subject: string | null
  readonly text: string
  readonly html: string | null
  readonly locale: OutboxLocale
  /** `code` or a notice kind. */
  readonly kind: string
  readonly params: OutboxParams | null
}

export interface SendResult {
  /** The provider's id for the message (SMTP: the Message-ID the server accepted). */
  readonly messageId: string
}

export interface Sender {
  /** smtp, http-sms, whatsapp, dev-mailbox: recorded on the row. */
  readonly name: string
  readonly channel: OutboxChannel
  send(message: OutgoingMessage): Promise<SendResult>
  close?(): Promise<void>
}

/**
 * A failed send. `permanent`: trying again cannot help (the recipient or the request was
 * refused); otherwise it is retried with backoff. The message is safe to store and log:
 * it never holds the text nor the full recipient.
 */
export class DeliveryError extends Error {
  readonly permanent: boolean
  constructor(message: string, options: { permanent: boolean; cause?: unknown }) {
    super(redactContacts(message), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'DeliveryError'
    this.permanent = options.permanent
  }
}

/** Masks e-mail addresses and phone numbers in a provider's error text. */
export function redactContacts(text: string): string {
  return text
    .replace(/[A-Za-z0-9._%+-]+@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g, '***@$1')
    .replace(/\+?\d[\d -]{7,}\d/g, '***')
    .slice(0, 500)
}
