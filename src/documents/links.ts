import { createHash, createHmac, createSecretKey, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto'
import type { Kysely } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { DocumentMediaType } from '../db/tables/documents.ts'
import { activeGrantFor } from './grants.ts'
import { isRandomId, isUuid, randomId } from './ids.ts'
import { linkSecondsOf, type DocumentsConfig } from './types.ts'
import { contentOf, type DocumentContent } from './vault.ts'

/**
 * Signed document links (docs/security.md lines 23–24): capability URLs under `/dokumen/…`
 * that an agency's backend fetches without the citizen's cookie.
 *
 * Token: `v1.<kid>.<payload>.<mac>`
 *  - payload: base64url of JSON `{ l, d, a, s, e }` = random link id (128 bits), document
 *    version id, agency id, service id (or null), expiry (Unix seconds, ≤ 15 minutes on);
 *  - mac: base64url HMAC-SHA256 over `v1.<kid>.<payload>` with a key derived by HKDF
 *    (RFC 5869) from a server secret; kid names the key, so secrets can rotate (pass the
 *    new one first and keep the old one until its links have expired).
 * The MAC is compared in constant time as its canonical base64url text, so changing any
 * one character of a token (also the last, half-used character of the MAC) breaks it.
 *
 * Signing proves the link was made by us for this agency; it does not prove the grant
 * still stands. resolveLink therefore also reads the grant, the document and the version
 * on every fetch, so revoking a grant or deleting a document takes effect at once.
 */

const VERSION = 'v1'
const HKDF_INFO = 'satupintu document links v1'
const MAX_TOKEN_CHARS = 1024
const TOKEN = /^v1\.([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{16,900})\.([A-Za-z0-9_-]{43})$/
export const LINK_PATH_PREFIX = '/dokumen/'

export interface LinkKeyring {
  /** Key id of the signing key (the first secret given). */
  readonly signingKid: string
  /** KeyObjects: an HMAC with a Buffer key makes a KeyObject on every call in Node 24 (~25 µs). */
  readonly keys: ReadonlyMap<string, KeyObject>
}

/**
 * Link keys from server secrets, newest first: the first signs, all verify. Give it the
 * key-encryption secret (`resolveKeyEncryptionSecret`), which every idp and gateway
 * instance already holds; HKDF with its own `info` keeps the derived key independent of
 * the key that encrypts signing keys at rest.
 */
export function createLinkKeyring(secrets: readonly string[]): LinkKeyring {
  if (secrets.length === 0) throw new Error('createLinkKeyring needs at least one secret')
  const keys = new Map<string, KeyObject>()
  let signingKid: string | undefined
  for (const secret of secrets) {
    if (secret.length < 32) throw new Error('a link secret must be at least 32 characters')
    const key = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), HKDF_INFO, 32))
    const kid = createHash('sha256').update('satupintu link key id\0').update(key).digest('base64url').slice(0, 8)
    keys.set(kid, createSecretKey(key))
    signingKid ??= kid
  }
  return { signingKid: signingKid as string, keys }
}

interface LinkPayload {
  /** Link id, 128 random bits. */
  readonly l: string
  /** Document version id. */
  readonly d: string
  /** Agency id. */
  readonly a: string
  /** Service id, or null. */
  readonly s: string | null
  /** Expiry, Unix seconds. */
  readonly e: number
}

function mac(key: KeyObject, signed: string): string {
  return createHmac('sha256', key).update(signed, 'utf8').digest('base64url')
}

export interface CreateLinkInput {
  readonly versionId: string
  readonly agencyId: string
  readonly serviceId?: string | null | undefined
  readonly now?: Date | undefined
}

export interface SignedLink {
  /** The link's random id (recorded with each fetch). */
  readonly id: string
  readonly token: string
  /** `/dokumen/<token>`, served by the gateway. */
  readonly path: string
  readonly expiresAt: Date
}

/** Signs a link to one version for one agency, valid for `documents.linkSeconds` (≤ 15 min). */
export function createLink(keyring: LinkKeyring, config: DocumentsConfig, input: CreateLinkInput): SignedLink {
  const now = input.now ?? new Date()
  const exp = Math.floor(now.getTime() / 1000) + linkSecondsOf(config)
  const payload: LinkPayload = {
    l: randomId(),
    d: input.versionId,
    a: input.agencyId,
    s: input.serviceId ?? null,
    e: exp,
  }
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')
  const signed = `${VERSION}.${keyring.signingKid}.${body}`
  const key = keyring.keys.get(keyring.signingKid) as KeyObject
  const token = `${signed}.${mac(key, signed)}`
  return { id: payload.l, token, path: `${LINK_PATH_PREFIX}${token}`, expiresAt: new Date(exp * 1000) }
}

/** The payload of a token whose MAC is valid, or undefined. Says nothing about expiry or grants. */
function verifyToken(keyring: LinkKeyring, token: string): LinkPayload | undefined {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) return undefined
  const m = TOKEN.exec(token)
  if (m === null) return undefined
  const [, kid, body, given] = m as unknown as [string, string, string, string]
  const key = keyring.keys.get(kid)
  if (key === undefined) return undefined
  const expected = mac(key, `${VERSION}.${kid}.${body}`)
  // Both are 43 characters (the pattern and the HMAC size make sure), as timingSafeEqual needs.
  if (!timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(given, 'latin1'))) return undefined
  let p: unknown
  try {
    p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof p !== 'object' || p === null) return undefined
  const { l, d, a, s, e } = p as Record<string, unknown>
  if (
    !isRandomId(l) ||
    !isRandomId(d) ||
    typeof a !== 'string' ||
    !(s === null || typeof s === 'string') ||
    typeof e !== 'number' ||
    !Number.isInteger(e)
  ) {
    return undefined
  }
  return { l, d, a, s, e }
}

export type LinkRefusal = 'invalid' | 'expired' | 'wrong_agency' | 'revoked' | 'deleted'

export type LinkResolution =
  | {
      readonly ok: true
      readonly content: DocumentContent
      readonly linkId: string
      readonly agencyId: string
      readonly serviceId: string | null
      readonly grantId: string
    }
  | { readonly ok: false; readonly reason: LinkRefusal }

/**
 * Suggested HTTP status per refusal: 403 for a link that is not (or no longer) this
 * caller's to use, 404 for one we never made, 410 for one that has expired or whose
 * document is gone.
 */
export const linkRefusalStatus: Readonly<Record<LinkRefusal, number>> = {
  invalid: 404,
  expired: 410,
  wrong_agency: 403,
  revoked: 403,
  deleted: 410,
}

export interface ResolveOptions {
  /** The agency presenting the link, as the HTTP layer authenticated it. */
  readonly agencyId: string
  readonly now?: Date | undefined
  readonly requestId?: string | undefined
  readonly ip?: string | undefined
}

/**
 * Checks a link and, when it holds, records the fetch (document_accesses and the audit
 * trail, in one transaction) and says what to stream. Checks, in order: signature,
 * expiry, the version and its document (neither deleted nor purged), the agency binding,
 * and a grant of this citizen's that still lets this agency (and service) fetch this
 * document type. A refusal of a genuine link (another agency, a withdrawn grant, a deleted
 * document) is written to the citizen's audit trail too.
 */
export async function resolveLink(
  db: Kysely<Database>,
  keyring: LinkKeyring,
  token: string,
  options: ResolveOptions,
): Promise<LinkResolution> {
  const payload = verifyToken(keyring, token)
  if (payload === undefined) return { ok: false, reason: 'invalid' }
  const now = options.now ?? new Date()
  if (payload.e * 1000 <= now.getTime()) return { ok: false, reason: 'expired' }

  const row = await db
    .selectFrom('document_versions as v')
    .innerJoin('documents as d', 'd.id', 'v.document_id')
    .selectAll('v')
    .select(['d.citizen_id', 'd.type', 'd.deleted_at'])
    .where('v.id', '=', payload.d)
    .executeTakeFirst()
  if (row === undefined) return { ok: false, reason: 'deleted' }

  const refuse = async (reason: LinkRefusal): Promise<LinkResolution> => {
    await recordAudit(db, {
      event: 'document.fetch_refused',
      actor: `client:${options.agencyId}`,
      subjectId: isUuid(row.citizen_id) ? row.citizen_id : undefined,
      clientId: options.agencyId,
      ip: options.ip,
      requestId: options.requestId,
      data: {
        reason,
        documentId: row.document_id,
        versionId: row.id,
        type: row.type,
        linkAgencyId: payload.a,
        serviceId: payload.s,
        linkId: payload.l,
      },
    })
    return { ok: false, reason }
  }

  if (payload.a !== options.agencyId) return refuse('wrong_agency')
  if (row.deleted_at !== null || row.purged_at !== null) return refuse('deleted')
  const grant = await activeGrantFor(db, row.citizen_id, payload.a, row.type, { serviceId: payload.s, now })
  if (grant === undefined) return refuse('revoked')

  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('document_accesses')
      .values({
        document_id: row.document_id,
        version_id: row.id,
        citizen_id: row.citizen_id,
        agency_id: payload.a,
        service_id: payload.s,
        grant_id: grant.id,
        link_id: payload.l,
        at: now,
        request_id: options.requestId ?? null,
      })
      .execute()
    await recordAudit(trx, {
      event: 'document.fetched',
      actor: `client:${payload.a}`,
      subjectId: row.citizen_id,
      clientId: payload.a,
      ip: options.ip,
      requestId: options.requestId,
      data: {
        documentId: row.document_id,
        versionId: row.id,
        type: row.type,
        agencyId: payload.a,
        serviceId: payload.s,
        grantId: grant.id,
        linkId: payload.l,
      },
    })
  })
  return {
    ok: true,
    content: contentOf(row),
    linkId: payload.l,
    agencyId: payload.a,
    serviceId: payload.s,
    grantId: grant.id,
  }
}

/** One entry of the assertion's `documents` claim (and of the `Link` header). */
export interface DocumentLinkClaim {
  readonly type: string
  readonly url: string
  readonly sha256: string
  readonly media_type: DocumentMediaType
  readonly verified: boolean
  /** Unix seconds. */
  readonly expires_at: number
}

export interface LinksForInput {
  readonly citizenId: string
  readonly agencyId: string
  readonly serviceId: string | null
  /** The document types the service needs (agencies.yaml `documents`). */
  readonly types: readonly string[]
  /** Base URL the links are served under (the gateway's public URL). */
  readonly baseUrl: string
  readonly now?: Date | undefined
}

export interface LinksForResult {
  readonly links: readonly DocumentLinkClaim[]
  /** Requested types with no active grant (the gateway asks the citizen for consent). */
  readonly notGranted: readonly string[]
  /** Granted types the citizen has not uploaded (the gateway sends them to upload). */
  readonly missing: readonly string[]
}

/**
 * What the links of one request are made from, read from the database: the types this
 * citizen granted this agency (and service), and the current version of each granted type
 * uploaded. The same for every request of the citizen at that service until a grant or a
 * document changes (or the earliest grant read lapses, `validUntil`), so a gateway may
 * keep it (link-facts-cache.ts); the links themselves are signed afresh each time.
 */
export interface LinkFacts {
  readonly granted: ReadonlySet<string>
  readonly current: ReadonlyMap<string, CurrentVersion>
  /** When the answer changes by itself: the earliest expiry of the grants read (ms since the epoch). */
  readonly validUntil: number
}

export interface CurrentVersion {
  readonly id: string
  readonly sha256: string
  readonly media_type: DocumentMediaType
  readonly verified_at: Date | null
}

export type LinkFactsInput = Pick<LinksForInput, 'citizenId' | 'agencyId' | 'serviceId' | 'types' | 'now'>

const noFacts: LinkFacts = Object.freeze({ granted: new Set<string>(), current: new Map(), validUntil: Infinity })

/** Reads the facts (two queries; none for a subject that is not a citizen id). */
export async function readLinkFacts(db: Kysely<Database>, input: LinkFactsInput): Promise<LinkFacts> {
  const now = input.now ?? new Date()
  const types = [...new Set(input.types)]
  if (!isUuid(input.citizenId) || types.length === 0) return noFacts
  // The citizen's active grants for this agency (and service, or agency-wide): one query
  // for every type asked, as activeGrantFor would answer each.
  let grants = db
    .selectFrom('document_grants')
    .select(['document_types', 'expires_at'])
    .where('citizen_id', '=', input.citizenId)
    .where('agency_id', '=', input.agencyId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
  const serviceId = input.serviceId
  grants =
    serviceId === null
      ? grants.where('service_id', 'is', null)
      : grants.where((eb) => eb.or([eb('service_id', 'is', null), eb('service_id', '=', serviceId)]))
  const rowsOfGrants = await grants.execute()
  const validUntil = Math.min(Infinity, ...rowsOfGrants.map((g) => g.expires_at.getTime()))
  const allowed = new Set(rowsOfGrants.flatMap((g) => g.document_types))
  const granted = types.filter((t) => allowed.has(t))
  if (granted.length === 0) return { granted: new Set(), current: new Map(), validUntil }
  const rows = await db
    .selectFrom('document_versions as v')
    .innerJoin('documents as d', 'd.id', 'v.document_id')
    .select(['d.type', 'v.id', 'v.sha256', 'v.media_type', 'v.verified_at'])
    .where('d.citizen_id', '=', input.citizenId)
    .where('d.deleted_at', 'is', null)
    .where('d.type', 'in', granted)
    .where('v.superseded_at', 'is', null)
    .execute()
  return {
    granted: new Set(granted),
    current: new Map(
      rows.map((r) => [r.type, { id: r.id, sha256: r.sha256, media_type: r.media_type, verified_at: r.verified_at }]),
    ),
    validUntil,
  }
}

/** Where the facts come from: the database each time, or a cache in front of it. */
export type LinkFactsSource = (input: LinkFactsInput) => Promise<LinkFacts>

/**
 * For a proxied request: a signed link to the current version of each requested type that
 * the citizen has uploaded and granted to this agency (and service), plus what is missing.
 */
export async function documentLinksFor(
  db: Kysely<Database>,
  keyring: LinkKeyring,
  config: DocumentsConfig,
  input: LinksForInput,
  facts: LinkFactsSource = (i) => readLinkFacts(db, i),
): Promise<LinksForResult> {
  const now = input.now ?? new Date()
  const types = [...new Set(input.types)]
  if (!isUuid(input.citizenId) || types.length === 0) return { links: [], notGranted: types, missing: [] }
  const known = await facts({ ...input, now })
  const notGranted = types.filter((t) => !known.granted.has(t))
  const links: DocumentLinkClaim[] = []
  const missing: string[] = []
  for (const t of types) {
    if (!known.granted.has(t)) continue
    const r = known.current.get(t)
    if (r === undefined) {
      missing.push(t)
      continue
    }
    const link = createLink(keyring, config, {
      versionId: r.id,
      agencyId: input.agencyId,
      serviceId: input.serviceId,
      now,
    })
    links.push({
      type: t,
      url: new URL(link.path, input.baseUrl).toString(),
      sha256: r.sha256,
      media_type: r.media_type,
      verified: r.verified_at !== null,
      expires_at: Math.floor(link.expiresAt.getTime() / 1000),
    })
  }
  return { links, notGranted, missing }
}
