import { Writable } from 'node:stream'
import t from 'tap'
import { createProcessLogger } from '../../src/http/logging.ts'

function terminal(isTTY: boolean) {
  const chunks: string[] = []
  const out = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk.toString('utf8'))
        cb()
      },
    }),
    { isTTY },
  )
  return { out, text: () => chunks.join('') }
}

t.test('development logs on a terminal are readable lines; elsewhere, and in production, JSON', async (t) => {
  const dev = terminal(true)
  const pretty = await createProcessLogger({ level: 'info', name: 'satupintu', env: 'development' }, dev.out)
  pretty.info({ outboxId: 'abc', password: 'rahasia' }, 'message sent')
  t.match(dev.text(), /^\[\d\d:\d\d:\d\d\] INFO \(satupintu\): message sent\n/)
  t.notOk(dev.text().includes('rahasia'), 'redaction applies to pretty lines too')
  t.throws(() => JSON.parse(dev.text().split('\n')[0] ?? ''), 'not JSON')

  for (const [env, isTTY] of [
    ['production', true],
    ['development', false],
  ] as const) {
    const out = terminal(isTTY)
    const logger = await createProcessLogger({ level: 'info', name: 'satupintu', env }, out.out)
    logger.info({ outboxId: 'abc' }, 'message sent')
    t.match(
      JSON.parse(out.text().split('\n')[0] ?? ''),
      { level: 30, name: 'satupintu', msg: 'message sent', outboxId: 'abc' },
      `${env}, tty ${isTTY}: JSON`,
    )
  }
})
