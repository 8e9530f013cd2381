// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // How well the identity behind an account was proven (issue 14), kept apart from how
  // strongly a sign-in was authenticated (acr). A NIK typed at registration is only
  // *claimed*: anyone can type anyone's NIK, so an unproven claim must never block the real
  // owner. Several accounts may claim one NIK; once an officer checks the KTP-el in person
  // (or, later, the population register confirms it), that account holds it `proven`,
  // exclusively, and every other claim on it is `withdrawn`.
  await db.schema
    .alterTable('citizens')
    .addColumn('nik_status', 'text', (c) =>
      c.notNull().defaultTo('claimed').check(sql`nik_status in ('claimed', 'proven', 'withdrawn')`),
    )
    .execute()

  // The evidence of each proof, as OpenID Connect for Identity Assurance releases it
  // (trust framework, time, evidence type, verifier). `verifier` says who checked: an
  // officer (officer_id names them; null when the officer is no longer known) or the
  // population register (`dukcapil`).
  await db.schema
    .createTable('identity_proofs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('level', 'text', (c) => c.notNull().check(sql`level in ('in_person', 'dukcapil')`))
    .addColumn('evidence_type', 'text', (c) => c.notNull())
    .addColumn('verifier', 'text', (c) => c.notNull().check(sql`verifier in ('officer', 'dukcapil')`))
    .addColumn('officer_id', 'uuid', (c) => c.references('officers.id').onDelete('set null'))
    .addColumn('location', 'text')
    .addColumn('trust_framework', 'text', (c) => c.notNull())
    .addColumn('verified_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema.createIndex('identity_proofs_citizen').on('identity_proofs').column('citizen_id').execute()

  // The retired assurance_level: 3 meant "identity verified in person by an officer". Such
  // an account holds its NIK proven, with a proof row saying what is known of it (an
  // in-person check of the KTP-el, at a place and by an officer nobody recorded). Levels 1
  // and 2 proved nothing about the person (2 was a second factor, which acr now says).
  await sql`
    insert into identity_proofs (citizen_id, level, evidence_type, verifier, officer_id, location, trust_framework, verified_at)
    select id, 'in_person', 'ktp_el', 'officer', null, null, 'id_satupintu', updated_at
    from citizens where assurance_level = 3`.execute(db)
  await sql`update citizens set nik_status = 'proven' where assurance_level = 3`.execute(db)
  await db.schema.alterTable('citizens').dropConstraint('citizens_assurance_level').execute()
  await db.schema.alterTable('citizens').dropColumn('assurance_level').execute()

  // One NIK, any number of claims, at most one proven holder.
  await db.schema.alterTable('citizens').dropConstraint('citizens_nik_unique').execute()
  await db.schema
    .createIndex('citizens_nik_proven_unique')
    .on('citizens')
    .column('nik')
    .unique()
    .where(sql.ref('nik_status'), '=', 'proven')
    .execute()
  // Looking up the claims on a NIK (sign-in, registration, a proof).
  await db.schema.createIndex('citizens_nik').on('citizens').column('nik').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('citizens_nik').execute()
  await db.schema.dropIndex('citizens_nik_proven_unique').execute()
  // Fails if two accounts now claim one NIK: the old rule cannot hold such data.
  await db.schema.alterTable('citizens').addUniqueConstraint('citizens_nik_unique', ['nik']).execute()
  await db.schema
    .alterTable('citizens')
    .addColumn('assurance_level', 'integer', (c) => c.notNull().defaultTo(1))
    .execute()
  await sql`update citizens set assurance_level = 3 where nik_status = 'proven'`.execute(db)
  await db.schema
    .alterTable('citizens')
    .addCheckConstraint('citizens_assurance_level', sql`assurance_level between 1 and 3`)
    .execute()
  await db.schema.dropTable('identity_proofs').execute()
  await db.schema.alterTable('citizens').dropColumn('nik_status').execute()
}
