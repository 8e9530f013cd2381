// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // A citizen's passkeys (WebAuthn credentials, issue 14), several per citizen. The
  // columns are what WebAuthn Level 3 §7.1 step 27 says to store with a credential and
  // what @simplewebauthn/server returns from a registration: the credential id (base64url,
  // unique across all accounts: it names the account at a passwordless sign-in), the COSE
  // public key, the signature counter (§6.1.1; int8, it is a 32-bit unsigned value),
  // transports, whether the credential may be synced (`device_type`: the backup-eligible
  // flag, fixed at creation) and whether it is backed up now (`backed_up`: may change, is
  // updated at each use). `user_handle` is the random WebAuthn user.id the citizen's
  // passkeys carry (§14.6.1: no personal data in it), the same on every passkey of a citizen.
  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('credential_id', 'text', (c) => c.notNull().unique())
    .addColumn('user_handle', 'text', (c) => c.notNull())
    .addColumn('public_key', 'bytea', (c) => c.notNull())
    .addColumn('counter', 'int8', (c) => c.notNull().defaultTo(0))
    .addColumn('transports', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('device_type', 'text', (c) => c.notNull().check(sql`device_type in ('singleDevice', 'multiDevice')`))
    .addColumn('backed_up', 'boolean', (c) => c.notNull())
    .addColumn('aaguid', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .execute()
  await db.schema.createIndex('passkeys_citizen').on('passkeys').column('citizen_id').execute()

  // WebAuthn challenges (§13.4.3): made by the server, kept here so that any instance can
  // check one, single use (taken by a DELETE … RETURNING), short lived, and bound to what
  // asked for it: the sign-in interaction, or the signed-in session adding a passkey.
  await db.schema
    .createTable('webauthn_challenges')
    .addColumn('challenge', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull().check(sql`purpose in ('register', 'sign_in', 'second_factor')`))
    .addColumn('binding', 'text', (c) => c.notNull())
    .addColumn('citizen_id', 'uuid', (c) => c.references('citizens.id').onDelete('cascade'))
    // Registration: the user.id given to the authenticator, kept with the passkey it makes.
    .addColumn('user_handle', 'text')
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema.createIndex('webauthn_challenges_expires').on('webauthn_challenges').column('expires_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webauthn_challenges').execute()
  await db.schema.dropTable('passkeys').execute()
}
