import { once } from 'node:events'
import type { Command } from 'commander'
import { exportAuditEvents } from '../audit/export.ts'
import { AdminError, withDatabase, type AdminContext } from './admin.ts'
import { counted } from './output.ts'

export interface AuditCommandContext extends AdminContext {
  /** Where the export goes (stdout); written with backpressure, so memory stays flat. */
  output: NodeJS.WritableStream
}

const isoInstant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/
const isoDate = /^(\d{4})-(\d{2})-(\d{2})$/

/** Offset of `timeZone` from UTC at `at`, in milliseconds (Intl, no library). */
function zoneOffsetMs(at: Date, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  )
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  )
  return asUtc - Math.floor(at.getTime() / 1000) * 1000
}

/**
 * An instant given on the command line: a full ISO 8601 time with its zone
 * (2026-12-01T08:00:00+07:00), or a date, which means its midnight in the regency's time
 * zone (the day as the records office counts it).
 */
export function parseInstant(value: string, option: string, timeZone: string): Date {
  const date = isoDate.exec(value)
  if (date !== null) {
    const utcMidnight = new Date(Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3])))
    if (utcMidnight.toISOString().slice(0, 10) !== value)
      throw new AdminError(`${option} ${value} is not a calendar date`, 2)
    return new Date(utcMidnight.getTime() - zoneOffsetMs(utcMidnight, timeZone))
  }
  const instant = isoInstant.test(value) ? new Date(value) : undefined
  if (instant === undefined || Number.isNaN(instant.getTime())) {
    throw new AdminError(
      `${option} must be a date (2026-12-01) or an ISO 8601 time with its zone (2026-12-01T08:00:00+07:00), got ${JSON.stringify(value)}`,
      2,
    )
  }
  return instant
}

/**
 * `satupintu audit export --since … [--until …] --format jsonl`: the audit trail for the
 * regency's records, one JSON object per line, oldest first. Streams: it holds one page of
 * rows at a time and waits for the output to take each line (a pipe to gzip or to a slow
 * disk), so years of trail export in constant memory. Nothing is changed by an export.
 */
export function registerAuditCommands(program: Command, ctx: AuditCommandContext): void {
  const audit = program
    .command('audit')
    .description("The append-only audit trail: export it for the regency's records.")
  audit
    .command('export')
    .description(
      'Write audit entries from --since (and before --until) to stdout, one JSON object per line, oldest first.',
    )
    .requiredOption(
      '--since <when>',
      'first instant: a date (midnight in regency.timeZone) or an ISO 8601 time with zone',
    )
    .option('--until <when>', 'end (exclusive), same forms as --since')
    .requiredOption('--format <format>', 'output format: jsonl')
    .action(async (o: { since: string; until?: string; format: string }) => {
      if (o.format !== 'jsonl') throw new AdminError(`--format must be jsonl, got ${JSON.stringify(o.format)}`, 2)
      await withDatabase(ctx, async ({ db }, config) => {
        const since = parseInstant(o.since, '--since', config.regency.timeZone)
        const until = o.until === undefined ? undefined : parseInstant(o.until, '--until', config.regency.timeZone)
        if (until !== undefined && until.getTime() <= since.getTime())
          throw new AdminError('--until must be after --since', 2)
        const out = ctx.output
        let count = 0
        for await (const row of exportAuditEvents(db, { since, until })) {
          if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain')
          count++
        }
        ctx.io.err(`exported ${counted(count, 'audit entry', 'audit entries')}`)
      })
    })
}
