import type { Kysely } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import { queueNotice, type RenderOptions } from './notices.ts'

/**
 * A second factor added to or removed from an account (the authenticator app, a passkey):
 * the audit entry and the notice to the citizen, in the caller's transaction, so that a
 * change is never made without both. Every factor change goes through here.
 */
export async function recordFactorChange(
  trx: Kysely<Database>,
  citizenId: string,
  change: 'added' | 'removed',
  factor: 'totp' | 'passkey',
  context: {
    readonly ip?: string | undefined
    readonly requestId?: string | undefined
    readonly noticeOptions?: RenderOptions | undefined
  },
  at: Date,
  auditData: Readonly<Record<string, unknown>> = {},
): Promise<void> {
  await recordAudit(trx, {
    event: `account.second_factor_${change}`,
    actor: `citizen:${citizenId}`,
    subjectId: citizenId,
    ip: context.ip,
    requestId: context.requestId,
    data: { factor, ...auditData },
  })
  await queueNotice(
    trx,
    { citizenId, kind: `second_factor_${change}`, data: { at, factor } },
    context.noticeOptions ?? {},
  )
}
