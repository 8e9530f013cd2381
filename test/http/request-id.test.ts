// SECURITY.md line 35 (issue 10 §4): a client-chosen X-Request-Id never becomes the request id.
import t from 'tap'
import { createBaseApp } from '../../src/http/app.ts'
import { errorHandling } from '../../src/http/errors.ts'
import { memoryLogger, testConfig } from '../helpers/config.ts'
import { agencyTable, echo, json, request, startGateway, startUpstream } from '../gateway/harness.ts'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

async function app(overrides: Record<string, unknown> = {}) {
  const log = memoryLogger('info')
  const a = createBaseApp({ config: testConfig(overrides), logger: log.logger })
  await a.register(errorHandling)
  a.get('/where', async (req) => {
    req.log.info('handled')
    return { id: req.id }
  })
  return { a, log }
}

t.test('a client-chosen X-Request-Id is not the request id: one is generated for every request', async (t) => {
  const { a, log } = await app()
  const res = await a.inject({ url: '/where', headers: { 'x-request-id': 'citizen-chosen-0001' } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['x-request-id'], uuid)
  t.not(res.headers['x-request-id'], 'citizen-chosen-0001')
  t.equal(res.json().id, res.headers['x-request-id'], 'the id the handler sees is the generated one')
  const lines = log.lines().filter((l) => l.msg === 'handled')
  t.equal(lines.length, 1)
  t.equal(lines[0]?.reqId, res.headers['x-request-id'])
  t.notOk(log.text().includes('citizen-chosen-0001'), "an untrusted caller's id is not even logged")
})

t.test('two requests with the same X-Request-Id get different ids', async (t) => {
  const { a } = await app()
  const one = await a.inject({ url: '/where', headers: { 'x-request-id': 'same-id-000001' } })
  const two = await a.inject({ url: '/where', headers: { 'x-request-id': 'same-id-000001' } })
  t.not(one.headers['x-request-id'], two.headers['x-request-id'])
})

t.test(
  "a trusted proxy's X-Request-Id is logged as callerRequestId beside our own id, and only when short and printable",
  async (t) => {
    // inject() comes from 127.0.0.1.
    const { a, log } = await app({ http: { trustProxy: ['127.0.0.1'] } })
    const res = await a.inject({ url: '/where', headers: { 'x-request-id': 'lb-trace-123456' } })
    t.match(res.headers['x-request-id'], uuid)
    const line = log.lines().find((l) => l.msg === 'handled')
    t.equal(line?.callerRequestId, 'lb-trace-123456')
    t.equal(line?.reqId, res.headers['x-request-id'])
    await a.inject({ url: '/where', headers: { 'x-request-id': `x${'a'.repeat(200)}` } })
    await a.inject({ url: '/where', headers: { 'x-request-id': 'bad id\u0007<script>' } })
    const later = log
      .lines()
      .filter((l) => l.msg === 'handled')
      .slice(1)
    t.equal(later.length, 2)
    for (const l of later) t.equal(l.callerRequestId, undefined, 'an overlong or odd caller id is dropped')
  },
)

t.test("the gateway forwards its own request id to the agency, not the client's", async (t) => {
  const up = await startUpstream(t, echo)
  const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
  const gw = await startGateway(t, table)
  const res = await request(`${gw.at('dinas-a')}/info`, { headers: { 'x-request-id': 'forged-by-client-01' } })
  t.equal(res.status, 200)
  const seen = json<{ headers: Record<string, string> }>(res.body).headers
  t.match(seen['x-request-id'], uuid)
  t.equal(seen['x-request-id'], res.headers['x-request-id'], "the agency sees the id the citizen's response carries")
  t.not(seen['x-request-id'], 'forged-by-client-01')
})
