// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Only a verified e-mail address or phone number identifies an account (docs/security.md
  // line 37). An unverified one is a claim that may be anybody's: it must never keep its
  // real owner from registering or from verifying it on their own account. So uniqueness
  // holds among verified contacts only; any number of accounts may *claim* one.
  await db.schema.alterTable('citizens').dropConstraint('citizens_email_unique').execute()
  await db.schema.alterTable('citizens').dropConstraint('citizens_phone_unique').execute()
  await db.schema
    .createIndex('citizens_email_verified_unique')
    .on('citizens')
    .column('email')
    .unique()
    .where(sql.ref('email_verified'), '=', true)
    .execute()
  await db.schema
    .createIndex('citizens_phone_verified_unique')
    .on('citizens')
    .column('phone')
    .unique()
    .where(sql.ref('phone_verified'), '=', true)
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('citizens_phone_verified_unique').execute()
  await db.schema.dropIndex('citizens_email_verified_unique').execute()
  // Fails if two accounts now claim one contact: the old rule cannot hold such data.
  await db.schema.alterTable('citizens').addUniqueConstraint('citizens_email_unique', ['email']).execute()
  await db.schema.alterTable('citizens').addUniqueConstraint('citizens_phone_unique', ['phone']).execute()
}
