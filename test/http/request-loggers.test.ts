import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import t from 'tap'
import { useLazyRequestLoggers } from '../../src/http/request-loggers.ts'
import { createLogger } from '../../src/http/logging.ts'

function capture(level: string) {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    },
  })
  return { lines, logger: createLogger({ level, name: 'test' }, sink) }
}

async function appWith(level: string) {
  const { lines, logger } = capture(level)
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    disableRequestLogging: true,
    genReqId: () => 'req-lazy-0001',
  })
  useLazyRequestLoggers(app)
  app.get('/warn', async (req) => {
    req.log.info({ step: 1 }, 'not at warn')
    req.log.warn({ step: 2, headers: { authorization: 'Bearer secret' }, nik: '3201011201900001' }, 'written')
    return { ok: true }
  })
  app.get('/quiet', async (req) => {
    req.log.debug('below the level')
    return { ok: true }
  })
  app.get('/child', async (req) => {
    req.log.child({ part: 'inner' }).warn('from a grandchild')
    return { ok: true }
  })
  return { app, lines }
}

t.test(
  "a request logger writes what pino's own child would: the request id, the level filter, redaction",
  async (t) => {
    const { app, lines } = await appWith('warn')
    t.teardown(() => app.close())
    t.equal((await app.inject('/warn')).statusCode, 200)
    t.equal(lines.length, 1)
    t.match(lines[0], { level: 40, reqId: 'req-lazy-0001', step: 2, msg: 'written' })
    const text = JSON.stringify(lines[0])
    t.notOk(text.includes('secret') || text.includes('3201011201900001'), 'redacted as configured')
    t.equal((await app.inject('/child')).statusCode, 200)
    t.match(lines[1], { reqId: 'req-lazy-0001', part: 'inner', msg: 'from a grandchild' })
  },
)

t.test('a request that logs nothing at an enabled level writes nothing', async (t) => {
  const { app, lines } = await appWith('info')
  t.teardown(() => app.close())
  t.equal((await app.inject('/quiet')).statusCode, 200)
  t.same(lines, [])
  t.equal((await app.inject('/warn')).statusCode, 200)
  t.same(
    lines.map((l) => [l.reqId, l.msg]),
    [
      ['req-lazy-0001', 'not at warn'],
      ['req-lazy-0001', 'written'],
    ],
  )
})
