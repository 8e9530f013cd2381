import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { Config } from '../config/schema.ts'
import { ConfigError } from '../config/load.ts'
import type { Database } from '../db/database.ts'
import { createGrant } from '../documents/grants.ts'
import { createLinkKeyring, documentLinksFor, linkRefusalStatus, resolveLink, type LinkKeyring, type LinkRefusal } from '../documents/links.ts'
import { createLocalStorage } from '../documents/local-storage.ts'
import { StorageNotFoundError, type DocumentStorage } from '../documents/storage.ts'
import { documentsStorageDir, findDocumentType } from '../documents/types.ts'
import { documentResponseHeaders } from '../documents/vault.ts'
import { AppError } from '../errors/app-error.ts'
import type { ErrorCode } from '../errors/codes.ts'
import { wantsHtml } from '../http/errors.ts'
import { pickLocale, type Locale } from '../http/locale.ts'
import type { KeyEncryption } from '../keys/encryption.ts'
import type { Agency, AgencyTable, Service } from './agencies.ts'
import { safeReturnPath } from './auth.ts'
import type { GatewayAuth } from './contracts.ts'
import type { Identity } from './identity.ts'
import type { UpstreamExtras, UpstreamExtrasResult } from './proxy.ts'

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
 *  - No grant yet: a browser gets a consent page (`POST /izin-dokumen`, CSRF token bound
 *    to the gateway session); an API caller gets 403 `document grant required`.
 *  - Granted but not uploaded: a browser gets a page that sends it to the idp's upload
 *    page (`/akun/dokumen/unggah/<type>?kembali=<this service's gateway URL>`), which
 *    brings it back here afterwards; an API caller gets 403 `document required`.
 *  - `GET /dokumen/<token>`: the agency's backend fetches a link with a client-credentials
 *    access token for the gateway's resource, issued to one of the agency's `clients`.
 *    No cookie is involved (and none is needed).
 */

/** The path of the consent form's answer. */
export const consentPath = '/izin-dokumen'
/** The `rel` of document links in the `Link` header. */
export const documentLinkRel = 'satupintu-document'
/** How long a consent page's form may be answered. */
const consentFormSeconds = 3600
const idPattern = '^[a-z0-9][a-z0-9-]{1,39}$'

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

/** "KTP", "KTP dan KK", "KTP, KK dan NPWP". */
function joinNames(names: readonly string[], and: string): string {
  if (names.length <= 1) return names[0] ?? ''
  return `${names.slice(0, -1).join(', ')} ${and} ${names[names.length - 1] as string}`
}

/**
 * Registers `GET /dokumen/:token` and `POST /izin-dokumen` on `app` (which has the pages
 * plugins) and returns the proxy's `extras` hook.
 */
export async function registerGatewayDocuments(app: FastifyInstance, deps: GatewayDocumentsDeps): Promise<UpstreamExtras> {
  const { config, db, table, auth, kek } = deps
  const storage = deps.storage ?? createLocalStorage(documentsStorageDir(config))
  const keyring = deps.keyring ?? gatewayLinkKeyring(kek)
  const base = config.gateway.publicUrl.replace(/\/+$/, '')
  const idpBase = config.idp.issuer.replace(/\/+$/, '')
  const csrfKey = createSecretKey(kek.derive('gateway document consent'))
  const grantSeconds = config.documents.grantDays * 86_400

  // Every type a service asks for must exist: a typo would otherwise ask for consent to
  // something no citizen can upload.
  const agencyOfClient = new Map<string, Agency>()
  for (const agency of table.agencies) {
    for (const c of agency.clients) agencyOfClient.set(c, agency)
    for (const s of agency.services) {
      for (const type of s.documents) {
        if (findDocumentType(config.documents, type) === undefined) {
          throw new ConfigError(`gateway.agencies ${agency.id} service ${s.id} asks for document type ${type}, which documents.types does not define`)
        }
      }
    }
  }

  function typeNames(types: readonly string[], locale: Locale): string[] {
    return types.map((t) => findDocumentType(config.documents, t)?.name[locale] ?? t)
  }

  // ---- CSRF: an HMAC over the session, the question and the time, checked on the answer. ----
  function csrfMac(sessionId: string, agencyId: string, serviceId: string, issued: number): string {
    return createHmac('sha256', csrfKey).update(`${sessionId}\0${agencyId}\0${serviceId}\0${issued}`, 'utf8').digest('base64url')
  }
  function csrfToken(sessionId: string, agencyId: string, serviceId: string): string {
    const issued = Math.floor(Date.now() / 1000)
    return `${issued}.${csrfMac(sessionId, agencyId, serviceId, issued)}`
  }
  function csrfValid(token: string, sessionId: string, agencyId: string, serviceId: string): boolean {
    const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token)
    if (m === null) return false
    const issued = Number(m[1])
    const age = Math.floor(Date.now() / 1000) - issued
    if (age < -60 || age > consentFormSeconds) return false
    const expected = csrfMac(sessionId, agencyId, serviceId, issued)
    return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(m[2] as string, 'latin1'))
  }

  function findService(agencyId: string, serviceId: string): { agency: Agency; service: Service } | undefined {
    const agency = table.agencies.find((a) => a.id === agencyId)
    const service = agency?.services.find((s) => s.id === serviceId)
    return agency !== undefined && service !== undefined && service.documents.length > 0 ? { agency, service } : undefined
  }

  /** A path on the gateway inside the agency's routes, or the agency's home. */
  function returnPathFor(agency: Agency, raw: string | undefined): string {
    const p = safeReturnPath(raw)
    const pathOnly = p.split('?', 1)[0] as string
    return pathOnly === agency.prefix || pathOnly.startsWith(`${agency.prefix}/`) ? p : `${agency.prefix}/`
  }

  // ---- The pages. ----
  function consentPage(req: FastifyRequest, reply: FastifyReply, identity: Identity, agency: Agency, service: Service): FastifyReply {
    const locale = pickLocale(req)
    const names = typeNames(service.documents, locale)
    const and = locale === 'id' ? 'dan' : 'and'
    const until = new Date(Date.now() + grantSeconds * 1000).toLocaleDateString(locale === 'id' ? 'id-ID' : 'en-GB', {
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      timeZone: 'Asia/Jakarta',
    })
    return reply.header('cache-control', 'no-store').page('izin-dokumen', {
      agency: agency.name[locale],
      service: service.name[locale],
      documents: joinNames(names, and),
      names,
      purpose: service.purpose?.[locale] ?? '',
      until,
      action: consentPath,
      csrf: csrfToken(identity.sessionId as string, agency.id, service.id),
      agencyId: agency.id,
      serviceId: service.id,
      kembali: returnPathFor(agency, req.url),
    })
  }

  function missingPage(req: FastifyRequest, reply: FastifyReply, agency: Agency, service: Service, missing: readonly string[]): FastifyReply {
    const locale = pickLocale(req)
    const names = typeNames(missing, locale)
    const back = `${base}${returnPathFor(agency, req.url)}`
    return reply.header('cache-control', 'no-store').page(
      'dokumen-kurang',
      {
        agency: agency.name[locale],
        service: service.name[locale],
        documents: joinNames(names, locale === 'id' ? 'dan' : 'and'),
        uploads: missing.map((type, i) => ({
          name: names[i],
          href: `${idpBase}/akun/dokumen/unggah/${encodeURIComponent(type)}?kembali=${encodeURIComponent(back)}`,
        })),
      },
      { status: 200 },
    )
  }

  // ---- The extras hook of the proxy. ----
  const extras: UpstreamExtras = {
    async forRequest({ req, identity, agency, service }): Promise<UpstreamExtrasResult> {
      if (service.documents.length === 0) return {}
      // identity.sub is the idp's subject for the gateway client. The gateway client is
      // registered with the `public` subject type (src/idp/gateway-client.ts), so for a
      // session it is the citizen's id. A bearer token of another client may carry a
      // pairwise subject (or, for client credentials, the client id): not a citizen id,
      // so documentLinksFor finds no grant and the caller is refused below.
      const result = await documentLinksFor(db, keyring, config.documents, {
        citizenId: identity.sub,
        agencyId: agency.id,
        serviceId: service.id,
        types: service.documents,
        baseUrl: `${base}/`,
      })
      const browser = identity.via === 'session' && identity.sessionId !== undefined && (req.method === 'GET' || req.method === 'HEAD') && wantsHtml(req)
      if (result.notGranted.length > 0) {
        if (browser) return { answer: (reply) => consentPage(req, reply, identity, agency, service) }
        return {
          answer: (reply) =>
            reply.send(new AppError('forbidden', 'document grant required', { details: { agency: agency.id, service: service.id, documents: [...result.notGranted] } })),
        }
      }
      if (result.missing.length > 0) {
        if (browser) return { answer: (reply) => missingPage(req, reply, agency, service, result.missing) }
        return {
          answer: (reply) =>
            reply.send(new AppError('forbidden', 'document required', { details: { agency: agency.id, service: service.id, missing: [...result.missing] } })),
        }
      }
      return {
        claims: { documents: result.links },
        links: result.links.map((l) => `<${l.url}>; rel="${documentLinkRel}"; type="${l.media_type}"; title="${l.type}"`),
      }
    },
  }

  await app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: 4096 })

    // The consent form's answer.
    scope.post(
      consentPath,
      {
        bodyLimit: 4096,
        schema: {
          body: {
            type: 'object',
            required: ['_csrf', 'instansi', 'layanan', 'keputusan'],
            properties: {
              _csrf: { type: 'string', maxLength: 128 },
              instansi: { type: 'string', pattern: idPattern },
              layanan: { type: 'string', pattern: idPattern },
              kembali: { type: 'string', maxLength: 2048 },
              keputusan: { type: 'string', enum: ['izinkan', 'tolak'] },
            },
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store')
        const body = req.body as { _csrf: string; instansi: string; layanan: string; kembali?: string; keputusan: 'izinkan' | 'tolak' }
        const identity = await auth.identify(req)
        // Only a citizen's browser session answers a consent page.
        if (identity === undefined || identity.via !== 'session' || identity.sessionId === undefined) {
          throw new AppError('forbidden', 'Please sign in and open the service again.')
        }
        const found = findService(body.instansi, body.layanan)
        if (found === undefined) throw new AppError('bad_request', 'This service does not ask for documents.')
        const { agency, service } = found
        if (!csrfValid(body._csrf, identity.sessionId, agency.id, service.id)) {
          throw new AppError('forbidden', 'This form has expired. Please open the service again.')
        }
        const locale = pickLocale(req)
        const names = typeNames(service.documents, locale)
        if (body.keputusan === 'tolak') {
          req.log.info({ agency: agency.id, service: service.id }, 'document consent denied')
          return reply.page('izin-dokumen-ditolak', {
            agency: agency.name[locale],
            service: service.name[locale],
            documents: joinNames(names, locale === 'id' ? 'dan' : 'and'),
          })
        }
        await createGrant(
          db,
          config.documents,
          {
            citizenId: identity.sub,
            agencyId: agency.id,
            serviceId: service.id,
            documentTypes: service.documents,
            purpose: service.purpose?.[locale] ?? service.name[locale],
            agencyName: agency.name[locale],
            serviceName: service.name[locale],
            expiresAt: new Date(Date.now() + grantSeconds * 1000),
          },
          { actor: `citizen:${identity.sub}`, ip: req.ip, requestId: req.id },
        )
        req.log.info({ agency: agency.id, service: service.id }, 'document consent given')
        return reply.redirect(`${base}${returnPathFor(agency, body.kembali)}`, 303)
      },
    )
  })

  // An agency's backend fetches a link. JSON only: no page, no cookie.
  app.route({
    method: 'GET',
    url: '/dokumen/:token',
    exposeHeadRoute: false,
    schema: { params: { type: 'object', properties: { token: { type: 'string', maxLength: 1024 } }, required: ['token'] } },
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
          headers: { 'www-authenticate': 'Bearer error="insufficient_scope", error_description="not an agency client"' },
        })
      }
      const { token } = req.params as { token: string }
      const resolved = await resolveLink(db, keyring, token, { agencyId: agency.id, requestId: req.id, ip: req.ip })
      if (!resolved.ok) {
        const status = linkRefusalStatus[resolved.reason]
        req.log.info({ agency: agency.id, reason: resolved.reason, status }, 'document link refused')
        throw new AppError(refusalCode[resolved.reason], refusalMessage[resolved.reason], { details: { reason: resolved.reason } })
      }
      let stream
      try {
        stream = await storage.get(resolved.content.storageKey)
      } catch (err) {
        if (err instanceof StorageNotFoundError) throw new AppError('gone', refusalMessage.deleted, { cause: err, details: { reason: 'deleted' } })
        throw err
      }
      req.log.info({ agency: agency.id, link: resolved.linkId }, 'document link fetched')
      return reply.headers(documentResponseHeaders(resolved.content)).send(stream)
    },
  })

  return extras
}
