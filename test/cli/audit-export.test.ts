/**
 * Issue 12 part 2: `satupintu audit export --since … --format jsonl`, the audit trail for
 * the regency's records, in-process against each kind of database. Its memory bound is
 * tested in audit-export-memory.test.ts.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { exportAuditEvents } from '../../src/audit/export.ts'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'

interface CliDb {
  overrides: Record<string, unknown>
  env: Record<string, string>
  open(): Promise<DatabaseHandle>
}

async function cliDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<CliDb> {
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
  const overrides = { dataDir: dir, database }
  const config = testConfig(overrides)
  const h = await openDatabase(config.database)
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return { overrides, env: { SATUPINTU_DATA_DIR: dir, ...env }, open: () => openDatabase(config.database) }
}

async function run(db: CliDb, args: string[]): Promise<{ code: number; lines: string[]; err: string }> {
  const chunks: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => chunks.push(`${l}\n`), err: (l) => err.push(l) }
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'))
      cb()
    },
  })
  const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides: db.overrides, stdout })
  return {
    code,
    lines: chunks
      .join('')
      .split('\n')
      .filter((l) => l !== ''),
    err: err.join('\n'),
  }
}

/** Rows at chosen instants: three share one millisecond, told apart by microseconds. */
const instants = [
  '2026-10-31 16:59:59.999999+00', // 23:59:59 WIB on 31 October: before the day
  '2026-10-31 17:00:00.000000+00', // 00:00 WIB on 1 November
  '2026-11-01 10:00:00.000001+00',
  '2026-11-01 10:00:00.000002+00',
  '2026-11-01 10:00:00.000003+00',
  '2026-11-02 10:00:00+00',
  '2026-11-03 10:00:00+00',
]

async function seed(db: DatabaseHandle): Promise<void> {
  for (const [i, at] of instants.entries()) {
    await sql`insert into audit_events (at, event, actor, data) values (${at}::timestamptz, ${`test.event.${i}`}, 'system', ${JSON.stringify({ n: i })}::jsonb)`.execute(
      db.db,
    )
  }
}

for (const kind of databaseKinds()) {
  t.test(`on ${kind}`, async (t) => {
    const db = await cliDatabase(t, kind)
    const h = await db.open()
    await seed(h)

    await t.test('pages through entries that share a millisecond without skipping or repeating one', async (t) => {
      const seen: string[] = []
      for await (const row of exportAuditEvents(h.db, { since: new Date('2026-01-01T00:00:00Z'), pageSize: 2 }))
        seen.push(row.event)
      t.same(
        seen,
        instants.map((_, i) => `test.event.${i}`),
        'every entry once, oldest first, across pages of two',
      )
    })
    await h.close()

    await t.test(
      'exports from --since, one JSON object per line, oldest first; a date is midnight in the regency',
      async (t) => {
        const r = await run(db, ['audit', 'export', '--since', '2026-11-01', '--format', 'jsonl'])
        t.equal(r.code, 0)
        const rows = r.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
        t.same(
          rows.map((x) => x.event),
          ['test.event.1', 'test.event.2', 'test.event.3', 'test.event.4', 'test.event.5', 'test.event.6'],
          'from 00:00 WIB on 1 November',
        )
        t.same(Object.keys(rows[0] ?? {}), [
          'id',
          'at',
          'event',
          'actor',
          'subject_id',
          'client_id',
          'ip',
          'request_id',
          'data',
        ])
        t.equal(rows[0]?.at, '2026-10-31T17:00:00.000000Z', 'times in UTC with microseconds')
        t.equal(rows[2]?.at, '2026-11-01T10:00:00.000002Z')
        t.same(rows[0]?.data, { n: 1 })
        t.match(r.err, /^exported 6 audit entries$/, 'a count on stderr, nothing but entries on stdout')
      },
    )

    await t.test('--until is exclusive, and takes an ISO time with its zone', async (t) => {
      const r = await run(db, [
        'audit',
        'export',
        '--since',
        '2026-11-01T17:00:00+07:00',
        '--until',
        '2026-11-02T10:00:00Z',
        '--format',
        'jsonl',
      ])
      t.equal(r.code, 0)
      t.same(
        r.lines.map((l) => (JSON.parse(l) as { event: string }).event),
        ['test.event.2', 'test.event.3', 'test.event.4'],
      )
    })

    await t.test(
      'refuses a missing or bad --since, a bad --until and an unknown format with exit 2 and one line',
      async (t) => {
        for (const [args, message] of [
          [['audit', 'export', '--format', 'jsonl'], undefined],
          [['audit', 'export', '--since', 'yesterday', '--format', 'jsonl'], /--since must be a date/],
          [['audit', 'export', '--since', '2026-02-30', '--format', 'jsonl'], /is not a calendar date/],
          [['audit', 'export', '--since', '2026-11-01T10:00:00', '--format', 'jsonl'], /with its zone/],
          [
            ['audit', 'export', '--since', '2026-11-02', '--until', '2026-11-01', '--format', 'jsonl'],
            /--until must be after --since/,
          ],
          [['audit', 'export', '--since', '2026-11-01', '--format', 'csv'], /--format must be jsonl/],
        ] as const) {
          const r = await run(db, [...args])
          t.equal(r.code, 2, args.join(' '))
          t.same(r.lines, [], 'nothing on stdout')
          if (message !== undefined) t.match(r.err, message)
        }
      },
    )
  })
}
