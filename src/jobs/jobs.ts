import type { Logger } from 'pino'

/**
 * A service's background work in one list: each job has a name, an interval and a run.
 * A job's next run is scheduled only when its previous run has settled, so runs of one job
 * never overlap; a failure is logged (warn, with the job's name) and the job runs again at
 * its next interval; stop() clears every timer and waits for runs in flight, so a service
 * closes with nothing left running. Timers are unref'd: they never keep a process alive.
 *
 * Hand-written rather than a scheduler package: this is fixed-interval work with no cron
 * expressions, persistence or distribution, and a dozen lines say exactly that.
 */
export interface Job {
  readonly name: string
  readonly everyMs: number
  /** Delay before the first run; default everyMs (first run after one interval). */
  readonly firstAfterMs?: number
  readonly run: () => Promise<unknown>
}

export interface Jobs {
  /** The jobs, for logs and tests: visible at a glance. */
  readonly names: readonly string[]
  start(): void
  stop(): Promise<void>
}

export function createJobs(
  logger: Pick<Logger, 'warn'>,
  jobs: readonly Job[],
  options: { readonly stopWaitMs?: number } = {},
): Jobs {
  const timers = new Map<string, NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  const names = new Map<Promise<void>, string>()
  // A run stuck on a dead connection must not hold a service's close for ever: stop()
  // waits this long for runs in flight, then says which are still running and returns.
  const stopWaitMs = options.stopWaitMs ?? 10_000
  let stopped = true

  const schedule = (job: Job, delay: number) => {
    if (stopped) return
    const timer = setTimeout(() => {
      timers.delete(job.name)
      const run = (async () => {
        try {
          await job.run()
        } catch (err) {
          logger.warn({ err, job: job.name }, `background job ${job.name} failed; retried in ${job.everyMs} ms`)
        }
      })()
      running.add(run)
      names.set(run, job.name)
      void run.finally(() => {
        running.delete(run)
        names.delete(run)
        schedule(job, job.everyMs)
      })
    }, delay)
    timer.unref()
    timers.set(job.name, timer)
  }

  return {
    names: jobs.map((j) => j.name),
    start() {
      if (!stopped) return
      stopped = false
      for (const job of jobs) schedule(job, job.firstAfterMs ?? job.everyMs)
    },
    async stop() {
      stopped = true
      for (const timer of timers.values()) clearTimeout(timer)
      timers.clear()
      if (running.size === 0) return
      let timer: NodeJS.Timeout | undefined
      const waited = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), stopWaitMs)
        timer.unref()
      })
      const outcome = await Promise.race([Promise.allSettled([...running]).then(() => 'done' as const), waited])
      clearTimeout(timer)
      if (outcome === 'late') {
        logger.warn(
          { jobs: [...running].map((r) => names.get(r)) },
          `background jobs still running after ${stopWaitMs} ms; closing without them`,
        )
      }
    },
  }
}
