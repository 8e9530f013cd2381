import type { Kysely } from 'kysely'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import { findClient, prepareClient, rotateClientSecret, upsertClient, type ClientInput } from './clients.ts'
import { gatewayResource } from './provider.ts'

/**
 * The gateway as a relying party of the idp. On one machine (`satupintu start`) the
 * process registers it and hands the gateway a fresh secret; on several machines an
 * operator registers it once with the same settings (docs/architecture.md) and gives
 * the gateway GATEWAY_CLIENT_SECRET.
 */
export function gatewayClientInput(config: Config): ClientInput {
  const base = config.gateway.publicUrl.replace(/\/+$/, '')
  return {
    clientId: config.gateway.clientId,
    name: 'Portal Layanan Satu Pintu',
    agencyId: 'satupintu',
    redirectUris: [`${base}/oidc/callback`],
    postLogoutRedirectUris: [`${base}/`],
    backchannelLogoutUri: `${base}/oidc/backchannel-logout`,
    authMethod: 'client_secret_basic',
    // The regency's own portal: it sees the account id (public subject) and links the
    // citizen's documents by it; agencies behind it get only what the gateway injects.
    firstParty: true,
    subjectType: 'public',
    scopes: ['openid', 'profile', 'email', 'phone', 'nik', 'offline_access'],
    grantTypes: ['authorization_code', 'refresh_token'],
    resources: [gatewayResource(config)],
  }
}

/** Registers (or updates) the gateway client and returns a newly issued secret. */
export async function ensureGatewayClient(db: Kysely<Database>, config: Config): Promise<string> {
  const prepared = prepareClient(gatewayClientInput(config), { allowLoopbackHttp: config.env !== 'production' })
  const existing = await findClient(db, prepared.clientId)
  await upsertClient(db, existing ? { ...prepared, secret: undefined } : prepared, 'system')
  return (await rotateClientSecret(db, prepared.clientId)) as string
}
