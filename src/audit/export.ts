import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.ts'

/** One audit entry as the export writes it (a line of JSON). */
export interface ExportedAuditEvent {
  id: string
  /** ISO 8601 in UTC with the database's microseconds, e.g. 2026-12-01T08:15:30.123456Z. */
  at: string
  event: string
  actor: string
  subject_id: string | null
  client_id: string | null
  ip: string | null
  request_id: string | null
  data: Record<string, unknown>
}

export interface ExportRange {
  /** Entries at or after this instant. */
  since: Date
  /** Entries before this instant (default: no end; what exists when each page is read). */
  until?: Date | undefined
  /** Rows read per query. Memory is bounded by one page whatever the trail's size. */
  pageSize?: number
}

/**
 * The audit trail from `since`, oldest first, read page by page with a keyset on
 * (at, id) rather than OFFSET, so each page is one index range scan (audit_events_at) and
 * the export holds one page at a time, whatever the number of rows: the regency's records
 * office can take years of it. The cursor keeps the database's microseconds (a JavaScript
 * Date has milliseconds; rounding would skip or repeat rows that share a millisecond).
 * Rows are read, never changed: the trail is append-only.
 */
export async function* exportAuditEvents(db: Kysely<Database>, range: ExportRange): AsyncGenerator<ExportedAuditEvent> {
  const pageSize = range.pageSize ?? 1000
  let cursor: { at: string; id: string } | undefined
  for (;;) {
    const page = await sql<ExportedAuditEvent>`
      select id::text as id,
             to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
             event, actor, subject_id::text as subject_id, client_id, ip, request_id, data
        from audit_events
       where at >= ${range.since}
         and (${range.until ?? null}::timestamptz is null or at < ${range.until ?? null}::timestamptz)
         and (${cursor?.at ?? null}::timestamptz is null or (at, id) > (${cursor?.at ?? null}::timestamptz, ${cursor?.id ?? null}::uuid))
       order by at, id
       limit ${pageSize}`.execute(db)
    for (const row of page.rows) yield row
    const last = page.rows[page.rows.length - 1]
    if (last === undefined || page.rows.length < pageSize) return
    cursor = { at: last.at, id: last.id }
  }
}
