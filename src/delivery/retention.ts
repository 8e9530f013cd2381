import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'

/**
 * A code is useless an hour after it expired; its text is then removed from the outbox,
 * so that the table does not keep codes (it keeps that a code was sent, to whom and when).
 */
export async function forgetExpiredCodes(db: Kysely<Database>, now: Date = new Date()): Promise<number> {
  const r = await db
    .updateTable('outbox')
    .set({ body: '(kode kedaluwarsa, dihapus)', html: null, params: null })
    .where('kind', '=', 'code')
    .where('status', '<>', 'sending')
    .where('expires_at', '<', new Date(now.getTime() - 3600 * 1000))
    .where('params', 'is not', null)
    .executeTakeFirst()
  return Number(r.numUpdatedRows)
}
