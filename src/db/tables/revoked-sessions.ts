import type { ColumnType, Selectable } from 'kysely'
import { columns } from './columns.ts'

/**
 * Sessions the idp ended, for the gateways (src/idp/oidc/session-revocation.ts writes them,
 * src/gateway/auth/revocations.ts reads them): an access token whose session hash is here and
 * that was issued before revoked_at is refused.
 */
export interface RevokedSessionsTable {
  /** base64url SHA-256 over the oidc-provider session uid and the client id (the `sp_sh` claim). */
  session_hash: string
  revoked_at: ColumnType<Date, Date | string | undefined, Date | string>
  /** After this no token the row refuses can still be valid: the row goes. */
  expires_at: ColumnType<Date, Date | string, Date | string>
}

export type RevokedSessionRow = Selectable<RevokedSessionsTable>

export const revokedSessionsColumns = columns<RevokedSessionsTable>({
  session_hash: 'text',
  revoked_at: 'timestamptz',
  expires_at: 'timestamptz',
})
