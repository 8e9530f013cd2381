/**
 * Issue 12 part 2: `satupintu audit export` streams in constant memory — a child process
 * with a heap smaller than the export writes all of it. A file of its own: filling and
 * reading 100 MB takes a while on a busy machine.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'
import { spawnCli } from '../helpers/process.ts'

async function cliDatabase(
  t: Test,
  kind: 'pglite' | 'postgres',
): Promise<{ env: Record<string, string>; open(): Promise<DatabaseHandle> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-audit-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  let database: Record<string, unknown>
  let env: Record<string, string>
  if (kind === 'pglite') {
    database = { pgliteDir: path.join(dir, 'pglite') }
    env = { PGLITE_DATA_DIR: path.join(dir, 'pglite') }
  } else {
    const fresh = await freshDatabase(t, 'postgres')
    database = { url: fresh.url }
    env = { DATABASE_URL: fresh.url as string }
  }
  const config = testConfig({ dataDir: dir, database })
  const h = await openDatabase(config.database)
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return { env: { SATUPINTU_DATA_DIR: dir, ...env }, open: () => openDatabase(config.database) }
}

// Once a known failure: the child died of heap exhaustion, but after it had written every
// entry and said so. What filled its heap was not the export (its heap stays at ~42 MB
// after each full collection, --trace-gc, fast or slow reader) but tap's coverage
// collector, which tap's spawn wrapper puts into every child (NODE_OPTIONS --import of
// @tapjs/processinfo): at exit it takes the precise coverage of every module the CLI
// loaded and serialises it, which an 80 MB heap cannot hold. It passed under
// `tap --disable-coverage` only. The child now runs without it: what is measured is the
// command alone.
t.test(
  'streams a trail larger than its heap: 100 MB of entries through an 80 MB heap',
  { timeout: 280_000 },
  async (t) => {
    // What streams is ours (keyset pages, backpressure), the same on both backends: take the
    // faster one to fill and read 100 MB.
    const db = await cliDatabase(t, databaseKinds().includes('postgres') ? 'postgres' : 'pglite')
    const h = await db.open()
    const rows = 36_000
    // 2.7 KB of data per entry (a long user agent, a reason text): 36,000 of them, more
    // than the heap could hold. (The CLI itself peaks at some 50 MB of heap while starting.)
    await sql`insert into audit_events (event, actor, data)
            select 'test.bulk', 'system', jsonb_build_object('n', g, 'note', repeat('x', 2700))
              from generate_series(1, ${rows}) as g`.execute(h.db)
    await h.close()
    const child = spawnCli(['audit', 'export', '--since', '2000-01-01', '--format', 'jsonl'], {
      NODE_ENV: 'test',
      NODE_OPTIONS: '--max-old-space-size=80',
      // No coverage collector of tap's in the measured process (see above).
      _TAPJS_PROCESSINFO_COVERAGE_: '0',
      ...db.env,
    })
    // Count what arrives without keeping it.
    let bytes = 0
    let lines = 0
    let last = ''
    child.child.stdout?.removeAllListeners('data')
    child.child.stdout?.on('data', (c: Buffer) => {
      bytes += c.length
      for (const b of c) if (b === 10) lines++
      last = (last + c.toString('utf8')).slice(-8000)
    })
    let stderr = ''
    child.child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.child.on('close', (c) => resolve(c)))
    t.equal(code, 0, `exited 0${code === 0 ? '' : `: ${stderr.slice(-500)}`}`)
    t.equal(lines, rows, 'every entry, one line each')
    t.ok(bytes > 95 * 1024 * 1024, `${(bytes / 1024 / 1024).toFixed(0)} MB written through an 80 MB heap`)
    // One INSERT gives every row the same `at`: their order is then by id, not by n.
    const lastLine = JSON.parse(last.trimEnd().split('\n').pop() ?? '') as { event?: string; data?: { n?: number } }
    t.equal(lastLine.event, 'test.bulk', 'the last line is a whole entry')
    t.ok(Number.isInteger(lastLine.data?.n), 'with its data')
    t.match(stderr, /exported 36000 audit entries/)
  },
)
