import type { Command } from 'commander'
import { findOfficerByUsername, normalizeUsername } from '../accounts/officers.ts'
import { isRandomId } from '../documents/ids.ts'
import { createDocumentStorage } from '../documents/create-storage.ts'
import { purgeDocuments, verifyDocumentVersion, type VerifyResult } from '../documents/vault.ts'
import { AdminError, withDatabase, type AdminContext } from './admin.ts'
import { counted, printJson } from './output.ts'

/** One line per refusal of verifyDocumentVersion, for the operator. */
const verifyRefusals: Readonly<Record<Extract<VerifyResult, { ok: false }>['reason'], string>> = {
  not_found: 'no document version with that id (or its bytes were purged)',
  deleted: 'the citizen has deleted this document',
  superseded: 'this version has been replaced by a newer one; verify the current version',
  already_verified: 'this version is already verified',
  officer_not_found: 'no officer with that username',
  officer_disabled: 'that officer account is disabled',
}

/**
 * `satupintu documents …`: the officer's verification of a document version (until the
 * officer console exists) and the retention purge, run by hand (the idp also runs it hourly).
 */
export function registerDocumentCommands(program: Command, ctx: AdminContext): void {
  const documents = program
    .command('documents')
    .description('The citizen document vault: verify a version, purge what retention let go.')

  documents
    .command('verify <versionId>')
    .description(
      'Mark a document version as checked by an officer against the original. A newer upload is unverified again.',
    )
    .requiredOption('--officer <username>', 'username of the officer who saw the original')
    .option('--json', 'machine-readable output')
    // Version ids are base64url and one in 64 starts with "-": let such an id through as
    // the argument rather than refuse it as an unknown option (`--` before it works too).
    // A misspelt option still fails: it becomes the id, or an excess argument.
    .allowUnknownOption()
    .action(async (versionId: string, o: { officer: string; json?: boolean }) => {
      if (!isRandomId(versionId))
        throw new AdminError('give the id of a document version (22 characters of A-Z a-z 0-9 _ -)', 2)
      const username = normalizeUsername(o.officer)
      if (username === undefined)
        throw new AdminError('--officer must be an officer username (3-64 of a-z 0-9 . _ -)', 2)
      await withDatabase(ctx, async ({ db }) => {
        const officer = await findOfficerByUsername(db, username)
        if (officer === undefined) throw new AdminError(`no officer with username ${username}`)
        const result = await verifyDocumentVersion(db, versionId, officer.id)
        if (!result.ok) throw new AdminError(verifyRefusals[result.reason])
        const v = result.version
        if (o.json) {
          return printJson(ctx.io, {
            version_id: v.id,
            document_id: v.documentId,
            type: result.type,
            version: v.version,
            sha256: v.sha256,
            verified_at: v.verifiedAt?.toISOString() ?? null,
            officer: officer.username,
          })
        }
        ctx.io.out(
          `verified ${result.type} version ${v.version} (${v.id}) by ${officer.username} at ${v.verifiedAt?.toISOString() ?? ''}`,
        )
      })
    })

  documents
    .command('purge')
    .description(
      'Remove now what retention let go: replaced versions and deleted documents after documents.retentionDays, orphaned files.',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }, config) => {
        const report = await purgeDocuments(db, createDocumentStorage(config, db), config.documents)
        if (o.json) return printJson(ctx.io, report)
        ctx.io.out(
          `purged ${counted(report.versionsPurged, 'version')}, deleted ${counted(report.filesDeleted, 'file')}, removed ${counted(report.documentsRemoved, 'document')}, ` +
            `${counted(report.orphansDeleted, 'orphaned file')}, ${counted(report.incompleteRemoved, 'incomplete upload')}`,
        )
      })
    })
}
