import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/database.ts'
import type { KeyEncryption } from '../../keys/encryption.ts'

/**
 * Subject identifiers (OpenID Connect Core §8). A client of the regency's own (the portal,
 * the account pages: "first-party") sees the account id itself (`public`). Every agency
 * sees a pairwise identifier: one per sector (the host its redirect URIs share, or the
 * host of its `sector_identifier_uri`), so that two agencies cannot tell from their `sub`
 * values that they serve the same citizen (§8.1).
 *
 * The identifier is HMAC-SHA256 under a secret of this deployment, over the sector and
 * the account id. Nothing public enters the key: an agency that knows a citizen's account
 * id (a first-party subject), the issuer, every client's metadata and the algorithm still
 * cannot compute what another sector sees.
 */

/** The name of the pairwise key in `deployment_secrets`. */
export const pairwiseSecretName = 'pairwise-subjects'

/** The client metadata a sector is read from (snake_case, as stored and as oidc-provider names it). */
export interface SectorMetadata {
  readonly subject_type?: unknown
  readonly sector_identifier_uri?: unknown
  readonly redirect_uris?: unknown
  readonly application_type?: unknown
}

/** Why a client's sector cannot be told: the registration is refused with this. */
export class SectorError extends Error {
  readonly field: string
  constructor(field: string, message: string) {
    super(message)
    this.name = 'SectorError'
    this.field = field
  }
}

const loopbackHostnames = new Set(['127.0.0.1', '[::1]', 'localhost'])

/**
 * The host a redirect URI belongs to, for the sector: the authority's host (with its port,
 * as oidc-provider compares them) for http and https; for a private-use scheme of a
 * native app (RFC 8252 §7.1, `id.go.sukamajukab.app:/cb`) the domain name the scheme is
 * the reverse of (`app.sukamajukab.go.id`), which the agency controls.
 */
export function redirectSectorHost(uri: string): string {
  const url = new URL(uri)
  if (url.protocol === 'https:' || url.protocol === 'http:') return url.host.toLowerCase()
  return url.protocol.slice(0, -1).toLowerCase().split('.').reverse().join('.')
}

/**
 * The sector identifier of a pairwise client (OIDC Core §8.1): the host of its
 * `sector_identifier_uri` when it registered one (whose document listed every redirect
 * URI, checked at registration: src/idp/oidc/sector-identifier.ts), else the single host its
 * redirect URIs share. Redirect URIs on several hosts without a sector_identifier_uri
 * are refused, as the spec requires, since the sector would otherwise depend on which
 * URI happens to come first.
 */
export function sectorOf(metadata: SectorMetadata): string {
  if (typeof metadata.sector_identifier_uri === 'string')
    return new URL(metadata.sector_identifier_uri).host.toLowerCase()
  const uris = Array.isArray(metadata.redirect_uris)
    ? metadata.redirect_uris.filter((u): u is string => typeof u === 'string')
    : []
  if (uris.length === 0)
    throw new SectorError(
      'redirect_uris',
      'a pairwise client needs at least one redirect URI, or a sector_identifier_uri',
    )
  // oidc-provider's own rule (client_schema.js) compares URL hosts; ours also tells apart
  // the domains behind private-use schemes, whose URLs have no host at all.
  const hosts = new Set(uris.map((u) => new URL(u).host.toLowerCase()))
  const sectors = new Set(uris.map(redirectSectorHost))
  if (hosts.size > 1 || sectors.size > 1) {
    throw new SectorError(
      'redirect_uris',
      `span more than one host (${[...sectors].join(', ')}): register a sector_identifier_uri whose document lists them all (OpenID Connect Core §8.1)`,
    )
  }
  const sector = [...sectors][0] as string
  // Every app on every phone shares the loopback interface: as a sector it would give
  // every loopback-only native app of every agency the same identifiers.
  if (metadata.application_type === 'native' && loopbackHostnames.has(new URL(`http://${sector}`).hostname)) {
    throw new SectorError(
      'sector_identifier_uri',
      'a native client whose redirect URIs are all loopback needs a sector_identifier_uri on a host the agency controls',
    )
  }
  return sector
}

/** Subject identifiers of this deployment. */
export interface Subjects {
  /** The pairwise identifier of `accountId` in `sector`. */
  pairwise(sector: string, accountId: string): string
  /** The `sub` a client with this metadata sees for `accountId`. */
  forClient(metadata: SectorMetadata, accountId: string): string
}

const pairwiseLabel = 'satupintu pairwise subject v1'

export function createSubjects(secret: Buffer): Subjects {
  if (secret.length < 32) throw new Error('the pairwise subject secret must be at least 32 bytes')
  const key: KeyObject = createSecretKey(secret)
  const pairwise = (sector: string, accountId: string): string =>
    // NUL separators: neither a host nor an account id contains one, so (sector, id)
    // pairs cannot collide by shifting characters between them.
    createHmac('sha256', key)
      .update(`${pairwiseLabel}\u0000${sector.toLowerCase()}\u0000${accountId}`, 'utf8')
      .digest('base64url')
  return {
    pairwise,
    forClient(metadata, accountId) {
      return metadata.subject_type === 'pairwise' ? pairwise(sectorOf(metadata), accountId) : accountId
    },
  }
}

/**
 * A secret of this deployment from `deployment_secrets`, made on first start. Random
 * rather than derived from the key-encryption secret: that secret may be rotated (keys at
 * rest are then re-encrypted), but a pairwise key never may, since every agency's `sub`
 * for every citizen would change. Stored encrypted under the key-encryption secret, bound
 * to its name; two instances starting together both end up with the first one written.
 */
export async function ensureDeploymentSecret(db: Kysely<Database>, kek: KeyEncryption, name: string): Promise<Buffer> {
  const aad = `deployment-secret:${name}`
  const read = async (): Promise<Buffer | undefined> => {
    const row = await db
      .selectFrom('deployment_secrets')
      .select('secret_enc')
      .where('name', '=', name)
      .executeTakeFirst()
    return row === undefined ? undefined : Buffer.from(kek.decrypt(row.secret_enc, aad), 'base64url')
  }
  const existing = await read()
  if (existing !== undefined) return existing
  await db
    .insertInto('deployment_secrets')
    .values({ name, secret_enc: kek.encrypt(randomBytes(32).toString('base64url'), aad) })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute()
  const made = await read()
  if (made === undefined) throw new Error(`deployment secret ${name} was not stored`)
  return made
}

/** The subjects of this deployment, loading (or on first start making) the pairwise key. */
export async function loadSubjects(db: Kysely<Database>, kek: KeyEncryption): Promise<Subjects> {
  return createSubjects(await ensureDeploymentSecret(db, kek, pairwiseSecretName))
}
