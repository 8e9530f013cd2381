import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { OidcPort } from '../oidc/port.ts'
import { findCitizenById } from '../../accounts/citizens.ts'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import { listGrants } from '../../documents/grants.ts'
import {
  documentLinksFor,
  linkRefusalStatus,
  resolveLink,
  type LinkKeyring,
  type LinkRefusal,
} from '../../documents/links.ts'
import { StorageNotFoundError, type DocumentStorage } from '../../documents/storage.ts'
import { documentResponseHeaders } from '../../documents/vault.ts'
import { AppError } from '../../errors/app-error.ts'
import { bearerSecurity, documentBytesResponse, errorResponse } from '../../http/openapi.ts'
import { documentsResource } from '../oidc/provider.ts'
import type { ErrorCode } from '../../errors/codes.ts'

/**
 * The documents API for agencies that integrate as OIDC relying parties (not behind the
 * gateway): the same signed links the gateway injects, on the idp.
 *
 *   GET /api/dokumen[?jenis=ktp&jenis=kk][&layanan=<service>]
 *       Authorization: Bearer <access token the agency's client got for the citizen>
 *       → 200 { documents: [{ type, url, sha256, media_type, verified, expires_at }],
 *               not_granted: [...], missing: [...] }
 *   GET /dokumen/<link token>
 *       Authorization: Bearer <a client-credentials token of a client of the link's agency,
 *                              issued with resource=<issuer>/api/dokumen>
 *       → the bytes, with the stored media type, attachment, nosniff and a sandbox CSP.
 *
 * Who is calling is decided by an opaque access token the idp issued (oidc-provider's
 * AccessToken / ClientCredentials models): its client's `urn:satupintu:agency` is the
 * agency. A JWT access token is the gateway's (RFC 8707 resource `gateway`): it is never
 * stored, so it is not found here, and it must not be, since its audience is not us.
 * The citizen gives the grant on the idp's consent page (src/idp/documents/consent.ts),
 * where the agency's relying party sends them.
 * What the agency may have is decided by the citizen's document grant for that agency
 * (src/documents/grants.ts), checked again on every fetch (links.ts).
 */

export interface DocumentApiDeps {
  config: Config
  db: Kysely<Database>
  oidc: OidcPort
  storage: DocumentStorage
  keyring: LinkKeyring
}

/** An authenticated caller: the agency of the token's client, and the citizen for a user token. */
interface Caller {
  clientId: string
  agencyId: string
  /** Set for an access token issued for a citizen; absent for a client-credentials one. */
  accountId?: string
}

const realm = 'satupintu'
// RFC 6750 §2.1: `Bearer` b64token.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const idPattern = '^[a-z0-9][a-z0-9-]{1,39}$'

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    jenis: { type: 'array', items: { type: 'string', pattern: idPattern }, maxItems: 20 },
    layanan: { type: 'string', pattern: idPattern },
  },
} as const

const linkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'url', 'sha256', 'media_type', 'verified', 'expires_at'],
  properties: {
    type: { type: 'string' },
    url: { type: 'string' },
    sha256: { type: 'string' },
    media_type: { type: 'string' },
    verified: { type: 'boolean' },
    expires_at: { type: 'integer' },
  },
} as const

// The response schema is also the allow-list of what may leave (STYLE.md habit 5).
const listResponse = {
  200: {
    type: 'object',
    additionalProperties: false,
    required: ['documents', 'not_granted', 'missing'],
    properties: {
      documents: { type: 'array', items: linkSchema },
      not_granted: { type: 'array', items: { type: 'string' } },
      missing: { type: 'array', items: { type: 'string' } },
    },
  },
  400: errorResponse('A query parameter is not valid (`validation_failed`).'),
  401: errorResponse(
    'No access token, or not one the idp issued to a client of an agency for this citizen (`WWW-Authenticate: Bearer`).',
  ),
  403: errorResponse(
    'A public client, or the citizen has not allowed this agency these documents (`details.not_granted`).',
  ),
} as const

const linkResponse = {
  200: documentBytesResponse,
  401: errorResponse(
    'No access token, or not a client-credentials token for this API (`resource` = `<issuer>/api/dokumen`).',
  ),
  403: errorResponse(
    'A public client, or the link was issued to another agency, or the citizen withdrew the grant (`details.reason`).',
  ),
  404: errorResponse('Not a document link (`details.reason`: `invalid`).'),
  410: errorResponse('The link expired or the document was deleted (`details.reason`).'),
} as const

const tokenParams = {
  type: 'object',
  properties: { token: { type: 'string', maxLength: 1024 } },
  required: ['token'],
} as const

const refusalCodes: Readonly<Record<number, ErrorCode>> = { 403: 'forbidden', 404: 'not_found', 410: 'gone' }
const refusalMessages: Readonly<Record<LinkRefusal, string>> = {
  invalid: 'No such document link.',
  expired: 'This document link has expired; ask for a new one.',
  wrong_agency: 'This document link was issued to another agency.',
  revoked: 'The citizen no longer allows this agency to fetch this document.',
  deleted: 'The citizen has deleted this document.',
}

function unauthorized(withError: boolean): AppError {
  // RFC 6750 §3: no error code when the request carried no credentials at all.
  const challenge = withError ? `Bearer realm="${realm}", error="invalid_token"` : `Bearer realm="${realm}"`
  return new AppError('unauthorized', "A valid access token of the agency's client is required.", {
    headers: { 'www-authenticate': challenge },
  })
}

export async function documentApiRoutes(app: FastifyInstance, deps: DocumentApiDeps): Promise<void> {
  const { config, db, storage, keyring } = deps
  const docsAudience = documentsResource(config)

  /** The agency's client behind the request's bearer token, or a 401. */
  async function authenticate(req: FastifyRequest, options: { citizen: boolean }): Promise<Caller> {
    const header = req.headers.authorization
    if (header === undefined) throw unauthorized(false)
    const m = BEARER.exec(header)
    if (m === null) throw unauthorized(true)
    const value = m[1] as string

    // Listing is for the citizen's token the agency's application got at sign-in; fetching
    // the bytes is for the agency's backend alone, with a client-credentials token for this
    // API (RFC 8707 `resource` = documentsResource): a token a browser or a phone holds
    // never fetches a document, and neither does a token for another purpose.
    // For a citizen's token, the port also checks that the grant it came from still stands
    // for this client and this citizen, as the userinfo endpoint does (a withdrawn consent
    // ends the token's use).
    const token = await deps.oidc.findToken(value, options.citizen ? 'citizen' : 'client')
    // A sender-constrained token (DPoP, RFC 9449 §7.1; mTLS) is not a bearer token: its
    // holder must prove the key, which this endpoint does not ask for.
    if (token === undefined || token.senderConstrained) throw unauthorized(true)
    // An opaque citizen token names no resource server unless it was issued for one: a
    // token for another audience is not ours to accept.
    if (token.kind === 'ClientCredentials' ? token.audience !== docsAudience : token.audience !== undefined)
      throw unauthorized(true)

    let accountId: string | undefined
    if (token.kind === 'AccessToken') {
      if (token.accountId === undefined) throw unauthorized(true)
      const citizen = await findCitizenById(db, token.accountId)
      if (citizen === undefined || citizen.status !== 'active') throw unauthorized(true)
      accountId = citizen.id
    }
    const client = await deps.oidc.findClient(token.clientId)
    const agencyId = client?.agencyId
    if (client === undefined || agencyId === undefined) throw unauthorized(true)
    // A public client (a browser or phone app, no secret) is not the agency's system: its
    // token is refused here even for the listing.
    if (client.tokenEndpointAuthMethod === 'none') {
      throw new AppError('forbidden', 'Only a confidential client of the agency may use the documents API.', {
        headers: { 'www-authenticate': `Bearer realm="${realm}", error="insufficient_scope"` },
      })
    }
    return accountId === undefined
      ? { clientId: token.clientId, agencyId }
      : { clientId: token.clientId, agencyId, accountId }
  }

  app.get(
    '/api/dokumen',
    {
      schema: {
        tags: ['documents'],
        summary: "Signed links to the citizen's documents this agency may have",
        description:
          "With the citizen's access token your confidential client got at sign-in. Without `jenis`, every type the citizen granted your agency (for `layanan`, or agency-wide). Links expire (`expires_at`, seconds since the epoch); fetch them with `GET /dokumen/{token}`.",
        security: bearerSecurity,
        querystring: listQuery,
        response: listResponse,
      },
    },
    async (req, reply) => {
      const caller = await authenticate(req, { citizen: true })
      const citizenId = caller.accountId
      if (citizenId === undefined) throw unauthorized(true)
      const q = req.query as { jenis?: string[]; layanan?: string }
      // Without `layanan`, only the citizen's agency-wide grants count (as for links made
      // for no service); with it, that service's grants and the agency-wide ones.
      const serviceId = q.layanan ?? null
      let types = q.jenis ?? []
      if (types.length === 0) {
        const grants = (await listGrants(db, citizenId)).filter(
          (g) =>
            g.status === 'active' &&
            g.agencyId === caller.agencyId &&
            (g.serviceId === null || g.serviceId === serviceId),
        )
        types = [...new Set(grants.flatMap((g) => g.documentTypes))]
      }
      if (types.length === 0)
        throw new AppError('forbidden', 'The citizen has not allowed this agency to fetch documents.')
      const result = await documentLinksFor(db, keyring, config.documents, {
        citizenId,
        agencyId: caller.agencyId,
        serviceId,
        types,
        baseUrl: config.idp.issuer,
      })
      if (result.notGranted.length === types.length) {
        throw new AppError('forbidden', 'The citizen has not allowed this agency to fetch these documents.', {
          details: { not_granted: [...result.notGranted] },
        })
      }
      // Capability URLs: never cached by anything in between.
      reply.header('cache-control', 'no-store')
      return { documents: result.links, not_granted: result.notGranted, missing: result.missing }
    },
  )

  // HEAD would record a fetch without one: only GET.
  app.get(
    '/dokumen/:token',
    {
      schema: {
        tags: ['documents'],
        summary: 'Fetch one document by its signed link',
        description:
          "From the agency's backend only, with a client-credentials token of one of the agency's clients issued for `resource=<issuer>/api/dokumen`. Every fetch is in the citizen's audit trail.",
        security: bearerSecurity,
        params: tokenParams,
        response: linkResponse,
      },
      exposeHeadRoute: false,
    },
    async (req, reply) => {
      const caller = await authenticate(req, { citizen: false })
      const res = await resolveLink(db, keyring, (req.params as { token: string }).token, {
        agencyId: caller.agencyId,
        requestId: req.id,
        ip: req.ip,
      })
      if (!res.ok) {
        const status = linkRefusalStatus[res.reason]
        throw new AppError(refusalCodes[status] ?? 'not_found', refusalMessages[res.reason], {
          details: { reason: res.reason },
        })
      }
      let stream: Awaited<ReturnType<typeof storage.get>>
      try {
        stream = await storage.get(res.content.storageKey)
      } catch (err) {
        // Purged in the instant since the check (retention ran): gone.
        if (err instanceof StorageNotFoundError) throw new AppError('gone', refusalMessages.deleted, { cause: err })
        throw err
      }
      return reply.headers(documentResponseHeaders(res.content)).send(stream)
    },
  )
}
