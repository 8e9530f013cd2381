// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Every change to what a document link is made from — a grant given, changed or
  // withdrawn, a document uploaded, replaced, verified or deleted — tells the listeners on
  // channel satupintu_documents whose it is (the citizen's id), at commit (issue 18): the
  // gateways cache grants and current versions per citizen and drop the citizen's entries
  // when told. A trigger, so that every writer is heard (the idp, the CLI, an officer),
  // and nothing of a transaction that rolled back. One notification per citizen per
  // transaction: PostgreSQL folds identical ones.
  await sql`
    create function satupintu_notify_documents() returns trigger language plpgsql as $$
    declare
      whose uuid;
    begin
      if tg_table_name = 'document_versions' then
        select d.citizen_id into whose from documents d
          where d.id = coalesce(new.document_id, old.document_id);
      elsif tg_op = 'DELETE' then
        whose := old.citizen_id;
      else
        whose := new.citizen_id;
      end if;
      if whose is not null then
        perform pg_notify('satupintu_documents', whose::text);
      end if;
      return null;
    end
    $$`.execute(db)
  for (const table of ['document_grants', 'documents', 'document_versions']) {
    await sql`
      create trigger ${sql.raw(`${table}_notify`)}
      after insert or update or delete on ${sql.table(table)}
      for each row execute function satupintu_notify_documents()`.execute(db)
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['document_grants', 'documents', 'document_versions'])
    await sql`drop trigger if exists ${sql.raw(`${table}_notify`)} on ${sql.table(table)}`.execute(db)
  await sql`drop function if exists satupintu_notify_documents()`.execute(db)
}
