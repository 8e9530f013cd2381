// Frozen in time: never import application code here, never edit after release.
import type { Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Each agency is served on its own host and each host has its own session (issue 10
  // §2): a session is bound to the host it was made on and is never accepted on another.
  // Rows from before have no host and are never accepted again (their citizens sign in
  // once more); back-channel logout still finds every row of a citizen by sub and sid.
  await db.schema
    .alterTable('gateway_sessions')
    .addColumn('site', 'text', (c) => c.notNull().defaultTo(''))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('gateway_sessions').dropColumn('site').execute()
}
