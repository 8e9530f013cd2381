/**
 * `satupintu documents verify` and `satupintu documents purge`, run in-process against a
 * database of each kind (a PGlite directory, or a PostgreSQL database of its own).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { createCitizen } from '../../src/accounts/citizens.ts'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { uploadDocument } from '../../src/documents/vault.ts'
import { budi } from '../helpers/citizens.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'
import { filesUnder, jpeg, png } from '../documents/fixtures.ts'

interface Run {
  code: number
  out: string
  err: string
}

interface CliDb {
  dir: string
  overrides: Record<string, unknown>
  /** Opens the database (a PGlite directory allows one user at a time: close before running the CLI). */
  open(): Promise<DatabaseHandle>
}

/** A migrated database the CLI can open by configuration, with a data directory for documents. */
async function cliDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<CliDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-docs-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  let database: Record<string, unknown>
  if (kind === 'pglite') {
    database = { pgliteDir: path.join(dir, 'pglite') }
  } else {
    const fresh = await freshDatabase(t, 'postgres')
    database = { url: fresh.url }
  }
  const overrides = { dataDir: dir, database }
  const config = testConfig(overrides)
  const open = () => openDatabase(config.database)
  const h = await open()
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return { dir, overrides, open }
}

async function run(db: CliDb, args: string[]): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides: db.overrides })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** Budi, an officer, and a KTP of Budi's; returns the version id. */
async function seed(db: CliDb) {
  const h = await db.open()
  try {
    const config = testConfig(db.overrides)
    const citizen = await createCitizen(h.db, { ...budi, regencyName: 'Sukamaju' })
    await h.db
      .insertInto('officers')
      .values({ username: 'petugas.mpp', name: 'Petugas MPP', roles: ['counter_officer'], password_hash: 'not-a-hash' })
      .execute()
    const storage = createLocalStorage(path.join(db.dir, 'documents'))
    const up = await uploadDocument(
      h.db,
      storage,
      { citizenId: citizen.id, type: 'ktp', stream: Readable.from([jpeg()]), originalName: 'ktp.jpg' },
      config.documents,
    )
    return { citizen, storage, config, versionId: up.version.id, documentId: up.document.id }
  } finally {
    await h.close()
  }
}

for (const kind of databaseKinds()) {
  t.test(`on ${kind}`, async (t) => {
    t.test(
      'documents verify marks the version as checked by the officer; a new version is unverified again',
      async (t) => {
        const db = await cliDatabase(t, kind)
        const s = await seed(db)
        const r = await run(db, ['documents', 'verify', s.versionId, '--officer', 'Petugas.MPP'])
        t.equal(r.code, 0, r.err)
        t.match(r.out, new RegExp(`^verified ktp version 1 \\(${s.versionId}\\) by petugas\\.mpp at \\d{4}-`))

        const h = await db.open()
        const row = await h.db
          .selectFrom('document_versions')
          .select(['verified_at', 'verified_by'])
          .where('id', '=', s.versionId)
          .executeTakeFirstOrThrow()
        t.ok(row.verified_at)
        const officer = await h.db
          .selectFrom('officers')
          .select('id')
          .where('username', '=', 'petugas.mpp')
          .executeTakeFirstOrThrow()
        t.equal(row.verified_by, officer.id)
        const audit = await h.db
          .selectFrom('audit_events')
          .selectAll()
          .where('event', '=', 'document.verified')
          .executeTakeFirstOrThrow()
        t.equal(audit.subject_id, s.citizen.id)
        const v2 = await uploadDocument(
          h.db,
          s.storage,
          { citizenId: s.citizen.id, type: 'ktp', stream: Readable.from([png()]), originalName: 'ktp.png' },
          s.config.documents,
        )
        t.equal(v2.version.verified, false, 'the new version is not verified')
        await h.close()

        const old = await run(db, ['documents', 'verify', s.versionId, '--officer', 'petugas.mpp'])
        t.equal(old.code, 1)
        t.equal(old.err, 'satupintu: this version has been replaced by a newer one; verify the current version')
        const json = await run(db, ['documents', 'verify', v2.version.id, '--officer', 'petugas.mpp', '--json'])
        t.equal(json.code, 0, json.err)
        const out = JSON.parse(json.out) as Record<string, unknown>
        t.same(Object.keys(out).sort(), [
          'document_id',
          'officer',
          'sha256',
          'type',
          'verified_at',
          'version',
          'version_id',
        ])
        t.equal(out.version, 2)
        t.equal(out.officer, 'petugas.mpp')
        const again = await run(db, ['documents', 'verify', v2.version.id, '--officer', 'petugas.mpp'])
        t.equal(again.code, 1)
        t.equal(again.err, 'satupintu: this version is already verified')
      },
    )

    t.test(
      'documents verify exits 1 with one line for an unknown officer or version, 2 for a malformed username',
      async (t) => {
        const db = await cliDatabase(t, kind)
        const s = await seed(db)
        const unknown = await run(db, ['documents', 'verify', s.versionId, '--officer', 'tidak.ada'])
        t.equal(unknown.code, 1)
        t.equal(unknown.err, 'satupintu: no officer with username tidak.ada')
        const noVersion = await run(db, ['documents', 'verify', 'AAAAAAAAAAAAAAAAAAAAAA', '--officer', 'petugas.mpp'])
        t.equal(noVersion.code, 1)
        t.equal(noVersion.err, 'satupintu: no document version with that id (or its bytes were purged)')
        const junk = await run(db, ['documents', 'verify', s.versionId, '--officer', '../x'])
        t.equal(junk.code, 2)
        t.match(junk.err, /^satupintu: --officer must be an officer username/)
        const missing = await run(db, ['documents', 'verify', s.versionId])
        t.equal(missing.code, 2, 'no --officer: a usage error')
        const typo = await run(db, ['documents', 'verify', s.versionId, '--oficer', 'petugas.mpp'])
        t.equal(typo.code, 2, 'a misspelt option: a usage error')
        const notId = await run(db, ['documents', 'verify', '../../x', '--officer', 'petugas.mpp'])
        t.equal(notId.code, 2)
        t.equal(notId.err, 'satupintu: give the id of a document version (22 characters of A-Z a-z 0-9 _ -)')
        const h = await db.open()
        const row = await h.db
          .selectFrom('document_versions')
          .select('verified_at')
          .where('id', '=', s.versionId)
          .executeTakeFirstOrThrow()
        t.equal(row.verified_at, null, 'nothing verified')
        await h.close()
      },
    )

    t.test('a version id that starts with "-" is taken as the id, before or after the options', async (t) => {
      const db = await cliDatabase(t, kind)
      const s = await seed(db)
      const h = await db.open()
      const dashed = `-${s.versionId.slice(1)}`
      await h.db.updateTable('document_versions').set({ id: dashed }).where('id', '=', s.versionId).execute()
      await h.close()
      const r = await run(db, ['documents', 'verify', dashed, '--officer', 'petugas.mpp', '--json'])
      t.equal(r.code, 0, r.err)
      t.equal((JSON.parse(r.out) as { version_id: string }).version_id, dashed)
    })

    t.test('documents purge runs the retention job now and reports what it removed', async (t) => {
      const db = await cliDatabase(t, kind)
      const s = await seed(db)
      // A file no row refers to, two days old: an orphan.
      const h = await db.open()
      const orphan = await s.storage.put(Readable.from([Buffer.from('orphan bytes')]))
      await h.close()
      const parts = [db.dir, 'documents', orphan.key.slice(0, 2), orphan.key.slice(2, 4), orphan.key]
      const old = new Date(Date.now() - 2 * 86_400_000)
      fs.utimesSync(path.join(...parts), old, old)
      const r = await run(db, ['documents', 'purge', '--json'])
      t.equal(r.code, 0, r.err)
      t.same(JSON.parse(r.out), {
        versionsPurged: 0,
        filesDeleted: 0,
        documentsRemoved: 0,
        orphansDeleted: 1,
        incompleteRemoved: 0,
      })
      t.equal(filesUnder(path.join(db.dir, 'documents')).length, 1, "the KTP's bytes stay")
      const plain = await run(db, ['documents', 'purge'])
      t.equal(plain.code, 0)
      t.equal(
        plain.out,
        'purged 0 versions, deleted 0 files, removed 0 documents, 0 orphaned files, 0 incomplete uploads',
      )
    })
  })
}

t.test('documents --help lists verify and purge', async (t) => {
  const out: string[] = []
  const code = await main(['documents', '--help'], {
    io: { out: (l) => out.push(l), err: (l) => out.push(l) },
    env: { NODE_ENV: 'test' },
  })
  t.equal(code, 0)
  t.match(out.join('\n'), /verify \[options\] <versionId>/)
  t.match(out.join('\n'), /purge \[options\]/)
})
