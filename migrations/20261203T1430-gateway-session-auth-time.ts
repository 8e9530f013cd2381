// Frozen in time: never import application code here, never edit after release.
import type { Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // When the citizen signed in at the idp (the ID token's auth_time): an elevated level
  // lasts a bounded time after it (config signInLevels, issue 14), so the gateway needs it
  // to let a session's level fall back as the idp's does. Null for sessions made before.
  await db.schema.alterTable('gateway_sessions').addColumn('auth_time', 'timestamptz').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('gateway_sessions').dropColumn('auth_time').execute()
}
