/** SMS senders against real HTTP servers on 127.0.0.1 that check each request exactly. */
import { createHmac } from 'node:crypto'
import t from 'tap'
import { DeliveryError, type OutgoingMessage } from '../../src/delivery/senders.ts'
import { createHttpSmsSender, type HttpSmsConfig } from '../../src/delivery/sms-http.ts'
import { createWhatsAppSender, type WhatsAppConfig } from '../../src/delivery/whatsapp.ts'
import { recordingServer } from '../helpers/delivery.ts'

const code: OutgoingMessage = {
  id: '0b7f6f2e-2d7c-4b55-9a43-0d1a4c1e9a10',
  channel: 'sms',
  recipient: '+6281234567890',
  subject: null,
  text: '123456 adalah kode verifikasi Satu Pintu. Berlaku 10 menit. Jangan berikan kepada siapa pun.',
  html: null,
  locale: 'id',
  kind: 'code',
  params: { code: '123456', minutes: 10 },
}
const notice: OutgoingMessage = {
  ...code,
  id: '5d1b5a0e-8c2f-4f0e-a7a4-1f6f5b6f2c33',
  kind: 'password_changed',
  locale: 'en',
  params: null,
  text: 'Satu Pintu: your password was changed 1 December 2026 at 10:04 WIB. Not you? Reset it now.',
}

function httpConfig(url: string, over: Partial<HttpSmsConfig> = {}): HttpSmsConfig {
  return {
    url: `${url}/api/v1/sms`,
    secret: 'gateway-shared-secret-2026',
    signatureHeader: 'X-Signature',
    fields: { to: 'msisdn', text: 'message', reference: 'ref_id' },
    extra: { sender: 'SUKAMAJU' },
    messageIdField: 'data.message_id',
    timeoutMs: 1000,
    ...over,
  }
}

t.test(
  'the HTTP gateway gets a JSON POST with the configured fields, signed with HMAC-SHA256, with an idempotency key',
  async (t) => {
    const server = await recordingServer(t, () => ({
      status: 202,
      body: { status: 'queued', data: { message_id: 'GW-778899' } },
    }))
    const sender = createHttpSmsSender(httpConfig(server.url))
    t.strictSame(await sender.send(code), { messageId: 'GW-778899' })
    t.equal(server.requests.length, 1)
    const req = server.requests[0]!
    t.equal(req.method, 'POST')
    t.equal(req.url, '/api/v1/sms')
    t.equal(req.headers['content-type'], 'application/json')
    t.equal(req.headers['idempotency-key'], code.id)
    t.strictSame(JSON.parse(req.body), {
      sender: 'SUKAMAJU',
      msisdn: '+6281234567890',
      message: code.text,
      ref_id: code.id,
    })
    const expected = `sha256=${createHmac('sha256', 'gateway-shared-secret-2026').update(req.body).digest('hex')}`
    t.equal(req.headers['x-signature'], expected, 'the signature covers the exact body bytes')
  },
)

t.test('the HTTP gateway: 4xx is a permanent refusal; 429, 5xx, a timeout and a missing id are retried', async (t) => {
  const cases: Array<[number, unknown, boolean]> = [
    [400, { error: 'invalid msisdn' }, true],
    [401, { error: 'bad signature' }, true],
    [429, { error: 'slow down' }, false],
    [503, { error: 'maintenance' }, false],
    [200, { status: 'ok' }, false],
  ]
  for (const [status, body, permanent] of cases) {
    const server = await recordingServer(t, () => ({ status, body }))
    const err = await createHttpSmsSender(httpConfig(server.url))
      .send(code)
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    t.ok(err instanceof DeliveryError, `HTTP ${status}`)
    t.equal((err as DeliveryError).permanent, permanent, `HTTP ${status} permanent: ${permanent}`)
  }
  const slow = await recordingServer(t, () => ({ status: 200, body: { data: { message_id: 'late' } }, delayMs: 1500 }))
  const err = await createHttpSmsSender(httpConfig(slow.url, { timeoutMs: 200 }))
    .send(code)
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  t.match(err, { permanent: false, message: /no answer within 200 ms/ })
})

function waConfig(url: string): WhatsAppConfig {
  return {
    baseUrl: `${url}/v21.0`,
    phoneNumberId: '109876543210',
    accessToken: 'EAAG-test-token-abcdefghijklmnop',
    codeTemplate: 'kode_verifikasi',
    noticeTemplate: 'pemberitahuan_akun',
    timeoutMs: 1000,
  }
}

t.test(
  'WhatsApp: a code is an authentication template with the code in the body and the copy-code button',
  async (t) => {
    const server = await recordingServer(t, () => ({
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        contacts: [{ input: '6281234567890', wa_id: '6281234567890' }],
        messages: [{ id: 'wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjBBM0Y' }],
      },
    }))
    const sender = createWhatsAppSender(waConfig(server.url))
    t.strictSame(await sender.send(code), { messageId: 'wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjBBM0Y' })
    const req = server.requests[0]!
    t.equal(req.method, 'POST')
    t.equal(req.url, '/v21.0/109876543210/messages')
    t.equal(req.headers.authorization, 'Bearer EAAG-test-token-abcdefghijklmnop')
    t.equal(req.headers['content-type'], 'application/json')
    t.strictSame(JSON.parse(req.body), {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '6281234567890',
      type: 'template',
      template: {
        name: 'kode_verifikasi',
        language: { code: 'id' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: '123456' }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] },
        ],
      },
    })
  },
)

t.test("WhatsApp: a notice is the utility template with its text, in the citizen's language", async (t) => {
  const server = await recordingServer(t, () => ({ status: 200, body: { messages: [{ id: 'wamid.notice1' }] } }))
  await createWhatsAppSender(waConfig(server.url)).send(notice)
  t.strictSame(JSON.parse(server.requests[0]!.body), {
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: '6281234567890',
    type: 'template',
    template: {
      name: 'pemberitahuan_akun',
      language: { code: 'en' },
      components: [{ type: 'body', parameters: [{ type: 'text', text: notice.text }] }],
    },
  })
})

t.test('WhatsApp: an undeliverable number is permanent; a server error and an expired token are retried', async (t) => {
  const cases: Array<[number, unknown, boolean]> = [
    [400, { error: { message: 'Message undeliverable', type: 'OAuthException', code: 131026 } }, true],
    [500, { error: { message: 'Service temporarily unavailable', code: 2 } }, false],
    [401, { error: { message: 'Error validating access token', code: 190 } }, false],
  ]
  for (const [status, body, permanent] of cases) {
    const server = await recordingServer(t, () => ({ status, body }))
    const err = await createWhatsAppSender(waConfig(server.url))
      .send(code)
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    t.match(err, { permanent }, `HTTP ${status}`)
    t.notOk(String((err as Error).message).includes('6281234567890'), 'no number in the error')
  }
})
