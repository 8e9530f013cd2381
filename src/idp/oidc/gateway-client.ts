import type { Kysely } from 'kysely'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import {
  findClient,
  prepareClient,
  rotateClientSecret,
  upsertClient,
  type ClientInput,
  type DocumentServiceInput,
} from './clients.ts'
import { gatewayResource } from './provider.ts'

/**
 * What the gateway serves besides its portal, as the idp must know it: each agency's own
 * origin (a sign-in callback and a return from the consent page on each, issue 10 §2),
 * and the services that ask citizens for documents (asked on the idp's /izin-dokumen).
 * Plain data, worked out from the agencies file by whoever registers the client
 * (src/main.ts, `satupintu clients gateway`): the idp does not read the gateway's files.
 */
export interface GatewaySites {
  origins: readonly string[]
  documentServices: readonly DocumentServiceInput[]
}

/** The gateway's path where the idp's consent page sends its answer back (src/gateway/proxy/documents.ts). */
export const gatewayConsentReturnPath = '/oidc/izin-dokumen'

/**
 * The gateway as a relying party of the idp. On one machine (`satupintu start`) the
 * process registers it and hands the gateway a fresh secret; on several machines an
 * operator registers it once with the same settings (docs/architecture.md) and gives
 * the gateway GATEWAY_CLIENT_SECRET.
 */
export function gatewayClientInput(
  config: Config,
  sites: GatewaySites = { origins: [], documentServices: [] },
): ClientInput {
  const base = config.gateway.publicUrl.replace(/\/+$/, '')
  const origins = [new URL(base).origin, ...sites.origins]
  return {
    clientId: config.gateway.clientId,
    name: 'Portal Layanan Satu Pintu',
    agencyId: 'satupintu',
    // One callback per host: each host signs in on its own (its own session cookie).
    redirectUris: [
      ...origins.map((o) => `${o}/oidc/callback`),
      ...sites.origins.map((o) => `${o}${gatewayConsentReturnPath}`),
    ],
    postLogoutRedirectUris: origins.map((o) => `${o}/`),
    ...(sites.documentServices.length > 0 ? { documentServices: [...sites.documentServices] } : {}),
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
export async function ensureGatewayClient(db: Kysely<Database>, config: Config, sites?: GatewaySites): Promise<string> {
  const prepared = prepareClient(gatewayClientInput(config, sites), {
    allowLoopbackHttp: config.env !== 'production',
    documentTypes: config.documents.types.map((t) => t.id),
  })
  const existing = await findClient(db, prepared.clientId)
  await upsertClient(db, existing ? { ...prepared, secret: undefined } : prepared, 'system')
  return (await rotateClientSecret(db, prepared.clientId)) as string
}

/** What gatewaySitesFrom reads of an agency behind the gateway (structurally: src/gateway/agencies.ts). */
export interface GatewayAgencyShape {
  readonly id: string
  readonly name: { readonly id: string; readonly en: string }
  readonly origin: string
  readonly services: readonly {
    readonly id: string
    readonly name: { readonly id: string; readonly en: string }
    readonly documents: readonly string[]
    readonly purpose: { readonly id: string; readonly en: string } | undefined
  }[]
}

/** The gateway's sites from its agencies: their origins, and every service that asks for documents. */
export function gatewaySitesFrom(agencies: readonly GatewayAgencyShape[]): GatewaySites {
  return {
    origins: agencies.map((a) => a.origin),
    documentServices: agencies.flatMap((a) =>
      a.services
        .filter((s) => s.documents.length > 0 && s.purpose !== undefined)
        .map((s) => ({
          id: s.id,
          agency: { id: a.id, name: a.name, origin: a.origin },
          name: s.name,
          documents: [...s.documents],
          purpose: s.purpose as { id: string; en: string },
        })),
    ),
  }
}
