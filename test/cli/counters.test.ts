/**
 * `satupintu counters add|list|disable` (issue 15), run in-process against a database of
 * each kind: a counter is registered with its name, location and unit, listed, disabled
 * once, and each change is audited.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'

interface CliDb {
  overrides: Record<string, unknown>
  open(): Promise<DatabaseHandle>
}

async function cliDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<CliDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-counters-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const database =
    kind === 'pglite' ? { pgliteDir: path.join(dir, 'pglite') } : { url: (await freshDatabase(t, 'postgres')).url }
  const overrides = { dataDir: dir, database }
  const config = testConfig(overrides)
  const open = () => openDatabase(config.database)
  const h = await open()
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return { overrides, open }
}

async function run(db: CliDb, args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides: db.overrides })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

for (const kind of databaseKinds()) {
  t.test(`counters add, list, disable (${kind})`, async (t) => {
    const db = await cliDatabase(t, kind)
    const add = await run(db, [
      'counters',
      'add',
      '--name',
      'Loket 3',
      '--location',
      'MPP Kabupaten Sukamaju',
      '--unit',
      'Disdukcapil',
      '--json',
    ])
    t.equal(add.code, 0, add.err)
    const added = JSON.parse(add.out)
    t.match(added, { name: 'Loket 3', location: 'MPP Kabupaten Sukamaju', unit: 'Disdukcapil', status: 'active' })
    t.match(added.id, /^[0-9a-f-]{36}$/)
    t.equal(added.disabled_at, null)

    const plain = await run(db, [
      'counters',
      'add',
      '--name',
      ' Loket  4 ',
      '--location',
      'MPP Sukamaju',
      '--unit',
      'Samsat',
    ])
    t.equal(plain.code, 0, plain.err)
    t.match(plain.out, /^counter: [0-9a-f-]{36} \(Loket 4, MPP Sukamaju, Samsat\)$/)

    // Bad input is a usage error naming the option; nothing is added.
    const bad = await run(db, ['counters', 'add', '--name', '', '--location', 'MPP', '--unit', 'X'])
    t.equal(bad.code, 2)
    t.match(bad.err, /--name/)
    const odd = await run(db, ['counters', 'add', '--name', 'Loket\u0000', '--location', 'MPP', '--unit', 'X'])
    t.equal(odd.code, 2)
    const missing = await run(db, ['counters', 'add', '--name', 'Loket 5', '--location', 'MPP'])
    t.not(missing.code, 0, 'the unit is required')

    let list = await run(db, ['counters', 'list', '--json'])
    t.equal(list.code, 0)
    let rows = JSON.parse(list.out) as { id: string; name: string; status: string }[]
    t.same(rows.map((r) => r.name).sort(), ['Loket 3', 'Loket 4'])
    const human = await run(db, ['counters', 'list'])
    t.match(human.out, /ID\s+STATUS\s+NAME\s+LOCATION\s+UNIT/)
    t.match(human.out, /active\s+Loket 3\s+MPP Kabupaten Sukamaju\s+Disdukcapil/)
    t.match(human.out, /2 counters/)

    const off = await run(db, ['counters', 'disable', added.id])
    t.equal(off.code, 0, off.err)
    t.match(off.out, /^disabled .* \(Loket 3\); 0 officer sessions seated there/)
    const again = await run(db, ['counters', 'disable', added.id])
    t.equal(again.code, 0)
    t.match(again.out, /was disabled already/)
    const none = await run(db, ['counters', 'disable', '00000000-0000-4000-8000-000000000000'])
    t.equal(none.code, 1)
    t.match(none.err, /no counter/)

    list = await run(db, ['counters', 'list', '--json'])
    rows = JSON.parse(list.out)
    const loket3 = rows.find((r) => r.id === added.id) as unknown as { status: string; disabled_at: string | null }
    t.equal(loket3.status, 'disabled')
    t.ok(loket3.disabled_at)

    const h = await db.open()
    try {
      const events = await h.db
        .selectFrom('audit_events')
        .select(['event', 'actor', 'data'])
        .where('event', 'in', ['counter.registered', 'counter.disabled'])
        .orderBy('at')
        .execute()
      t.same(
        events.map((e) => e.event),
        ['counter.registered', 'counter.registered', 'counter.disabled'],
        'each change audited once',
      )
      t.ok(events.every((e) => e.actor === 'cli'))
      t.match(events[0]?.data, { counterId: added.id, name: 'Loket 3', location: 'MPP Kabupaten Sukamaju' })
    } finally {
      await h.close()
    }
  })
}
