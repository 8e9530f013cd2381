// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // A password-reset code belongs to the flow (the browser) that asked for it. Anyone can
  // ask for a reset of any NIK, so a stranger's request must not retire the owner's
  // pending code: several live reset codes of one citizen may exist at once, each usable
  // only from its own flow (bounded by the per-citizen issuing limit). Verification codes
  // keep "at most one live code per citizen and purpose".
  await db.schema.dropIndex('one_time_codes_live').execute()
  await db.schema
    .createIndex('one_time_codes_live')
    .on('one_time_codes')
    .columns(['citizen_id', 'purpose'])
    .unique()
    .where(sql<boolean>`consumed_at is null and purpose <> 'reset_password'`)
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  // Back to one live code: the newest live reset code of each citizen stays.
  await sql`update one_time_codes c set consumed_at = now()
    where c.purpose = 'reset_password' and c.consumed_at is null
      and exists (select 1 from one_time_codes n where n.citizen_id = c.citizen_id and n.purpose = c.purpose
                  and n.consumed_at is null and n.created_at > c.created_at)`.execute(db)
  await db.schema.dropIndex('one_time_codes_live').execute()
  await db.schema
    .createIndex('one_time_codes_live')
    .on('one_time_codes')
    .columns(['citizen_id', 'purpose'])
    .unique()
    .where(sql.ref('consumed_at'), 'is', null)
    .execute()
}
