// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any> is the documented type for migrations: they describe the schema as it
// was at this point, not the application's current types.
export async function up(db: Kysely<any>): Promise<void> {
  // Citizens. `id` is the OIDC `sub`: opaque, never the NIK (docs/security.md line 12).
  await db.schema
    .createTable('citizens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('nik', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('birth_date', 'date', (c) => c.notNull())
    .addColumn('gender', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('phone', 'text')
    .addColumn('phone_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    // Null: no password yet (registered at a counter, to be set with a reset code).
    .addColumn('password_hash', 'text')
    // 1 = self-registered with a password, 2 = password + second factor,
    // 3 = identity verified in person by an officer.
    .addColumn('assurance_level', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('password_changed_at', 'timestamptz')
    // Named constraints: the application maps a unique violation to nik_taken,
    // email_taken or phone_taken by the constraint's name.
    .addUniqueConstraint('citizens_nik_unique', ['nik'])
    .addUniqueConstraint('citizens_email_unique', ['email'])
    .addUniqueConstraint('citizens_phone_unique', ['phone'])
    // Only the normalised forms are ever stored (NFKC, ASCII digits; lowercase email;
    // E.164 Indonesian mobile number).
    .addCheckConstraint('citizens_nik_format', sql`nik ~ '^[0-9]{16}$'`)
    .addCheckConstraint('citizens_gender', sql`gender in ('female', 'male')`)
    .addCheckConstraint('citizens_email_lowercase', sql`email = lower(email)`)
    .addCheckConstraint('citizens_phone_e164', sql`phone ~ '^\\+628[0-9]{8,11}$'`)
    .addCheckConstraint('citizens_assurance_level', sql`assurance_level between 1 and 3`)
    .addCheckConstraint('citizens_status', sql`status in ('active', 'disabled')`)
    .execute()

  // Officers: a separate kind of account (counter officers, agency and system admins).
  await db.schema
    .createTable('officers')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('roles', sql`text[]`, (c) => c.notNull())
    .addColumn('agency_id', 'text')
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('officers_username_unique', ['username'])
    .addCheckConstraint('officers_username_lowercase', sql`username = lower(username)`)
    .addCheckConstraint(
      'officers_roles',
      sql`cardinality(roles) > 0 and roles <@ array['counter_officer', 'agency_admin', 'system_admin']::text[]`,
    )
    .addCheckConstraint('officers_status', sql`status in ('active', 'disabled')`)
    .execute()

  // Brute-force throttling state, shared by every instance (docs/security.md line 9). One row
  // per key: `account:<id>`, `account:unknown:<hash>`, `ip:<address or IPv6 /64>`.
  await db.schema
    .createTable('login_attempts')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('first_failure_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_failure_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('locked_until', 'timestamptz')
    .addCheckConstraint('login_attempts_failures', sql`failures >= 0`)
    .execute()
  await db.schema.createIndex('login_attempts_last_failure_at').on('login_attempts').column('last_failure_at').execute()

  // One-time codes for verifying an email address or phone number and for resetting a
  // password. Only a keyed hash of the code is stored, never the code.
  await db.schema
    .createTable('one_time_codes')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    // Set when the code is used, and also when a newer code replaces it.
    .addColumn('consumed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('one_time_codes_purpose', sql`purpose in ('verify_email', 'verify_phone', 'reset_password')`)
    .addCheckConstraint('one_time_codes_attempts', sql`attempts >= 0`)
    .execute()
  // At most one live code per citizen and purpose: a new code retires the older ones.
  await db.schema
    .createIndex('one_time_codes_live')
    .on('one_time_codes')
    .columns(['citizen_id', 'purpose'])
    .unique()
    .where(sql.ref('consumed_at'), 'is', null)
    .execute()
  // Counting codes issued in the last hour (rate limit on issuing).
  await db.schema
    .createIndex('one_time_codes_citizen_purpose_created')
    .on('one_time_codes')
    .columns(['citizen_id', 'purpose', 'created_at'])
    .execute()

  // Messages to send (transactional outbox): written in the same transaction as the
  // change that causes them, delivered by a worker.
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('sent_at', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addCheckConstraint('outbox_channel', sql`channel in ('email', 'sms')`)
    .execute()
  await db.schema
    .createIndex('outbox_unsent')
    .on('outbox')
    .column('created_at')
    .where(sql.ref('sent_at'), 'is', null)
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox').execute()
  await db.schema.dropTable('one_time_codes').execute()
  await db.schema.dropTable('login_attempts').execute()
  await db.schema.dropTable('officers').execute()
  await db.schema.dropTable('citizens').execute()
}
