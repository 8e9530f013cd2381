/**
 * The reference code on error pages: short enough to read out on the phone, and found in
 * the log beside the full request id.
 */
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createBaseApp } from '../../src/http/app.ts'
import { errorHandling } from '../../src/http/errors.ts'
import { referenceCode, requestIdPrefix } from '../../src/http/reference-code.ts'
import { memoryLogger, testConfig } from '../helpers/config.ts'

const shape = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/

t.test(
  "a request id gives an 8-character code in two groups, without 0, O, 1 or I, that leads back to the id's first digits",
  async (t) => {
    for (let i = 0; i < 200; i++) {
      const id = randomUUID()
      const code = referenceCode(id)
      t.match(code, shape)
      t.equal(referenceCode(id), code, 'always the same code for one id')
      t.equal(requestIdPrefix(code), id.slice(0, 11), "the code names the id's first ten hex digits")
      t.equal(requestIdPrefix(code.toLowerCase().replace('-', ' ')), id.slice(0, 11), 'whatever the case and spacing')
    }
    t.match(referenceCode('not-a-uuid'), shape, 'an id that is not a uuid still gets a code')
    t.equal(requestIdPrefix('K7QM-2XP'), undefined)
    t.equal(requestIdPrefix('K7QM-2XP0'), undefined, 'a 0 is never in a code')
  },
)

t.test('an error page shows the short code, not the 36-character id; the log line has both', async (t) => {
  const log = memoryLogger('info')
  const a = createBaseApp({ config: testConfig(), logger: log.logger })
  await a.register(errorHandling)
  a.get('/boom', async () => {
    throw new Error('internal detail')
  })
  t.teardown(() => a.close())
  for (const url of ['/boom', '/nowhere']) {
    const res = await a.inject({ url, headers: { accept: 'text/html' } })
    const id = String(res.headers['x-request-id'])
    const code = referenceCode(id)
    t.match(res.body, `Kode referensi: ${code}`)
    t.notOk(res.body.includes(id), 'the full id is not on the page')
    if (url === '/boom') {
      const line = log.lines().find((l) => l.reqId === id && l.msg === 'request failed')
      t.equal(line?.ref, code, 'the log line that tells what happened carries the code beside the full id')
    }
    const lines = log.lines().filter((l) => l.ref === code)
    t.ok(
      lines.length > 0 && lines.every((l) => l.reqId === id),
      `${url}: searching the log for the code finds this request`,
    )
  }
})
