// The daily digest of document fetches: once a day, every citizen whose documents an
// agency fetched the day before (in the regency's time zone) is told which agencies
// fetched which documents, and how often (UU PDP No. 27/2022 art. 7: the data subject's
// right to know who accessed their data). The citizen may turn it off
// (notice_preferences.document_digest); the access history stays on Akun Saya either way.
//
// Each fetch is reported once, whichever instance runs the digest and however often:
// notice_preferences.digest_through is moved to the end of the reported day in the
// transaction that queues the notice, under a row lock.

import { sql, type Kysely } from 'kysely'
import {
  queueNotice,
  type DocumentFetchSummary,
  type NoticeLocale,
  type QueueNoticeOptions,
} from '../accounts/notices.ts'
import type { Database } from '../db/database.ts'

export interface DigestOptions extends QueueNoticeOptions {
  readonly now?: Date
  /** IANA zone whose days the digest follows (default Asia/Jakarta). */
  readonly timeZone?: string
  /** The document type's name in a language (from documents.types); default: the type id. */
  readonly documentTypeName?: (type: string, locale: NoticeLocale) => string
  /** At most this many citizens per call (the worker calls again while there are more). */
  readonly batch?: number
}

/** Start of the local day containing `at`, in `timeZone`, as an instant. */
export function startOfLocalDay(at: Date, timeZone: string): Date {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>
  const localAsUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  )
  const offsetMs = localAsUtc - Math.floor(at.getTime() / 1000) * 1000
  return new Date(Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day)) - offsetMs)
}

function localDayName(dayStart: Date, timeZone: string, locale: NoticeLocale): string {
  return new Intl.DateTimeFormat(locale === 'id' ? 'id-ID' : 'en-GB', { dateStyle: 'long', timeZone }).format(dayStart)
}

/**
 * Queues the digest for yesterday (local time) to every citizen who has one due. Returns
 * how many citizens were handled in this call (0: nothing left to do for that day).
 */
export async function queueDocumentDigests(db: Kysely<Database>, options: DigestOptions = {}): Promise<number> {
  const timeZone = options.timeZone ?? 'Asia/Jakarta'
  const now = options.now ?? new Date()
  const dayEnd = startOfLocalDay(now, timeZone)
  const dayStart = startOfLocalDay(new Date(dayEnd.getTime() - 12 * 3600 * 1000), timeZone)
  const batch = Math.min(Math.max(options.batch ?? 100, 1), 1000)

  const due = await db
    .selectFrom('document_accesses as a')
    .leftJoin('notice_preferences as p', 'p.citizen_id', 'a.citizen_id')
    .select('a.citizen_id')
    .distinct()
    .where('a.at', '>=', dayStart)
    .where('a.at', '<', dayEnd)
    .where((eb) => eb.or([eb('p.digest_through', 'is', null), eb('p.digest_through', '<', dayEnd)]))
    .limit(batch)
    .execute()

  for (const { citizen_id: citizenId } of due) {
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('notice_preferences')
        .values({ citizen_id: citizenId })
        .onConflict((oc) => oc.column('citizen_id').doNothing())
        .execute()
      const prefs = await trx
        .selectFrom('notice_preferences')
        .select(['locale', 'document_digest', 'digest_through'])
        .where('citizen_id', '=', citizenId)
        .forUpdate()
        .executeTakeFirstOrThrow()
      if (prefs.digest_through !== null && prefs.digest_through.getTime() >= dayEnd.getTime()) return
      const from =
        prefs.digest_through !== null && prefs.digest_through.getTime() > dayStart.getTime()
          ? prefs.digest_through
          : dayStart
      if (prefs.document_digest) {
        const rows = await trx
          .selectFrom('document_accesses as a')
          .innerJoin('documents as d', 'd.id', 'a.document_id')
          .leftJoin('document_grants as g', 'g.id', 'a.grant_id')
          .select([
            'a.agency_id',
            'd.type',
            sql<string | null>`max(g.agency_name)`.as('agency_name'),
            sql<string | number>`count(*)`.as('n'),
          ])
          .where('a.citizen_id', '=', citizenId)
          .where('a.at', '>=', from)
          .where('a.at', '<', dayEnd)
          .groupBy(['a.agency_id', 'd.type'])
          .orderBy('a.agency_id')
          .orderBy('d.type')
          .execute()
        const fetches: DocumentFetchSummary[] = rows.map((r) => ({
          agency: r.agency_name ?? r.agency_id,
          document: options.documentTypeName?.(r.type, prefs.locale) ?? r.type,
          count: Number(r.n),
        }))
        if (fetches.length > 0) {
          await queueNotice(
            trx,
            {
              citizenId,
              kind: 'documents_fetched_digest',
              data: { day: localDayName(dayStart, timeZone, prefs.locale), fetches },
            },
            { ...options, timeZone },
          )
        }
      }
      await trx
        .updateTable('notice_preferences')
        .set({ digest_through: dayEnd })
        .where('citizen_id', '=', citizenId)
        .execute()
    })
  }
  return due.length
}
