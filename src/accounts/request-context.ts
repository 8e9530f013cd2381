import type { AuditActor } from '../audit/audit.ts'

/** Who asks and from where, for the audit rows an account change writes. */
export interface RequestContext {
  readonly actor?: AuditActor
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
}
