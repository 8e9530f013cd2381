import type { ColumnType, Insertable, Selectable } from 'kysely'
import { columns } from './columns.ts'

type Timestamp = ColumnType<Date, Date | string, Date | string>

/** oidc-provider's stored models (see src/idp/oidc/adapter.ts). */
export interface OidcPayloadsTable {
  model: string
  id: string
  payload: ColumnType<Record<string, unknown>, string, string>
  grant_id: string | null
  user_code: string | null
  uid: string | null
  account_id: string | null
  expires_at: ColumnType<Date | null, Date | string | null, Date | string | null>
  consumed_at: ColumnType<Date | null, Date | string | null, Date | string | null>
}

export const oidcPayloadsColumns = columns<OidcPayloadsTable>({
  model: 'text',
  id: 'text',
  payload: 'jsonb',
  grant_id: 'text?',
  user_code: 'text?',
  uid: 'text?',
  account_id: 'text?',
  expires_at: 'timestamptz?',
  consumed_at: 'timestamptz?',
})

export type ClientSource = 'cli' | 'file' | 'demo' | 'system'

/** Registered relying parties. */
export interface OidcClientsTable {
  client_id: string
  agency_id: string
  name: string
  metadata: ColumnType<Record<string, unknown>, string, string>
  source: ColumnType<ClientSource, ClientSource | undefined, ClientSource>
  created_at: ColumnType<Date, Date | string | undefined, never>
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export type OidcClientRow = Selectable<OidcClientsTable>
export type NewOidcClientRow = Insertable<OidcClientsTable>

export const oidcClientsColumns = columns<OidcClientsTable>({
  client_id: 'text',
  agency_id: 'text',
  name: 'text',
  metadata: 'jsonb',
  source: 'text',
  created_at: 'timestamptz',
  updated_at: 'timestamptz',
})

export type KeyPurpose = 'oidc' | 'cookie' | 'gateway'

/** Signing keys of the idp and the gateway, and cookie-signing keys. */
export interface SigningKeysTable {
  kid: string
  purpose: KeyPurpose
  alg: string
  public_jwk: ColumnType<Record<string, unknown> | null, string | null, string | null>
  private_enc: string
  created_at: ColumnType<Date, Date | string | undefined, never>
  activates_at: Timestamp
  expires_at: ColumnType<Date | null, Date | string | null, Date | string | null>
}

export type SigningKeyRow = Selectable<SigningKeysTable>

export const signingKeysColumns = columns<SigningKeysTable>({
  kid: 'text',
  purpose: 'text',
  alg: 'text',
  public_jwk: 'jsonb?',
  private_enc: 'text',
  created_at: 'timestamptz',
  activates_at: 'timestamptz',
  expires_at: 'timestamptz?',
})

/** Secrets of the deployment made once and never rotated (src/idp/oidc/subjects.ts). */
export interface DeploymentSecretsTable {
  name: string
  /** AES-256-GCM under the key-encryption secret, bound to the name (src/keys/encryption.ts). */
  secret_enc: string
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export const deploymentSecretsColumns = columns<DeploymentSecretsTable>({
  name: 'text',
  secret_enc: 'text',
  created_at: 'timestamptz',
})
