import type { ColumnType, Insertable, Selectable } from 'kysely'
import { columns } from './columns.ts'

/** Browser sessions at the gateway (src/gateway/auth/sessions.ts). */
export interface GatewaySessionsTable {
  /** base64url SHA-256 of the session id; the id itself is only in the citizen's cookie. */
  id_hash: string
  /** The host the session was made on (the portal's or one agency's): accepted there only. */
  site: ColumnType<string, string, string>
  sub: string
  idp_sid: string | null
  acr: string
  /** When the citizen signed in at the idp (the ID token's auth_time); null for older sessions. */
  auth_time: ColumnType<Date | null, Date | null | undefined, Date | null>
  amr: ColumnType<string[], string[] | undefined, string[]>
  scopes: ColumnType<string[], string[] | undefined, string[]>
  claims: ColumnType<Record<string, unknown>, string | undefined, string>
  id_token_enc: string | null
  requested_acr: string | null
  requested_scopes: ColumnType<string[], string[] | undefined, string[]>
  created_at: ColumnType<Date, Date | string | undefined, Date | string>
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>
  expires_at: ColumnType<Date, Date | string, Date | string>
}

export type GatewaySessionRow = Selectable<GatewaySessionsTable>
export type NewGatewaySessionRow = Insertable<GatewaySessionsTable>

export const gatewaySessionsColumns = columns<GatewaySessionsTable>({
  id_hash: 'text',
  site: 'text',
  sub: 'text',
  idp_sid: 'text?',
  acr: 'text',
  auth_time: 'timestamptz?',
  amr: '_text',
  scopes: '_text',
  claims: 'jsonb',
  id_token_enc: 'text?',
  requested_acr: 'text?',
  requested_scopes: '_text',
  created_at: 'timestamptz',
  last_seen_at: 'timestamptz',
  expires_at: 'timestamptz',
})

export type JtiKind = 'dpop' | 'logout'

/** One-time token ids already seen (replay cache shared by every gateway instance). */
export interface GatewayJtisTable {
  kind: JtiKind
  jti: string
  expires_at: ColumnType<Date, Date | string, Date | string>
}

export const gatewayJtisColumns = columns<GatewayJtisTable>({
  kind: 'text',
  jti: 'text',
  expires_at: 'timestamptz',
})
