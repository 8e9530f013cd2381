import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { Config } from '../../config/schema.ts'
import { ConfigError } from '../../config/load.ts'
import type { DatabaseHandle } from '../../db/create.ts'
import type { Database } from '../../db/database.ts'
import { createLinkFactsCache, documentChangesChannel } from '../../documents/link-facts-cache.ts'
import {
  createLinkKeyring,
  documentLinksFor,
  readLinkFacts,
  linkRefusalStatus,
  resolveLink,
  type LinkKeyring,
  type LinkRefusal,
} from '../../documents/links.ts'
import { createDocumentStorage } from '../../documents/create-storage.ts'
import { StorageNotFoundError, type DocumentStorage } from '../../documents/storage.ts'
import { findDocumentType } from '../../documents/types.ts'
import { documentResponseHeaders } from '../../documents/vault.ts'
import { AppError } from '../../errors/app-error.ts'
import type { ErrorCode } from '../../errors/codes.ts'
import { wantsHtml } from '../../http/errors.ts'
import { bearerSecurity, documentBytesResponse, errorResponse } from '../../http/openapi.ts'
import { pickLocale } from '../../http/locale.ts'
import type { KeyEncryption } from '../../keys/encryption.ts'
import type { Agency, AgencyTable, Service } from '../agencies.ts'
import { safeReturnPath } from '../auth/authenticate.ts'
import type { GatewayAuth } from '../contracts.ts'
import type { UpstreamExtras, UpstreamExtrasResult } from './proxy.ts'
import type { Sites } from '../sites.ts'

/**
 * The gateway's side of the document vault (issue 5, "Grants and links"):
 *
 *  - On each proxied request to a service whose agencies.yaml entry lists `documents`, a
 *    signed link per granted, uploaded document: in the assertion's `documents` claim and
 *    in one `Link: <url>; rel="satupintu-document"; type="…"; title="<type>"` value each
 *    (through proxy.ts's `extras` hook). Links are made afresh for every request and the
 *    assertion carrying them is never cached (assertion.ts), so no link outlives its own
 *    expiry (≤ 15 min), and a withdrawn grant or a deleted document stops new links at
 *    the next request and every fetch of an old one at once (resolveLink reads both).
 *  - No grant yet, or granted but not uploaded: a browser is sent to the idp's consent
 *    page (`/izin-dokumen`, src/idp/documents/consent.ts), the one page and template both
 *    integrations use. The question is asked there, on the idp's origin, with the idp's
 *    CSRF protection — never on the agency's origin, where the agency's own script could
 *    answer it in the citizen's name (issue 10 §2). The wording comes from the gateway
 *    client's registration (its document services, from the agencies file), never from
 *    the request. The idp answers to `<agency origin>/oidc/izin-dokumen`, which sends the
 *    citizen back to the service. An API caller gets 403 `document grant required` or
 *    `document required`.
 *  - `GET /dokumen/<token>`: the agency's backend fetches a link with a client-credentials
 *    access token for the gateway's resource, issued to one of the agency's `clients`.
 *    No cookie is involved (and none is needed).
 */

/** Where the idp's consent page answers, on each agency's host (src/idp/oidc/gateway-client.ts registers it). */
export const consentReturnPath = '/oidc/izin-dokumen'
/** The `rel` of document links in the `Link` header. */
export const documentLinkRel = 'satupintu-document'

/**
 * The key of signed links. The idp builds the very same (src/idp/app.ts): both derive it
 * from the key-encryption secret with the label 'document links', so a link made by
 * either service verifies on the other.
 */
export function gatewayLinkKeyring(kek: KeyEncryption): LinkKeyring {
  return createLinkKeyring([kek.derive('document links').toString('base64url')])
}

export interface GatewayDocumentsDeps {
  config: Config
  db: Kysely<Database>
  table: AgencyTable
  auth: GatewayAuth
  kek: KeyEncryption
  /** Default: the local directory the idp stores into (`documents.storageDir` under `dataDir`). */
  storage?: DocumentStorage
  /** Default: gatewayLinkKeyring(kek). */
  keyring?: LinkKeyring
  /** Which host a request is for (the consent answer comes back to the agency's). */
  sites: Sites
  /**
   * The database's LISTEN (DatabaseHandle.listen): with it, the grants and current versions
   * links are made from are kept in memory and dropped on every change (link-facts-cache.ts);
   * without it, read for every request.
   */
  listen?: DatabaseHandle['listen']
}

const refusalCode: Readonly<Record<LinkRefusal, ErrorCode>> = {
  invalid: 'not_found',
  expired: 'gone',
  wrong_agency: 'forbidden',
  revoked: 'forbidden',
  deleted: 'gone',
}

const refusalMessage: Readonly<Record<LinkRefusal, string>> = {
  invalid: 'This document link is not valid.',
  expired: 'This document link has expired.',
  wrong_agency: 'This document link was made for another agency.',
  revoked: 'The citizen has withdrawn the permission for this document.',
  deleted: 'This document has been deleted.',
}

/**
 * Registers `GET /dokumen/:token` and the consent return (`GET /oidc/izin-dokumen` on
 * agency hosts) on `app` (which has the pages plugins) and returns the proxy's `extras` hook.
 */
export async function registerGatewayDocuments(
  app: FastifyInstance,
  deps: GatewayDocumentsDeps,
): Promise<UpstreamExtras> {
  const { config, db, table, auth, kek, sites } = deps
  const storage = deps.storage ?? createDocumentStorage(config, db)
  const keyring = deps.keyring ?? gatewayLinkKeyring(kek)
  const base = config.gateway.publicUrl.replace(/\/+$/, '')
  let facts = (input: Parameters<typeof readLinkFacts>[1]) => readLinkFacts(db, input)
  if (deps.listen !== undefined) {
    const cache = createLinkFactsCache({ read: facts })
    const subscription = await deps.listen(documentChangesChannel, {
      ...cache.listener,
      onDown: (reason) => {
        cache.listener.onDown(reason)
        app.log.warn({ reason }, 'document change notifications lost; document grants are re-read within a second')
      },
    })
    cache.attach(subscription)
    app.addHook('onClose', async () => subscription.close())
    facts = cache.get
  }
  const idpBase = config.idp.issuer.replace(/\/+$/, '')

  // Every type a service asks for must exist: a typo would otherwise ask for consent to
  // something no citizen can upload.
  /** The audience a link fetch's token must name: the gateway's resource (auth.ts). */
  const linkResource = config.idp.gatewayResource ?? config.gateway.publicUrl
  const agencyOfClient = new Map<string, Agency>()
  for (const agency of table.agencies) {
    for (const c of agency.clients) agencyOfClient.set(c, agency)
    for (const s of agency.services) {
      for (const type of s.documents) {
        if (findDocumentType(config.documents, type) === undefined) {
          throw new ConfigError(
            `gateway.agencies ${agency.id} service ${s.id} asks for document type ${type}, which documents.types does not define`,
          )
        }
      }
    }
  }

  /**
   * The idp's consent page for `service`, answered to this agency's origin. `state` is the
   * path to come back to (on the agency's host); the ID token of the gateway session names
   * the citizen the question is for (the idp asks only that citizen).
   */
  function consentUrl(req: FastifyRequest, agency: Agency, service: Service, idTokenHint: string | undefined): string {
    const back = safeReturnPath(req.originalUrl)
    const q = new URLSearchParams({
      client_id: config.gateway.clientId,
      instansi: agency.id,
      layanan: service.id,
      redirect_uri: `${agency.origin}${consentReturnPath}`,
      state: back.length <= 256 ? back : '/',
      ui_locales: pickLocale(req),
    })
    if (idTokenHint !== undefined) q.set('id_token_hint', idTokenHint)
    return `${idpBase}/izin-dokumen?${q.toString()}`
  }

  // ---- The extras hook of the proxy. ----
  const extras: UpstreamExtras = {
    async forRequest({ req, identity, agency, service }): Promise<UpstreamExtrasResult> {
      if (service.documents.length === 0) return {}
      // identity.sub is the idp's subject for the gateway client. The gateway client is
      // registered with the `public` subject type (src/idp/oidc/gateway-client.ts), so for a
      // session it is the citizen's id. A bearer token of another client may carry a
      // pairwise subject (or, for client credentials, the client id): not a citizen id,
      // so documentLinksFor finds no grant and the caller is refused below.
      const result = await documentLinksFor(
        db,
        keyring,
        config.documents,
        {
          citizenId: identity.sub,
          agencyId: agency.id,
          serviceId: service.id,
          types: service.documents,
          baseUrl: `${base}/`,
        },
        facts,
      )
      const browser =
        identity.via === 'session' &&
        identity.sessionId !== undefined &&
        (req.method === 'GET' || req.method === 'HEAD') &&
        wantsHtml(req)
      if (browser && (result.notGranted.length > 0 || result.missing.length > 0)) {
        const hint = await auth.idTokenHint(identity)
        return {
          answer: (reply) =>
            reply.header('cache-control', 'no-store').redirect(consentUrl(req, agency, service, hint), 303),
        }
      }
      if (result.notGranted.length > 0) {
        return {
          answer: (reply) =>
            reply.send(
              new AppError('forbidden', 'document grant required', {
                details: { agency: agency.id, service: service.id, documents: [...result.notGranted] },
              }),
            ),
        }
      }
      if (result.missing.length > 0) {
        return {
          answer: (reply) =>
            reply.send(
              new AppError('forbidden', 'document required', {
                details: { agency: agency.id, service: service.id, missing: [...result.missing] },
              }),
            ),
        }
      }
      return {
        claims: { documents: result.links },
        links: result.links.map(
          (l) => `<${l.url}>; rel="${documentLinkRel}"; type="${l.media_type}"; title="${l.type}"`,
        ),
      }
    },
  }

  // The idp's consent page answers here, on the agency's host (RFC 6749-style: the
  // answer rides in the query; nothing is decided here, the grant is in the database).
  app.get(
    consentReturnPath,
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            izin_dokumen: { type: 'string', maxLength: 32 },
            error: { type: 'string', maxLength: 64 },
            error_description: { type: 'string', maxLength: 512 },
            state: { type: 'string', maxLength: 256 },
          },
        },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store')
      const site = sites.siteOf(req.raw)
      if (site.kind !== 'agency') throw new AppError('not_found')
      const q = req.query as { izin_dokumen?: string; error?: string; state?: string }
      if (q.error === 'access_denied') {
        throw new AppError(
          'forbidden',
          'You did not allow this service to use your documents, so it cannot go on. You can open it again to change your mind.',
        )
      }
      if (q.error !== undefined) throw new AppError('bad_request', 'The document permission could not be asked for.')
      if (q.izin_dokumen === 'belum_lengkap') {
        // Going back to the service would only ask again: say what is missing instead.
        throw new AppError(
          'forbidden',
          'This service needs documents you have not uploaded yet. Upload them in your Satu Pintu account, then open the service again.',
        )
      }
      // Back to the service, on this host only.
      return reply.redirect(`${site.origin}${safeReturnPath(q.state)}`, 303)
    },
  )

  // An agency's backend fetches a link. JSON only: no page, no cookie.
  app.route({
    method: 'GET',
    url: '/dokumen/:token',
    exposeHeadRoute: false,
    schema: {
      tags: ['documents'],
      summary: 'Fetch one document by the signed link the gateway attached',
      description:
        "From the agency's backend only, with a client-credentials access token of one of the agency's `clients` (agencies file), issued for the gateway's resource (`resource=<gateway public URL>`). The links come in the assertion's `documents` claim and in `Link: <url>; rel=\"satupintu-document\"` headers. Every fetch is in the citizen's audit trail.",
      security: bearerSecurity,
      params: { type: 'object', properties: { token: { type: 'string', maxLength: 1024 } }, required: ['token'] },
      response: {
        200: documentBytesResponse,
        401: errorResponse('No access token, or not one for the gateway (`WWW-Authenticate: Bearer`).'),
        403: errorResponse(
          'Not a client of an agency, the link was made for another agency, or the citizen withdrew the permission (`details.reason`).',
        ),
        404: errorResponse('Not a document link (`details.reason`: `invalid`).'),
        410: errorResponse('The link expired or the document was deleted (`details.reason`).'),
      },
    },
    handler: async (req, reply) => {
      reply.header('cache-control', 'no-store')
      // A bearer token must decide here: a citizen's cookie alone is never an agency.
      if (req.headers.authorization === undefined) {
        throw new AppError('unauthorized', 'A client-credentials access token of the agency is required.', {
          headers: { 'www-authenticate': 'Bearer realm="satupintu"' },
        })
      }
      const identity = await auth.identify(req)
      // Client credentials only (bearer.ts isClientToken): a citizen's token is never an agency.
      const clientId = identity?.via === 'client' && identity.clientId !== undefined ? identity.clientId : undefined
      const agency = clientId === undefined ? undefined : agencyOfClient.get(clientId)
      if (agency === undefined) {
        throw new AppError('forbidden', 'This client does not act for an agency.', {
          headers: {
            'www-authenticate': 'Bearer error="insufficient_scope", error_description="not an agency client"',
          },
        })
      }
      // The token must be for this resource, the gateway's (RFC 8707): a token an agency's
      // client got for an agency's origin (agency A's or B's) is for that site's routes, not
      // for document links (issue 10 §3; docs/security.md line 33).
      if (identity?.audience.includes(linkResource) !== true) {
        throw new AppError('unauthorized', 'The access token is not for the gateway.', {
          headers: {
            'www-authenticate':
              'Bearer error="invalid_token", error_description="The access token is not for the gateway"',
          },
        })
      }
      const { token } = req.params as { token: string }
      const resolved = await resolveLink(db, keyring, token, { agencyId: agency.id, requestId: req.id, ip: req.ip })
      if (!resolved.ok) {
        const status = linkRefusalStatus[resolved.reason]
        req.log.info({ agency: agency.id, reason: resolved.reason, status }, 'document link refused')
        throw new AppError(refusalCode[resolved.reason], refusalMessage[resolved.reason], {
          details: { reason: resolved.reason },
        })
      }
      let stream: Awaited<ReturnType<typeof storage.get>>
      try {
        stream = await storage.get(resolved.content.storageKey)
      } catch (err) {
        if (err instanceof StorageNotFoundError)
          throw new AppError('gone', refusalMessage.deleted, { cause: err, details: { reason: 'deleted' } })
        throw err
      }
      req.log.info({ agency: agency.id, link: resolved.linkId }, 'document link fetched')
      return reply.headers(documentResponseHeaders(resolved.content)).send(stream)
    },
  })

  return extras
}
