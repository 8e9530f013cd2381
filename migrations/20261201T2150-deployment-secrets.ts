// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Secrets of the deployment that must never change once made (the key of pairwise
  // subject identifiers, OIDC Core §8.1): random, generated on first start by whichever
  // instance gets there first, and stored encrypted under the key-encryption secret, so
  // that rotating that secret never changes a citizen's identifier at any agency.
  await db.schema
    .createTable('deployment_secrets')
    .addColumn('name', 'text', (c) => c.primaryKey().check(sql`name ~ '^[a-z][a-z0-9-]{1,62}$'`))
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  // Public subjects are now only for the regency's own first-party clients; every other
  // client that receives a citizen's subject becomes pairwise. Version 0.1.0 had no
  // production deployment, so no agency holds subjects to keep (docs/agency-integration.md,
  // "Subject identifiers"). Clients the idp registers itself (source 'system') are
  // re-registered at start with their own settings; client-credentials-only clients
  // receive no citizen subject.
  await sql`
    update oidc_clients
       set metadata = jsonb_set(metadata, '{subject_type}', '"pairwise"'), updated_at = now()
     where source <> 'system'
       and coalesce(metadata->>'subject_type', 'public') = 'public'
       and coalesce(metadata->>'urn:satupintu:first_party', 'false') <> 'true'
       and jsonb_array_length(coalesce(metadata->'response_types', '[]'::jsonb)) > 0
  `.execute(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('deployment_secrets').execute()
}
