import type { Command } from 'commander'
import { recordAudit } from '../audit/audit.ts'
import { addCounter, CounterError, disableCounter, listCounters, type CounterRow } from '../accounts/counters.ts'
import { AdminError, withDatabase, type AdminContext } from './admin.ts'
import { counted, printJson, printTable } from './output.ts'

/**
 * `satupintu counters …`: the service counters (loket) of the MPP (issue 15). Officers
 * with the counter role choose one of the active counters after signing in to the
 * console; what they do there is recorded with it and shown to the citizen.
 */

function counterJson(c: CounterRow) {
  return {
    id: c.id,
    name: c.name,
    location: c.location,
    unit: c.unit,
    status: c.status,
    created_at: c.created_at.toISOString(),
    disabled_at: c.disabled_at?.toISOString() ?? null,
  }
}

function counterFailure(err: unknown): never {
  if (err instanceof CounterError) throw new AdminError(err.message, 2)
  throw err
}

export function registerCounterCommands(program: Command, ctx: AdminContext): void {
  const counters = program
    .command('counters')
    .description('Service counters (loket) of the MPP, where counter officers serve: add, list, disable.')

  counters
    .command('add')
    .description('Register a counter; counter officers can then choose it in the console at /petugas.')
    .requiredOption('--name <name>', 'the counter\'s name, shown to citizens (e.g. "Loket 3")')
    .requiredOption('--location <text>', 'where it is, shown to citizens too (e.g. "MPP Kabupaten Sukamaju")')
    .requiredOption('--unit <text>', 'the unit serving there (e.g. "Disdukcapil")')
    .option('--json', 'machine-readable output')
    .action(async (opts: { name: string; location: string; unit: string; json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const counter = await db.transaction().execute(async (trx) => {
          const c = await addCounter(trx, opts).catch(counterFailure)
          await recordAudit(trx, {
            event: 'counter.registered',
            actor: 'cli',
            data: { counterId: c.id, name: c.name, location: c.location, unit: c.unit },
          })
          return c
        })
        if (opts.json) return printJson(ctx.io, counterJson(counter))
        ctx.io.out(`counter: ${counter.id} (${counter.name}, ${counter.location}, ${counter.unit})`)
      })
    })

  counters
    .command('list')
    .description('List counters with their status.')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const rows = await listCounters(db)
        if (opts.json) return printJson(ctx.io, rows.map(counterJson))
        if (rows.length === 0) return ctx.io.out('no counters')
        printTable(ctx.io, [
          ['ID', 'STATUS', 'NAME', 'LOCATION', 'UNIT'],
          ...rows.map((c) => [c.id, c.status, c.name, c.location, c.unit]),
        ])
        ctx.io.out(counted(rows.length, 'counter'))
      })
    })

  counters
    .command('disable <id>')
    .description(
      'Disable a counter at once: officers seated there lose the counter functions at their next request and must choose another.',
    )
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const done = await disableCounter(db, id)
        if (!done) throw new AdminError(`no counter ${id}`)
        if (done.changed) {
          await recordAudit(db, {
            event: 'counter.disabled',
            actor: 'cli',
            data: { counterId: done.counter.id, seatedSessions: done.seatedSessions },
          })
        }
        if (opts.json) return printJson(ctx.io, { ...counterJson(done.counter), seated_sessions: done.seatedSessions })
        ctx.io.out(
          done.changed
            ? `disabled ${done.counter.id} (${done.counter.name}); ${counted(done.seatedSessions, 'officer session')} seated there lose the counter functions`
            : `${done.counter.id} was disabled already`,
        )
      })
    })
}
