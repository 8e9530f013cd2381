import { createHash, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { OidcPort } from '../oidc/port.ts'
import { findCitizenById, type Citizen } from '../../accounts/citizens.ts'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import { activeGrantFor, createGrant } from '../../documents/grants.ts'
import { findDocumentType } from '../../documents/types.ts'
import { AppError } from '../../errors/app-error.ts'
import { pickLocale, type Locale } from '../../http/locale.ts'
import { translator } from '../../http/i18n.ts'
import { accountSignInUrl } from '../account/session.ts'
import { documentServicesOf, findClient, type DocumentService } from '../oidc/clients.ts'
import type { Subjects } from '../oidc/subjects.ts'
import { documentMessages } from './messages.ts'
import { registerForms } from '../forms.ts'
import { calendarDate } from '../times.ts'

/**
 * Document consent for agencies that integrate as OIDC relying parties (issue 5: "the same
 * links from a small documents API on the idp, authorised by … the citizen's grant").
 * The gateway asks behind its own routes; an agency that is not behind it sends the
 * citizen's browser here, as it sends it to /auth:
 *
 *   GET /izin-dokumen?client_id=<client>&layanan=<service>&redirect_uri=<registered>&state=<opaque>
 *
 * The service, the document types and the purpose come from the client's registration
 * (`document_services` in the clients file), never from the request, so an agency cannot
 * word its own question. The answer goes back to the redirect URI (exactly one of the
 * client's registered ones, as OAuth 2.0 compares them) with `state`:
 *
 *   izin_dokumen=diberikan        the grant stands and every document is uploaded
 *   izin_dokumen=belum_lengkap    the grant stands, some document is not uploaded yet
 *   error=access_denied           the citizen said no
 *   error=invalid_request         the client has no such document service
 *
 *   error=login_required          `id_token_hint` names another citizen than the one
 *                                 signed in here
 *
 * An unknown client or an unregistered redirect URI gets an error page and no redirect
 * (RFC 6749 §4.1.2.1). With an active grant for the same types and purpose already in
 * place nothing is asked again. The agency should send `id_token_hint` (the ID token of
 * its signed-in user): the question is then only put to that citizen. The form carries a
 * MAC over the citizen and the exact question shown, so the answer counts only for the
 * citizen who read it and for what they read (a shared kiosk, a registration changed
 * meanwhile). Then the agency lists links with `GET /api/dokumen` (src/idp/documents/api.ts).
 */

export const documentConsentPath = '/izin-dokumen'

export interface DocumentConsentDeps {
  config: Config
  db: Kysely<Database>
  oidc: OidcPort
  /** Key of the MAC that binds an answer to the citizen and the question shown. */
  questionKey: Buffer
  /** The `sub` each client sees, to compare an id_token_hint with the citizen signed in. */
  subjects: Subjects
}

const idPattern = '^[a-z0-9][a-z0-9-]{1,39}$'
const clientIdPattern = '^[a-z0-9][a-z0-9._-]{2,63}$'
// Printable ASCII only: a state goes back into a URL and into a hidden field unchanged.
const statePattern = '^[\\x21-\\x7e]{1,256}$'
const maxRedirectUri = 1024
/** How long a question page may be answered. */
const questionSeconds = 3600

const askProperties = {
  client_id: { type: 'string', pattern: clientIdPattern },
  // The gateway's client asks for the agencies behind it: which agency's service.
  instansi: { type: 'string', pattern: idPattern },
  layanan: { type: 'string', pattern: idPattern },
  redirect_uri: { type: 'string', minLength: 1, maxLength: maxRedirectUri },
  state: { type: 'string', pattern: statePattern },
  id_token_hint: { type: 'string', pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$', maxLength: 2048 },
} as const

const askQuery = {
  type: 'object',
  required: ['client_id', 'redirect_uri'],
  properties: askProperties,
} as const

const answerBody = {
  type: 'object',
  required: ['_csrf', 'client_id', 'layanan', 'redirect_uri', 'keputusan', 'pertanyaan'],
  properties: {
    ...askProperties,
    _csrf: { type: 'string', maxLength: 128 },
    pertanyaan: { type: 'string', maxLength: 128 },
    keputusan: { type: 'string', enum: ['izinkan', 'tolak'] },
  },
} as const

interface Ask {
  client_id: string
  instansi?: string
  layanan?: string
  redirect_uri: string
  state?: string
  id_token_hint?: string
}

/** A question that passed every check: who asks, for which service, and where to answer. */
interface Resolved {
  clientId: string
  clientName: string
  /** The asking agency's name in both languages, when the client asks for agencies behind it. */
  clientNames: { readonly id: string; readonly en: string } | undefined
  agencyId: string
  service: DocumentService
  redirectUri: string
  state: string | undefined
  idTokenHint: string | undefined
  /** The client's registered metadata (its subject type, for the hint). */
  metadata: Record<string, unknown>
}

function joinNames(names: readonly string[], and: string): string {
  if (names.length <= 1) return names[0] ?? ''
  return `${names.slice(0, -1).join(', ')} ${and} ${names[names.length - 1] as string}`
}

/** The redirect URI with our answer added to its query (RFC 6749 §4.1.2: keep its own query). */
export function answerUrl(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v)
  return url.href
}

export async function documentConsentRoutes(app: FastifyInstance, deps: DocumentConsentDeps): Promise<void> {
  const { config, db } = deps
  const grantSeconds = config.documents.grantDays * 86_400
  // A KeyObject once: createHmac with a Buffer key makes one on every call in Node 24.
  const questionKey = createSecretKey(deps.questionKey)
  await registerForms(app, config)

  /**
   * Checks the client and the redirect URI first: until both are known good, nothing may
   * go back to the redirect URI. Then the service, whose failure does go back (as OAuth).
   */
  async function resolve(q: Ask): Promise<Resolved | { fail: string; redirectUri: string; state: string | undefined }> {
    const row = await findClient(db, q.client_id)
    const registered = row?.metadata.redirect_uris
    if (row === undefined || !Array.isArray(registered) || !registered.includes(q.redirect_uri)) {
      throw new AppError('bad_request', 'Unknown client, or a redirect_uri that is not registered for it.')
    }
    // A client asking for agencies behind it (the gateway) names the agency; the answer may
    // go only to that agency's own origin (issue 10 §2: the question is asked here, on the
    // idp's origin, never on an agency's, and answered to the agency that asked).
    const services = documentServicesOf(row.metadata).filter((s) => (s.agency?.id ?? undefined) === q.instansi)
    const service =
      q.layanan === undefined
        ? services.length === 1
          ? services[0]
          : undefined
        : services.find((s) => s.id === q.layanan)
    if (service?.agency !== undefined && new URL(q.redirect_uri).origin !== service.agency.origin) {
      throw new AppError('bad_request', 'The redirect_uri is not on the origin of the agency that asks.')
    }
    if (service === undefined) {
      const fail =
        q.layanan === undefined
          ? 'layanan is required: the client registers several document services, or none'
          : `the client registers no document service ${q.layanan}`
      return { fail, redirectUri: q.redirect_uri, state: q.state }
    }
    // A type removed from documents.types since the client was registered: nothing to ask for.
    const unknown = service.documents.find((t) => findDocumentType(config.documents, t) === undefined)
    if (unknown !== undefined)
      return {
        fail: `the service asks for document type ${unknown}, which is not configured`,
        redirectUri: q.redirect_uri,
        state: q.state,
      }
    return {
      clientId: row.client_id,
      clientName: service.agency?.name.id ?? row.name,
      clientNames: service.agency?.name,
      agencyId: service.agency?.id ?? row.agency_id,
      service,
      redirectUri: q.redirect_uri,
      state: q.state,
      idTokenHint: q.id_token_hint,
      metadata: row.metadata,
    }
  }

  /**
   * Whether `id_token_hint`, when given, is an ID token we issued to this client for the
   * citizen signed in here. 'invalid' for a token that is not ours or not for this client.
   */
  async function hintMatches(r: Resolved, citizenId: string): Promise<'yes' | 'no' | 'invalid'> {
    if (r.idTokenHint === undefined) return 'yes'
    // Signature, issuer and audience (this client); an expired ID token is still a fine
    // hint of who the agency's user is (OIDC Core §3.1.2.1).
    const sub = await deps.oidc.idTokenSubject(r.idTokenHint, r.clientId)
    if (sub === undefined) return 'invalid'
    return sub === deps.subjects.forClient(r.metadata, citizenId) ? 'yes' : 'no'
  }

  // ---- The question's MAC: this citizen, this exact question, recently shown. ----
  function questionDigest(r: Resolved): string {
    const s = r.service
    return createHash('sha256')
      .update(
        JSON.stringify([
          r.clientId,
          r.clientName,
          r.agencyId,
          r.clientNames ?? null,
          s.id,
          s.name,
          [...s.documents],
          s.purpose,
          r.redirectUri,
          r.state ?? '',
          r.idTokenHint ?? '',
        ]),
      )
      .digest('base64url')
  }
  function questionMac(citizenId: string, r: Resolved, issued: number): string {
    return createHmac('sha256', questionKey)
      .update(`${citizenId}\0${questionDigest(r)}\0${issued}`, 'utf8')
      .digest('base64url')
  }
  function questionToken(citizenId: string, r: Resolved): string {
    const issued = Math.floor(Date.now() / 1000)
    return `${issued}.${questionMac(citizenId, r, issued)}`
  }
  function questionValid(token: string, citizenId: string, r: Resolved): boolean {
    const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token)
    if (m === null) return false
    const issued = Number(m[1])
    const age = Math.floor(Date.now() / 1000) - issued
    if (age < -60 || age > questionSeconds) return false
    return timingSafeEqual(
      Buffer.from(questionMac(citizenId, r, issued), 'latin1'),
      Buffer.from(m[2] as string, 'latin1'),
    )
  }

  async function signedIn(req: FastifyRequest, reply: FastifyReply): Promise<Citizen | undefined> {
    const session = await deps.oidc.browserSession(req, reply)
    if (session === undefined) return undefined
    const citizen = await findCitizenById(db, session.accountId)
    return citizen?.status === 'active' ? citizen : undefined
  }

  /** The question's own URL on the idp: where sign-in and uploads come back to. */
  function askPath(r: Resolved): string {
    const q = new URLSearchParams({ client_id: r.clientId, layanan: r.service.id, redirect_uri: r.redirectUri })
    if (r.service.agency !== undefined) q.set('instansi', r.service.agency.id)
    if (r.state !== undefined) q.set('state', r.state)
    if (r.idTokenHint !== undefined) q.set('id_token_hint', r.idTokenHint)
    return `${documentConsentPath}?${q.toString()}`
  }

  /** Which of the service's types lack an active grant, and which granted ones are not uploaded. */
  async function standing(citizenId: string, r: Resolved): Promise<{ notGranted: string[]; missing: string[] }> {
    // A grant counts only for the purpose the citizen read (in either language): a purpose
    // the agency has changed since is asked about again.
    const purposes = new Set([r.service.purpose.id, r.service.purpose.en])
    const notGranted: string[] = []
    for (const type of r.service.documents) {
      const g = await activeGrantFor(db, citizenId, r.agencyId, type, { serviceId: r.service.id })
      if (g === undefined || !purposes.has(g.purpose)) notGranted.push(type)
    }
    const uploaded = await db
      .selectFrom('documents')
      .select('type')
      .where('citizen_id', '=', citizenId)
      .where('deleted_at', 'is', null)
      .where('type', 'in', [...r.service.documents])
      .execute()
    const have = new Set(uploaded.map((d) => d.type))
    return { notGranted, missing: r.service.documents.filter((t) => !have.has(t)) }
  }

  function names(types: readonly string[], locale: Locale): string[] {
    return types.map((t) => findDocumentType(config.documents, t)?.name[locale] ?? t)
  }

  /** Where to upload each of `missing`, coming back to the question afterwards. */
  function uploadLinks(r: Resolved, missing: readonly string[], locale: Locale): { name: string; href: string }[] {
    const back = askPath(r)
    return missing.map((type) => ({
      name: names([type], locale)[0] as string,
      href: `/akun/dokumen/unggah/${encodeURIComponent(type)}?${new URLSearchParams({ kembali: back }).toString()}`,
    }))
  }

  /**
   * The question. With a document asked for not uploaded yet, the page says so first and
   * leads to each upload (which comes back here); it asks "Izinkan?" only once every
   * document is there, so the citizen never allows access to something that is not.
   */
  function consentPage(
    req: FastifyRequest,
    reply: FastifyReply,
    r: Resolved,
    who: Citizen,
    missing: readonly string[],
    options: { notice?: boolean } = {},
  ): FastifyReply {
    const locale = pickLocale(req)
    const t = translator(documentMessages, locale)
    const list = names(r.service.documents, locale)
    const until = calendarDate(new Date(Date.now() + grantSeconds * 1000), locale, deps.config.regency.timeZone)
    return reply.header('cache-control', 'no-store').page(
      'izin-dokumen',
      {
        agency: r.clientNames?.[locale] ?? r.clientName,
        service: r.service.name[locale],
        documents: joinNames(list, t('dok.and')),
        names: list,
        present: names(
          r.service.documents.filter((d) => !missing.includes(d)),
          locale,
        ),
        missingNames: joinNames(names(missing, locale), t('dok.and')),
        uploads: uploadLinks(r, missing, locale),
        purpose: r.service.purpose[locale],
        until,
        citizen: who.name,
        action: documentConsentPath,
        csrf: reply.generateCsrf(),
        clientId: r.clientId,
        agencyId: r.service.agency?.id,
        serviceId: r.service.id,
        redirectUri: r.redirectUri,
        state: r.state,
        idTokenHint: r.idTokenHint,
        question: questionToken(who.id, r),
        notice: options.notice === true ? t('dok.ask.changed') : '',
      },
      // The answer is a redirect to the agency: allowed as a form's destination (CSP form-action).
      { formActionOrigins: [new URL(r.redirectUri).origin], ...(options.notice === true ? { status: 409 } : {}) },
    )
  }

  function missingPage(
    req: FastifyRequest,
    reply: FastifyReply,
    r: Resolved,
    missing: readonly string[],
  ): FastifyReply {
    const locale = pickLocale(req)
    const t = translator(documentMessages, locale)
    const list = names(missing, locale)
    return reply.header('cache-control', 'no-store').page('izin-dokumen-kurang', {
      agency: r.clientNames?.[locale] ?? r.clientName,
      service: r.service.name[locale],
      documents: joinNames(list, t('dok.and')),
      uploads: uploadLinks(r, missing, locale),
      later: answerUrl(r.redirectUri, { izin_dokumen: 'belum_lengkap', state: r.state }),
    })
  }

  function hintRefusal(r: Resolved, hint: 'no' | 'invalid'): string {
    return hint === 'invalid'
      ? answerUrl(r.redirectUri, {
          error: 'invalid_request',
          error_description: 'id_token_hint is not an ID token issued to this client',
          state: r.state,
        })
      : answerUrl(r.redirectUri, {
          error: 'login_required',
          error_description: 'the citizen signed in at Satu Pintu is not the one id_token_hint names',
          state: r.state,
        })
  }

  app.get(documentConsentPath, { schema: { querystring: askQuery } }, async (req, reply) => {
    reply.header('cache-control', 'no-store')
    const r = await resolve(req.query as Ask)
    if ('fail' in r)
      return reply.redirect(
        answerUrl(r.redirectUri, { error: 'invalid_request', error_description: r.fail, state: r.state }),
        303,
      )
    const who = await signedIn(req, reply)
    if (who === undefined) return reply.redirect(accountSignInUrl(config, askPath(r)), 303)
    const hint = await hintMatches(r, who.id)
    if (hint !== 'yes') return reply.redirect(hintRefusal(r, hint), 303)
    const { notGranted, missing } = await standing(who.id, r)
    if (notGranted.length > 0) return consentPage(req, reply, r, who, missing)
    // Granted before, and a document deleted since: the grant stands, the upload is missing.
    if (missing.length > 0) return missingPage(req, reply, r, missing)
    return reply.redirect(answerUrl(r.redirectUri, { izin_dokumen: 'diberikan', state: r.state }), 303)
  })

  app.post(
    documentConsentPath,
    { schema: { body: answerBody }, preHandler: app.csrfProtection },
    async (req, reply) => {
      reply.header('cache-control', 'no-store')
      const body = req.body as Ask & { keputusan: 'izinkan' | 'tolak'; pertanyaan: string }
      const r = await resolve(body)
      if ('fail' in r) throw new AppError('bad_request', r.fail)
      // The question's own page, for the language switch on the page shown again below.
      req.pageOnGet = askPath(r)
      const who = await signedIn(req, reply)
      // Signed out meanwhile (another tab): sign in, then the question is asked again.
      if (who === undefined) return reply.redirect(accountSignInUrl(config, askPath(r)), 303)
      const hint = await hintMatches(r, who.id)
      if (hint !== 'yes') return reply.redirect(hintRefusal(r, hint), 303)
      // Answered by someone else than the citizen who was asked (the browser's session
      // changed), or about a question that is no longer the one shown: ask again.
      if (!questionValid(body.pertanyaan, who.id, r))
        return consentPage(req, reply, r, who, (await standing(who.id, r)).missing, { notice: true })
      if (body.keputusan === 'tolak') {
        req.log.info({ client: r.clientId, service: r.service.id }, 'document consent denied')
        return reply.redirect(answerUrl(r.redirectUri, { error: 'access_denied', state: r.state }), 303)
      }
      // "Izinkan" is offered only with every document there; one deleted since the page was
      // shown (another tab) is not allowed blind: the question, saying what is missing, again.
      if ((await standing(who.id, r)).missing.length > 0) return reply.redirect(askPath(r), 303)
      const locale = pickLocale(req)
      await createGrant(
        db,
        config.documents,
        {
          citizenId: who.id,
          agencyId: r.agencyId,
          serviceId: r.service.id,
          documentTypes: r.service.documents,
          // The purpose as the citizen read it, in the language they read it in.
          purpose: r.service.purpose[locale],
          agencyName: r.clientNames?.[locale] ?? r.clientName,
          serviceName: r.service.name[locale],
          expiresAt: new Date(Date.now() + grantSeconds * 1000),
        },
        { actor: `citizen:${who.id}`, ip: req.ip, requestId: req.id },
      )
      req.log.info({ client: r.clientId, service: r.service.id }, 'document consent given')
      return reply.redirect(answerUrl(r.redirectUri, { izin_dokumen: 'diberikan', state: r.state }), 303)
    },
  )
}
