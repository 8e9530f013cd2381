// A generic HTTP SMS gateway, the shape most Indonesian SMS gateways take: a JSON POST
// with configurable field names. The body is signed with HMAC-SHA256 under a shared
// secret (header `X-Signature: sha256=<hex>`, the scheme GitHub and most webhook
// senders use), so the gateway can tell our requests from forged ones; our message id is
// sent as `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) and in the
// body, so a request repeated after a crash is recognised by a gateway that supports it.

import { createHmac } from 'node:crypto'
import type { Config } from '../config/schema.ts'
import { isPermanentStatus, pick, postJson } from './http-json.ts'
import { DeliveryError, type OutgoingMessage, type Sender } from './senders.ts'

export type HttpSmsConfig = NonNullable<Config['delivery']['sms']['http']>

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export function createHttpSmsSender(config: HttpSmsConfig): Sender {
  const url = config.url
  const secret = config.secret
  if (url === undefined || secret === undefined) throw new Error('sms: delivery.sms.http.url and .secret are required')
  return {
    name: 'http-sms',
    channel: 'sms',
    async send(m: OutgoingMessage) {
      const payload: Record<string, string> = { ...config.extra }
      payload[config.fields.to] = m.recipient
      payload[config.fields.text] = m.text
      payload[config.fields.reference] = m.id
      const body = JSON.stringify(payload)
      const answer = await postJson(
        url,
        body,
        { [config.signatureHeader]: signBody(secret, body), 'idempotency-key': m.id },
        config.timeoutMs,
        'sms gateway',
      )
      if (answer.status < 200 || answer.status > 299) {
        throw new DeliveryError(`sms gateway: HTTP ${answer.status}`, { permanent: isPermanentStatus(answer.status) })
      }
      const id = pick(answer.body, config.messageIdField)
      if (id === undefined)
        throw new DeliveryError(`sms gateway: HTTP ${answer.status} without ${config.messageIdField} in the answer`, {
          permanent: false,
        })
      return { messageId: id }
    },
  }
}
