import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/database.ts'
import type { ClientSource, OidcClientRow } from '../../db/tables/oidc.ts'
import { SectorError, sectorOf } from './subjects.ts'

/**
 * Relying parties: agency applications that sign citizens in with the idp. Registered by
 * operators (`satupintu clients …`) or from a file (infrastructure as code), validated
 * here, and read by oidc-provider through the adapter's Client model.
 */

export const authMethods = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const
export type AuthMethod = (typeof authMethods)[number]

/** Scopes a client may be allowed (DESIGN.md, "Scopes and claims"). */
export const knownScopes = [
  'openid',
  'profile',
  'email',
  'phone',
  'address',
  'nik',
  'verified_claims',
  'offline_access',
] as const

export interface ClientInput {
  clientId?: string
  name: string
  agencyId: string
  redirectUris: string[]
  postLogoutRedirectUris?: string[]
  backchannelLogoutUri?: string
  authMethod: AuthMethod
  scopes?: string[]
  /**
   * `pairwise` by default; `public` (the account id itself) only for a first-party client
   * (OIDC Core §8, docs/agency-integration.md "Subject identifiers").
   */
  subjectType?: 'public' | 'pairwise'
  /** One of the regency's own services (the portal, the account pages, its own app), not an agency's. */
  firstParty?: boolean
  /**
   * Where the pairwise sector comes from when the redirect URIs span hosts (OIDC Core §8.1):
   * an https URL of a JSON array listing every redirect URI (checked when registering,
   * src/idp/oidc/sector-identifier.ts).
   */
  sectorIdentifierUri?: string
  /** `web` (default) or `native`: an app on the citizen's phone or computer (RFC 8252). */
  applicationType?: 'web' | 'native'
  /** Access tokens only with a DPoP proof (RFC 9449 §5.2): the recommended setting for apps. */
  dpopBound?: boolean
  /** The device grant (RFC 8628) is a kiosk's only (src/idp/oidc/kiosks.ts). */
  grantTypes?: (
    | 'authorization_code'
    | 'refresh_token'
    | 'client_credentials'
    | 'urn:ietf:params:oauth:grant-type:device_code'
  )[]
  /** For private_key_jwt: the client's public keys. */
  jwks?: { keys: Record<string, unknown>[] }
  /** Resource servers (e.g. the gateway) the client may obtain tokens for. */
  resources?: string[]
  /**
   * The agency's services that ask citizens for documents through the idp (an agency that
   * integrates as a relying party, not behind the gateway): what each asks for and why,
   * shown on the idp's consent page (src/idp/documents/consent.ts).
   */
  documentServices?: DocumentServiceInput[]
}

/** One service of an agency that asks for documents, as registered with its client. */
export interface DocumentServiceInput {
  id: string
  /**
   * For the gateway's client only, which asks on behalf of the agencies behind it: the
   * agency whose service this is, and its origin (the only place the answer may go).
   */
  agency?: DocumentServiceAgency
  name: { id: string; en?: string | undefined }
  documents: string[]
  purpose: { id: string; en?: string | undefined }
}

/** As stored in the client's metadata (`urn:satupintu:document_services`), both languages filled. */
export interface DocumentServiceAgency {
  readonly id: string
  readonly name: { readonly id: string; readonly en: string }
  readonly origin: string
}

export interface DocumentService {
  readonly id: string
  /** Set for the gateway's client: the agency behind the gateway that asks. */
  readonly agency?: DocumentServiceAgency
  readonly name: { readonly id: string; readonly en: string }
  readonly documents: readonly string[]
  readonly purpose: { readonly id: string; readonly en: string }
}

export const documentServicesKey = 'urn:satupintu:document_services'

export class ClientError extends Error {
  readonly field: string
  constructor(field: string, message: string) {
    super(`${field}: ${message}`)
    this.name = 'ClientError'
    this.field = field
  }
}

export interface ClientPolicy {
  /** Development allows http://localhost and loopback redirect URIs (RFC 8252 §7.3). */
  allowLoopbackHttp: boolean
  /** The document type ids configured (`documents.types`): a service may ask only for these. */
  documentTypes?: readonly string[]
}

const secretPrefix = 'sha256:'

/** A client secret as stored: only its SHA-256 digest (the secret itself has 256 bits of entropy). */
export function hashClientSecret(secret: string): string {
  return secretPrefix + createHash('sha256').update(secret, 'utf8').digest('base64url')
}

/** Constant-time comparison of a presented secret with the stored digest. */
export function clientSecretMatches(stored: string | undefined, presented: string): boolean {
  if (stored === undefined || !stored.startsWith(secretPrefix)) return false
  const a = Buffer.from(stored)
  const b = Buffer.from(hashClientSecret(presented))
  return a.length === b.length && timingSafeEqual(a, b)
}

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url')
}

function isLoopbackHost(host: string): boolean {
  // RFC 6761 §6.3: "localhost" and every name under it are loopback; browsers resolve
  // them so without DNS (the quick start's agency origins, <agency>.localhost).
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]'
}

/**
 * Redirect URIs are compared by exact string match at the provider (RFC 9700 §4.1.3); here
 * we refuse what can never be safe: wildcards, fragments, non-https outside loopback
 * development, user-info in the authority.
 */
export function validateRedirectUri(field: string, value: string, policy: ClientPolicy): string {
  if (/[*\s]/.test(value)) throw new ClientError(field, `must not contain wildcards or spaces: ${value}`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ClientError(field, `is not a URL: ${value}`)
  }
  if (value.includes('#')) throw new ClientError(field, `must not contain a fragment: ${value}`)
  if (url.username !== '' || url.password !== '')
    throw new ClientError(field, `must not contain user information: ${value}`)
  if (url.protocol === 'https:') return value
  if (url.protocol === 'http:' && policy.allowLoopbackHttp && isLoopbackHost(url.hostname)) return value
  if (url.protocol !== 'http:' && field.includes('redirect_uris')) {
    throw new ClientError(
      field,
      `must use https; a private-use scheme is only for a native app (application_type native, RFC 8252 §7.1): ${value}`,
    )
  }
  throw new ClientError(
    field,
    policy.allowLoopbackHttp ? `must use https (http only for localhost): ${value}` : `must use https: ${value}`,
  )
}

export const firstPartyKey = 'urn:satupintu:first_party'

/** Set on a client that may no longer be used at all (a disabled kiosk's, src/idp/oidc/kiosks.ts). */
export const disabledClientKey = 'urn:satupintu:disabled'

/** Whether a stored client is one of the regency's own (src/idp/oidc/subjects.ts). */
export function isFirstParty(metadata: Record<string, unknown>): boolean {
  return metadata[firstPartyKey] === true
}

/**
 * The subject type, the first-party mark and the sector of a client (OIDC Core §8).
 * Agencies get pairwise subjects: with public ones, any two agencies could join their
 * records on `sub`. Only the regency's own clients may see the account id. A client
 * without the authorization code grant (a machine) receives no citizen's subject at all.
 */
function subjectMetadata(
  input: ClientInput,
  shape: { needsRedirect: boolean; redirectUris: string[]; applicationType: 'web' | 'native' },
): Record<string, unknown> {
  const firstParty = input.firstParty === true
  const out: Record<string, unknown> = { [firstPartyKey]: firstParty }
  if (!shape.needsRedirect) {
    if (input.subjectType === 'pairwise')
      throw new ClientError('subject_type', 'a client without the authorization_code grant receives no citizen subject')
    if (input.sectorIdentifierUri !== undefined)
      throw new ClientError('sector_identifier_uri', 'is only for clients that receive citizen subjects')
    // Its tokens' `sub` is its own client id.
    return { ...out, subject_type: 'public' }
  }
  const subjectType = input.subjectType ?? (firstParty ? 'public' : 'pairwise')
  if (subjectType !== 'public' && subjectType !== 'pairwise')
    throw new ClientError('subject_type', 'must be public or pairwise')
  if (subjectType === 'public') {
    if (!firstParty) {
      throw new ClientError(
        'subject_type',
        "public subjects are only for the regency's own first-party clients: an agency gets pairwise subjects, so that agencies cannot link their records (OpenID Connect Core §8.1)",
      )
    }
    if (input.sectorIdentifierUri !== undefined)
      throw new ClientError('sector_identifier_uri', 'is only for pairwise subjects')
    return { ...out, subject_type: 'public' }
  }
  const metadata: Record<string, unknown> = { ...out, subject_type: 'pairwise' }
  if (input.sectorIdentifierUri !== undefined) {
    metadata.sector_identifier_uri = validateSectorIdentifierUri(input.sectorIdentifierUri)
  }
  try {
    sectorOf({ ...metadata, redirect_uris: shape.redirectUris, application_type: shape.applicationType })
  } catch (err) {
    if (err instanceof SectorError) throw new ClientError(err.field, err.message)
    throw err
  }
  return metadata
}

/** OIDC Core §8.1: "a URL using the https scheme" (also in development, as oidc-provider requires). */
function validateSectorIdentifierUri(value: string): string {
  const field = 'sector_identifier_uri'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ClientError(field, `is not a URL: ${value}`)
  }
  if (url.protocol !== 'https:') throw new ClientError(field, `must use https (OpenID Connect Core §8.1): ${value}`)
  if (value.includes('#') || url.username !== '' || url.password !== '')
    throw new ClientError(field, `must not contain a fragment or user information: ${value}`)
  return value
}

/** `web` or `native` (OpenID Connect Dynamic Client Registration §2); a native app is a public client. */
function validateApplicationType(input: ClientInput): 'web' | 'native' {
  const type = input.applicationType ?? 'web'
  if (type !== 'web' && type !== 'native') throw new ClientError('application_type', 'must be web or native')
  if (type === 'native' && input.authMethod !== 'none') {
    // RFC 8252 §8.5: a secret shipped inside an app is known to everyone who has the app.
    throw new ClientError(
      'auth_method',
      'a native app cannot keep a secret: native clients authenticate with none (and PKCE), RFC 8252 §8.5',
    )
  }
  return type
}

/** Schemes a native app's redirect URI may never use: the web's own, and ones that run or read content. */
const forbiddenNativeSchemes = new Set([
  'about',
  'blob',
  'chrome',
  'chrome-extension',
  'content',
  'data',
  'file',
  'ftp',
  'intent',
  'javascript',
  'jar',
  'mailto',
  'sms',
  'tel',
  'urn',
  'vbscript',
  'view-source',
  'ws',
  'wss',
])
const dnsLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/**
 * The redirect URIs a native app may register (RFC 8252 §7): a private-use scheme that is
 * a domain the agency controls, in reverse order (`id.go.sukamajukab.app:/cb`, §7.1); a
 * claimed https link (§7.2); or the loopback interface by IP address, with no port, since
 * the app listens on whatever port it gets when it signs in (§7.3; oidc-provider accepts
 * any port for native clients). Never `localhost`, which a device may resolve elsewhere
 * (§8.3).
 */
export function validateNativeRedirectUri(field: string, value: string, policy: ClientPolicy): string {
  if (/[*\s]/.test(value)) throw new ClientError(field, `must not contain wildcards or spaces: ${value}`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ClientError(field, `is not a URL: ${value}`)
  }
  if (value.includes('#')) throw new ClientError(field, `must not contain a fragment: ${value}`)
  if (url.username !== '' || url.password !== '')
    throw new ClientError(field, `must not contain user information: ${value}`)
  if (url.protocol === 'https:') {
    if (isLoopbackHost(url.hostname))
      throw new ClientError(
        field,
        `a claimed https redirect must be on the agency's own host, not ${url.hostname}: ${value}`,
      )
    return validateRedirectUri(field, value, policy)
  }
  if (url.protocol === 'http:') {
    if (url.hostname === 'localhost') {
      throw new ClientError(
        field,
        `must not use localhost: use http://127.0.0.1/… or http://[::1]/… (RFC 8252 §8.3): ${value}`,
      )
    }
    if (url.hostname !== '127.0.0.1' && url.hostname !== '[::1]') {
      throw new ClientError(
        field,
        `http is only for the loopback interface, http://127.0.0.1/… or http://[::1]/… (RFC 8252 §7.3): ${value}`,
      )
    }
    if (url.port !== '' || /^http:\/\/(?:127\.0\.0\.1|\[::1\]):/.test(value)) {
      throw new ClientError(
        field,
        `register a loopback redirect without a port: the app may use any port when it signs in (RFC 8252 §7.3): ${value}`,
      )
    }
    return value
  }
  const scheme = url.protocol.slice(0, -1)
  if (forbiddenNativeSchemes.has(scheme)) throw new ClientError(field, `must not use the ${scheme} scheme: ${value}`)
  const labels = scheme.split('.')
  if (labels.length < 2) {
    throw new ClientError(
      field,
      `a private-use scheme must be a domain name the agency controls, in reverse order (e.g. id.go.sukamajukab.app:/callback, RFC 8252 §7.1); ${scheme} is a single word: ${value}`,
    )
  }
  if (!value.startsWith(`${scheme}:`)) throw new ClientError(field, `the scheme must be written in lowercase: ${value}`)
  if (!/^[a-z]{2,63}$/.test(labels[0] as string) || !labels.every((l) => dnsLabel.test(l))) {
    throw new ClientError(field, `${scheme} is not a domain name in reverse order (RFC 8252 §7.1): ${value}`)
  }
  if (!value.startsWith(`${scheme}:/`) || value.startsWith(`${scheme}://`)) {
    throw new ClientError(
      field,
      `write a private-use redirect with one slash after the scheme, e.g. ${scheme}:/callback (RFC 8252 §7.1): ${value}`,
    )
  }
  return value
}

const clientIdPattern = /^[a-z0-9][a-z0-9._-]{2,63}$/
const agencyIdPattern = /^[a-z0-9][a-z0-9-]{1,39}$/

export interface PreparedClient {
  clientId: string
  agencyId: string
  name: string
  metadata: Record<string, unknown>
  /** Shown once to the operator; only its digest is stored. */
  secret: string | undefined
}

/** Validates the input and builds the OIDC client metadata oidc-provider will read. */
export function prepareClient(input: ClientInput, policy: ClientPolicy): PreparedClient {
  const name = input.name.trim()
  if (name.length < 2 || name.length > 100) throw new ClientError('name', 'must be 2 to 100 characters')
  if (!agencyIdPattern.test(input.agencyId))
    throw new ClientError('agency', 'must be lowercase letters, digits and dashes (2-40)')
  const clientId = input.clientId ?? `${input.agencyId}-${randomBytes(6).toString('hex')}`
  if (!clientIdPattern.test(clientId))
    throw new ClientError('client_id', 'must be lowercase letters, digits, dots, dashes (3-64)')
  if (!(authMethods as readonly string[]).includes(input.authMethod)) {
    throw new ClientError('auth_method', `must be one of ${authMethods.join(', ')}`)
  }
  const grantTypes = input.grantTypes ?? ['authorization_code', 'refresh_token']
  if (input.authMethod === 'none' && grantTypes.includes('client_credentials')) {
    throw new ClientError('grant_types', 'a public client cannot use client_credentials')
  }
  const needsRedirect = grantTypes.includes('authorization_code')
  if (needsRedirect && input.redirectUris.length === 0)
    throw new ClientError('redirect_uris', 'at least one is required')
  const applicationType = validateApplicationType(input)
  const redirectOf = applicationType === 'native' ? validateNativeRedirectUri : validateRedirectUri
  const redirectUris = input.redirectUris.map((u, i) => redirectOf(`redirect_uris[${i}]`, u, policy))
  const postLogout = (input.postLogoutRedirectUris ?? []).map((u, i) =>
    redirectOf(`post_logout_redirect_uris[${i}]`, u, policy),
  )
  const scopes = input.scopes ?? ['openid', 'profile']
  for (const s of scopes) {
    if (!(knownScopes as readonly string[]).includes(s)) throw new ClientError('scopes', `unknown scope ${s}`)
  }
  if (!scopes.includes('openid') && needsRedirect) throw new ClientError('scopes', 'must include openid')
  if (input.authMethod === 'private_key_jwt' && (input.jwks?.keys.length ?? 0) === 0) {
    throw new ClientError('jwks', 'private_key_jwt needs the client public keys')
  }
  const metadata: Record<string, unknown> = {
    client_id: clientId,
    client_name: name,
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogout,
    grant_types: grantTypes,
    response_types: needsRedirect ? ['code'] : [],
    token_endpoint_auth_method: input.authMethod,
    scope: scopes.join(' '),
    ...subjectMetadata(input, { needsRedirect, redirectUris, applicationType }),
    application_type: applicationType,
    'urn:satupintu:agency': input.agencyId,
    'urn:satupintu:resources': validateResources(input.resources ?? [], policy),
  }
  if (input.documentServices !== undefined && input.documentServices.length > 0) {
    if (!needsRedirect)
      throw new ClientError(
        'document_services',
        'need the authorization_code grant: the citizen answers in the browser',
      )
    metadata[documentServicesKey] = validateDocumentServices(input.documentServices, policy)
  }
  if (input.backchannelLogoutUri !== undefined) {
    metadata.backchannel_logout_uri = validateRedirectUri('backchannel_logout_uri', input.backchannelLogoutUri, policy)
    metadata.backchannel_logout_session_required = true
  }
  if (input.jwks) metadata.jwks = input.jwks
  if (input.dpopBound === true) metadata.dpop_bound_access_tokens = true
  let secret: string | undefined
  if (input.authMethod === 'client_secret_basic' || input.authMethod === 'client_secret_post') {
    secret = generateClientSecret()
    metadata.client_secret = hashClientSecret(secret)
  }
  return { clientId, agencyId: input.agencyId, name, metadata, secret }
}

const serviceIdPattern = /^[a-z0-9][a-z0-9-]{1,39}$/

/**
 * Resource indicators a client may get access tokens for (RFC 8707 §2: an absolute URI
 * without a fragment). The idp issues tokens for these and no others (provider.ts).
 */
function validateResources(list: readonly string[], policy: ClientPolicy): string[] {
  if (list.length > 20) throw new ClientError('resources', 'at most 20')
  return [...new Set(list.map((r, i) => validateRedirectUri(`resources[${i}]`, r, policy)))]
}

function text(field: string, value: unknown, min: number, max: number): string {
  if (typeof value !== 'string') throw new ClientError(field, 'is required')
  const v = value.trim()
  if (v.length < min || v.length > max || /[\u0000-\u001f\u007f]/.test(v))
    throw new ClientError(field, `must be ${min} to ${max} characters on one line`)
  return v
}

function validateDocumentServices(list: readonly DocumentServiceInput[], policy: ClientPolicy): DocumentService[] {
  if (list.length > 20) throw new ClientError('document_services', 'at most 20')
  const seen = new Set<string>()
  return list.map((s, i) => {
    const f = `document_services[${i}]`
    if (typeof s?.id !== 'string' || !serviceIdPattern.test(s.id))
      throw new ClientError(`${f}.id`, 'must be lowercase letters, digits and dashes (2-40)')
    const key = `${s.agency?.id ?? ''}/${s.id}`
    if (seen.has(key)) throw new ClientError(`${f}.id`, `${s.id} is listed twice`)
    seen.add(key)
    let agency: DocumentServiceAgency | undefined
    if (s.agency !== undefined) {
      if (!serviceIdPattern.test(s.agency.id)) throw new ClientError(`${f}.agency.id`, 'must be an agency id')
      const origin = validateRedirectUri(`${f}.agency.origin`, s.agency.origin, policy)
      if (new URL(origin).origin !== origin) throw new ClientError(`${f}.agency.origin`, `must be an origin: ${origin}`)
      agency = {
        id: s.agency.id,
        name: {
          id: text(`${f}.agency.name.id`, s.agency.name.id, 2, 200),
          en: text(`${f}.agency.name.en`, s.agency.name.en, 2, 200),
        },
        origin,
      }
    }
    const nameId = text(`${f}.name.id`, s.name?.id, 2, 100)
    const purposeId = text(`${f}.purpose.id`, s.purpose?.id, 5, 1000)
    const documents = s.documents
    if (!Array.isArray(documents) || documents.length === 0)
      throw new ClientError(`${f}.documents`, 'at least one document type is required')
    for (const d of documents) {
      if (typeof d !== 'string' || !serviceIdPattern.test(d))
        throw new ClientError(`${f}.documents`, `${String(d)} is not a document type id`)
      if (policy.documentTypes !== undefined && !policy.documentTypes.includes(d)) {
        throw new ClientError(
          `${f}.documents`,
          `unknown document type ${d} (documents.types has ${policy.documentTypes.join(', ')})`,
        )
      }
    }
    return {
      id: s.id,
      ...(agency !== undefined ? { agency } : {}),
      name: { id: nameId, en: s.name.en === undefined ? nameId : text(`${f}.name.en`, s.name.en, 2, 100) },
      documents: [...new Set(documents)],
      purpose: {
        id: purposeId,
        en: s.purpose.en === undefined ? purposeId : text(`${f}.purpose.en`, s.purpose.en, 5, 1000),
      },
    }
  })
}

/** The document services of a client's stored metadata (validated when it was registered). */
export function documentServicesOf(metadata: Record<string, unknown>): readonly DocumentService[] {
  const v = metadata[documentServicesKey]
  return Array.isArray(v) ? (v as DocumentService[]) : []
}

export async function insertClient(
  db: Kysely<Database>,
  c: PreparedClient,
  source: ClientSource = 'cli',
): Promise<void> {
  await db
    .insertInto('oidc_clients')
    .values({
      client_id: c.clientId,
      agency_id: c.agencyId,
      name: c.name,
      metadata: JSON.stringify(c.metadata),
      source,
    })
    .execute()
}

/** Inserts or replaces a client (file-driven registration); keeps an existing secret digest when none is new. */
export async function upsertClient(db: Kysely<Database>, c: PreparedClient, source: ClientSource): Promise<void> {
  const existing = await findClient(db, c.clientId)
  const metadata = { ...c.metadata }
  if (existing && c.secret === undefined && typeof existing.metadata.client_secret === 'string') {
    metadata.client_secret = existing.metadata.client_secret
  }
  await db
    .insertInto('oidc_clients')
    .values({ client_id: c.clientId, agency_id: c.agencyId, name: c.name, metadata: JSON.stringify(metadata), source })
    .onConflict((oc) =>
      oc.column('client_id').doUpdateSet({
        agency_id: c.agencyId,
        name: c.name,
        metadata: JSON.stringify(metadata),
        updated_at: new Date(),
      }),
    )
    .execute()
}

export async function findClient(db: Kysely<Database>, clientId: string): Promise<OidcClientRow | undefined> {
  return db.selectFrom('oidc_clients').selectAll().where('client_id', '=', clientId).executeTakeFirst()
}

/** What oidc-provider's Client model reads. */
export async function findClientMetadata(
  db: Kysely<Database>,
  clientId: string,
): Promise<Record<string, unknown> | undefined> {
  const row = await findClient(db, clientId)
  // A disabled kiosk's client (src/idp/oidc/kiosks.ts) is no client at all, from that moment.
  if (!row || row.metadata[disabledClientKey] === true) return undefined
  const m = { ...row.metadata }
  return m
}

export async function listClients(db: Kysely<Database>): Promise<OidcClientRow[]> {
  return db.selectFrom('oidc_clients').selectAll().orderBy('agency_id').orderBy('client_id').execute()
}

export async function removeClient(db: Kysely<Database>, clientId: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const res = await trx.deleteFrom('oidc_clients').where('client_id', '=', clientId).executeTakeFirst()
    if (Number(res.numDeletedRows) === 0) return false
    // Its tokens, codes and grants go with it.
    await trx
      .deleteFrom('oidc_payloads')
      .where((eb) => eb(eb.ref('payload', '->>').key('clientId' as never), '=', clientId))
      .execute()
    return true
  })
}

/** Issues a new secret; the old one stops working at once. Returns the new secret (shown once). */
export async function rotateClientSecret(db: Kysely<Database>, clientId: string): Promise<string | undefined> {
  const row = await findClient(db, clientId)
  if (!row) return undefined
  const method = row.metadata.token_endpoint_auth_method
  if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
    throw new ClientError('auth_method', `client ${clientId} uses ${String(method)}, which has no secret`)
  }
  const secret = generateClientSecret()
  await db
    .updateTable('oidc_clients')
    .set({
      metadata: JSON.stringify({ ...row.metadata, client_secret: hashClientSecret(secret) }),
      updated_at: new Date(),
    })
    .where('client_id', '=', clientId)
    .execute()
  return secret
}
