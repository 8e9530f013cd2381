// WhatsApp Business Cloud API (Graph API `POST /{phone-number-id}/messages`). A business
// may start a conversation only with an approved template: codes use an authentication
// template (body {{1}} = the code, and the copy-code button takes the code as its URL
// parameter), notices a utility template whose body {{1}} is the notice's short text.
// Meta's API has no idempotency key: a message retried after a crash mid-send may arrive
// twice (the lease makes that window a crash, not a habit).

import type { Config } from '../config/schema.ts'
import { isPermanentStatus, pick, postJson } from './http-json.ts'
import { DeliveryError, type OutgoingMessage, type Sender } from './senders.ts'

export type WhatsAppConfig = NonNullable<Config['delivery']['sms']['whatsapp']>

/** Graph API error codes that retrying cannot fix (invalid recipient, template problems). */
const permanentCodes = new Set([100, 131008, 131009, 131021, 131026, 131051, 132000, 132001, 132005, 132007, 132012])

export function whatsappRequest(
  config: Pick<WhatsAppConfig, 'codeTemplate' | 'noticeTemplate'>,
  m: OutgoingMessage,
): Record<string, unknown> {
  const to = m.recipient.replace(/^\+/, '')
  const language = { code: m.locale === 'id' ? 'id' : 'en' }
  if (m.kind === 'code') {
    const code = m.params?.code
    if (code === undefined)
      throw new DeliveryError('whatsapp: a code message without its code parameter', { permanent: true })
    return {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'template',
      template: {
        name: config.codeTemplate,
        language,
        components: [
          { type: 'body', parameters: [{ type: 'text', text: code }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: code }] },
        ],
      },
    }
  }
  return {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to,
    type: 'template',
    template: {
      name: config.noticeTemplate,
      language,
      components: [{ type: 'body', parameters: [{ type: 'text', text: m.text }] }],
    },
  }
}

export function createWhatsAppSender(config: WhatsAppConfig): Sender {
  const { phoneNumberId, accessToken } = config
  if (phoneNumberId === undefined || accessToken === undefined)
    throw new Error('whatsapp: delivery.sms.whatsapp.phoneNumberId and .accessToken are required')
  const url = `${config.baseUrl.replace(/\/+$/, '')}/${phoneNumberId}/messages`
  return {
    name: 'whatsapp',
    channel: 'sms',
    async send(m: OutgoingMessage) {
      const body = JSON.stringify(whatsappRequest(config, m))
      const answer = await postJson(url, body, { authorization: `Bearer ${accessToken}` }, config.timeoutMs, 'whatsapp')
      if (answer.status < 200 || answer.status > 299) {
        const code = Number(pick(answer.body, 'error.code'))
        const permanent =
          permanentCodes.has(code) ||
          (isPermanentStatus(answer.status) && answer.status !== 401 && answer.status !== 403)
        throw new DeliveryError(`whatsapp: HTTP ${answer.status}${Number.isFinite(code) ? ` (error ${code})` : ''}`, {
          permanent,
        })
      }
      const id = pick(answer.body, 'messages.0.id')
      if (id === undefined) throw new DeliveryError('whatsapp: answer without messages[0].id', { permanent: false })
      return { messageId: id }
    },
  }
}
