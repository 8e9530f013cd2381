import t from 'tap'
import { referenceCode } from '../../src/http/reference-code.ts'
import { AppError } from '../../src/errors/app-error.ts'
import { createBaseApp } from '../../src/http/app.ts'
import { errorHandling } from '../../src/http/errors.ts'
import { healthRoutes } from '../../src/http/health.ts'
import { redactUrl } from '../../src/http/logging.ts'
import { memoryLogger, testConfig } from '../helpers/config.ts'

async function app(ping: () => Promise<void> = async () => {}, logger = memoryLogger()) {
  const a = createBaseApp({ config: testConfig(), logger: logger.logger })
  await a.register(errorHandling)
  await a.register(healthRoutes, { ping })
  a.get('/boom', async () => {
    throw new Error('connection to db-internal.local:5432 lost')
  })
  a.get('/refuse', async () => {
    throw new AppError('too_many_requests', undefined, { headers: { 'retry-after': '30' } })
  })
  a.post(
    '/echo',
    { schema: { body: { type: 'object', required: ['x'], properties: { x: { type: 'string' } } } } },
    async (req) => req.body,
  )
  a.get('/log', async (req) => {
    req.log.info({ password: 'hunter22', nik: '3201010101900001', token: 'tok', user: { otp: '123456' } }, 'something')
    return { ok: true }
  })
  return a
}

t.test('liveness answers 200 without touching the database', async (t) => {
  const a = await app(async () => {
    throw new Error('down')
  })
  const res = await a.inject('/healthz')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('readiness answers 200 when the database answers and 503 when it does not', async (t) => {
  let up = true
  const a = await app(async () => {
    if (!up) throw new Error('ECONNREFUSED')
  })
  const ok = await a.inject('/readyz')
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { status: 'ready', checks: { database: 'up' } })
  up = false
  const down = await a.inject('/readyz')
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'unavailable', checks: { database: 'down' } })
  t.equal(down.headers['cache-control'], 'no-store')
})

t.test(
  "every response carries a request id of our own (test/http/request-id.test.ts covers callers' ids)",
  async (t) => {
    const a = await app()
    const fresh = await a.inject('/healthz')
    t.match(fresh.headers['x-request-id'], /^[0-9a-f-]{36}$/)
    const bad = await a.inject({ url: '/healthz', headers: { 'x-request-id': 'x\u0000y<script>' } })
    t.not(bad.headers['x-request-id'], 'x\u0000y<script>', 'a malformed one is replaced')
  },
)

t.test('a 5xx answers JSON with a stable code and the request id, never the internal message', async (t) => {
  const a = await app()
  const res = await a.inject({ url: '/boom' })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { error: 'internal', message: 'Internal server error.', request_id: res.headers['x-request-id'] })
  t.notMatch(res.body, /db-internal/)
})

t.test('a browser gets a page for the same error, with the reference code and no stack', async (t) => {
  const a = await app()
  const res = await a.inject({ url: '/boom', headers: { accept: 'text/html' } })
  t.equal(res.statusCode, 500)
  t.match(res.headers['content-type'], /^text\/html/)
  t.ok(
    res.body.includes(referenceCode(String(res.headers['x-request-id']))),
    'the reference code is the short code of the request id',
  )
  t.match(res.body, /Kode referensi: [2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}</)
  t.notMatch(res.body, /db-internal|at .*\.ts:\d+/)
})

t.test('an error with headers keeps them (Retry-After on 429)', async (t) => {
  const a = await app()
  const res = await a.inject('/refuse')
  t.equal(res.statusCode, 429)
  t.equal(res.headers['retry-after'], '30')
  t.equal(res.json().error, 'too_many_requests')
})

t.test('schema validation failures are 400 validation_failed, unknown paths 404 not_found', async (t) => {
  const a = await app()
  const bad = await a.inject({ method: 'POST', url: '/echo', payload: { y: 1 } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().error, 'validation_failed')
  const missing = await a.inject('/nope')
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'not_found')
})

t.test('a body over the limit is 413 payload_too_large', async (t) => {
  const a = await app()
  const res = await a.inject({ method: 'POST', url: '/echo', payload: { x: 'a'.repeat(2 * 1024 * 1024) } })
  t.equal(res.statusCode, 413)
  t.equal(res.json().error, 'payload_too_large')
})

t.test('logs never hold passwords, NIKs, tokens, one-time codes, cookies or authorization', async (t) => {
  const log = memoryLogger()
  const a = await app(async () => {}, log)
  await a.inject({
    url: '/log?code=authcode123&state=s1&ok=1',
    headers: { authorization: 'Bearer secret-token', cookie: 'sid=cookie-secret' },
  })
  const text = log.text()
  for (const secret of [
    'hunter22',
    '3201010101900001',
    'secret-token',
    'cookie-secret',
    'authcode123',
    '123456',
    '"tok"',
  ]) {
    t.notMatch(text, secret, `no ${secret}`)
  }
  t.match(text, /"reqId"/, 'lines carry the request id')
  t.match(text, /ok=1/, 'harmless query parameters stay')
})

t.test('redactUrl hides the values of sensitive query parameters only', async (t) => {
  t.equal(redactUrl('/cb?code=abc&state=xyz&x=1'), '/cb?code=[redacted]&state=[redacted]&x=1')
  t.equal(redactUrl('/a?NIK=3201010101900001'), '/a?NIK=[redacted]')
  t.equal(redactUrl('/plain'), '/plain')
})
