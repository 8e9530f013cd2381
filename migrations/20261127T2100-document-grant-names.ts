// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // The agency's and the service's names as the citizen read them on the consent page,
  // so that the grants page and the data export show names, not ids. Null for grants
  // made before this column existed (the pages fall back to what they can look up).
  await db.schema
    .alterTable('document_grants')
    .addColumn('agency_name', 'text', (c) => c.check(sql`length(agency_name) between 1 and 200`))
    .execute()
  await db.schema
    .alterTable('document_grants')
    .addColumn('service_name', 'text', (c) => c.check(sql`length(service_name) between 1 and 200`))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('document_grants').dropColumn('service_name').execute()
  await db.schema.alterTable('document_grants').dropColumn('agency_name').execute()
}
