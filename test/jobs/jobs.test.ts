import t from 'tap'
import { createJobs } from '../../src/jobs/jobs.ts'

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

function recorder() {
  const warnings: { obj: { job?: string; err?: unknown }; msg: string }[] = []
  return { warnings, logger: { warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) } as never }
}

t.test('a failing job is logged with its name and run again at its next interval', async (t) => {
  const { warnings, logger } = recorder()
  let calls = 0
  const jobs = createJobs(logger, [
    {
      name: 'prune',
      everyMs: 10,
      firstAfterMs: 0,
      run: async () => {
        calls++
        if (calls === 1) throw new Error('database away')
      },
    },
  ])
  t.same(jobs.names, ['prune'])
  jobs.start()
  for (let i = 0; i < 100 && calls < 3; i++) await tick(5)
  await jobs.stop()
  t.ok(calls >= 3, `retried after the failure (${calls} runs)`)
  t.equal(warnings.length, 1, 'the one failure is logged once')
  t.equal(warnings[0]?.obj.job, 'prune')
  t.match(String((warnings[0]?.obj.err as Error | undefined)?.message), 'database away')
})

t.test('runs of one job never overlap', async (t) => {
  const { logger } = recorder()
  let active = 0
  let most = 0
  let calls = 0
  const jobs = createJobs(logger, [
    {
      name: 'slow',
      everyMs: 1,
      firstAfterMs: 0,
      run: async () => {
        calls++
        most = Math.max(most, ++active)
        await tick(15)
        active--
      },
    },
  ])
  jobs.start()
  for (let i = 0; i < 100 && calls < 3; i++) await tick(5)
  await jobs.stop()
  t.equal(most, 1)
})

t.test('stop() waits for a run in flight and no run starts afterwards', async (t) => {
  const { logger } = recorder()
  let calls = 0
  let finished = false
  const jobs = createJobs(logger, [
    {
      name: 'digest',
      everyMs: 5,
      firstAfterMs: 0,
      run: async () => {
        calls++
        await tick(20)
        finished = true
      },
    },
  ])
  jobs.start()
  await tick(5)
  t.equal(calls, 1, 'the first run has started')
  await jobs.stop()
  t.ok(finished, 'stop() returned only after the run finished')
  await tick(30)
  t.equal(calls, 1, 'nothing ran after stop()')
})

t.test(
  'stop() does not wait for ever on a run that never settles: it returns after its bound and names the job',
  async (t) => {
    const { logger, warnings } = recorder()
    const jobs = createJobs(
      logger,
      [{ name: 'ended sessions poll', everyMs: 5, firstAfterMs: 0, run: () => new Promise(() => {}) }],
      { stopWaitMs: 50 },
    )
    // The bound's timer is unref'd, as in a service, where the server keeps the loop alive.
    const alive = setInterval(() => {}, 1000)
    jobs.start()
    await tick(10)
    const started = Date.now()
    await jobs.stop()
    const took = Date.now() - started
    clearInterval(alive)
    t.ok(took >= 45 && took < 1000, `returned after ${took} ms`)
    t.match(JSON.stringify(warnings), /ended sessions poll/, 'the stuck job is named in the warning')
  },
)
