/**
 * Measuring a process's memory in tests: the peak RSS while something runs, in a child
 * process with a 1 MB semi-space, so that what is measured is buffering and not the
 * young generation a busy machine lets grow by tens of MB between collections on its
 * own (a bare Node server reading 200 MB shows the same). A production service can run
 * with the same flag through NODE_OPTIONS.
 */
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** Samples this process's RSS until stopped; returns the peak. */
export function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 5)
  return {
    stop() {
      clearInterval(timer)
      return Math.max(peak, process.memoryUsage().rss)
    },
  }
}

/**
 * True in the child that should measure. In the parent, spawns the test file (given as
 * its `import.meta.url`) as that child, with --max-semi-space-size=1, and returns false:
 * define the file's tests only when it returns true.
 */
export function inMeasuringChild(moduleUrl: string): boolean {
  if (process.env.SATUPINTU_MEMORY_CHILD === '1') return true
  const flags = process.execArgv.filter((a) => !a.startsWith('--max-semi-space-size'))
  t.spawn(process.execPath, [...flags, '--max-semi-space-size=1', fileURLToPath(moduleUrl)], {
    env: { ...process.env, SATUPINTU_MEMORY_CHILD: '1' },
  })
  return false
}
