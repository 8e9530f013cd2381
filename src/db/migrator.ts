import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Kysely } from 'kysely'
import { Migrator, type Migration, type MigrationProvider, type MigrationResult } from 'kysely/migration'
import type { Database } from './database.ts'

/** The folder of migration files (migrations/ at the project root). */
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url))

/**
 * Loads the timestamp-named files of migrations/ in name order. Each exports `up` and
 * `down` taking `Kysely<any>` and importing nothing from src/ (frozen in time).
 */
class FolderMigrationProvider implements MigrationProvider {
  readonly #dir: string
  constructor(dir: string) {
    this.#dir = dir
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    const names = (await fs.readdir(this.#dir)).filter((f) => /^\d{8}T\d{4}-[a-z0-9-]+\.ts$/.test(f)).sort()
    const out: Record<string, Migration> = {}
    for (const file of names) {
      const mod = (await import(pathToFileURL(path.join(this.#dir, file)).href)) as Migration
      out[file.replace(/\.ts$/, '')] = mod
    }
    return out
  }
}

export function createMigrator(db: Kysely<Database>, dir = migrationsDir): Migrator {
  return new Migrator({ db, provider: new FolderMigrationProvider(dir) })
}

export class MigrationError extends Error {
  readonly results: readonly MigrationResult[]
  constructor(message: string, results: readonly MigrationResult[], cause: unknown) {
    super(message, { cause })
    this.name = 'MigrationError'
    this.results = results
  }
}

/**
 * Kysely's migrateToLatest() returns its error instead of throwing; this throws it, so a
 * failed migration can never look like success (atproto's migrator does the same).
 */
export async function migrateToLatestOrThrow(db: Kysely<Database>, dir?: string): Promise<readonly MigrationResult[]> {
  const { error, results = [] } = await createMigrator(db, dir).migrateToLatest()
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')
    const reason = error instanceof Error ? error.message : String(error)
    throw new MigrationError(
      failed ? `migration ${failed.migrationName} failed: ${reason}` : `migrations failed: ${reason}`,
      results,
      error,
    )
  }
  return results
}

/** Names of migrations that exist in migrations/ but are not yet applied. */
export async function pendingMigrations(db: Kysely<Database>, dir?: string): Promise<string[]> {
  const all = await createMigrator(db, dir).getMigrations()
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name)
}
