import { fileURLToPath } from 'node:url'
import multipart, { type Multipart } from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { OidcPort } from '../oidc/port.ts'
import { findCitizenById, type Citizen } from '../../accounts/citizens.ts'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import type { DocumentMediaType } from '../../db/tables/documents.ts'
import { DocumentError, isDocumentError } from '../../documents/errors.ts'
import { listGrants, revokeGrant } from '../../documents/grants.ts'
import { StorageNotFoundError, type DocumentStorage } from '../../documents/storage.ts'
import { findDocumentType, uploadLimitOf, type DocumentFormat, type DocumentTypeConfig } from '../../documents/types.ts'
import {
  deleteDocument,
  documentResponseHeaders,
  getDocumentForOwner,
  getVersionForOwner,
  listDocuments,
  uploadDocument,
  type DocumentSummary,
  type DocumentVersion,
} from '../../documents/vault.ts'
import { AppError } from '../../errors/app-error.ts'
import { translator, type Translate } from '../../http/i18n.ts'
import { pickLocale, type Locale } from '../../http/locale.ts'
import { accountSignInUrl, maxLocalReturnPath, safeReturnPath } from '../account/session.ts'
import { loadDisplayNames } from '../display-names.ts'
import { calendarDate, clockTime, dateTime, groupByDay } from '../times.ts'
import { documentMessages, type DocumentMessages } from './messages.ts'
import { registerForms } from '../forms.ts'
import { csrfField, oneLine } from '../account/registration.ts'

/**
 * "Akun Saya → Dokumen": the citizen's document vault in pages that work on a phone,
 * without JavaScript (STYLE.md habit 12). One plugin scope with its own form parsing,
 * multipart parsing and CSRF protection (the same cookie as the other account pages).
 *
 *   GET  /akun/dokumen                       every configured type, with the current document or an upload form
 *   GET  /akun/dokumen/unggah/:jenis         one type's upload form (the gateway sends a citizen here, with `kembali`)
 *   POST /akun/dokumen/unggah/:jenis         the upload: multipart, `_csrf` first, then the file `berkas`
 *   GET  /akun/dokumen/:id                   versions, verification, every access, replace, delete
 *   GET  /akun/dokumen/:id/unduh/:versi      the citizen's own download
 *   GET|POST /akun/dokumen/:id/hapus         delete, after a confirmation page
 *   GET  /akun/dokumen/izin                  document grants, each revocable at once
 *   POST /akun/dokumen/izin/cabut
 *
 * An upload streams from the request through @fastify/multipart into uploadDocument
 * (src/documents/vault.ts), which checks the bytes as they pass and stops reading at the
 * type's limit; nothing holds the whole file. A body whose Content-Length is already past
 * the limit is refused before any of the file is read. A refused upload shows the upload
 * page again with the reason in plain words, reads no more of the body, and leaves no row
 * and no file.
 */

export interface DocumentPagesDeps {
  config: Config
  db: Kysely<Database>
  /** The provider in use now; it is swapped when keys rotate. */
  oidc: OidcPort
  storage: DocumentStorage
}

type DocText = Translate<DocumentMessages>

/**
 * The upload pages' own script, served as /assets/unggah.js (src/http/assets.ts `extra`):
 * it checks a chosen file against the limits on the page and shrinks a photo that is too
 * large, before anything is sent. The pages work without it.
 */
export const documentPageAssets = {
  'unggah.js': {
    path: fileURLToPath(new URL('./assets/unggah.js', import.meta.url)),
    type: 'text/javascript; charset=utf-8',
  },
} as const
/** What the layout loads on a page with an upload form (views.ts, PageOptions.scripts). */
const uploadScripts = ['unggah.js'] as const

function docText(req: FastifyRequest): DocText {
  return translator(documentMessages, pickLocale(req))
}

/** Longest `kembali`: a gateway URL with its query, or a local path (as long as safeReturnPath keeps). */
const maxReturnLength = maxLocalReturnPath

const randomIdPattern = '^[A-Za-z0-9_-]{22}$'
const returnQuery = {
  type: 'object',
  properties: { kembali: { type: 'string', maxLength: maxReturnLength, pattern: oneLine } },
} as const
const typeParams = {
  type: 'object',
  properties: { jenis: { type: 'string', maxLength: 64 } },
  required: ['jenis'],
} as const
// Ids of any shape reach the handler: a made-up or another citizen's id is a 404 page,
// never a 400 that tells the two apart (docs/security.md line 23).
const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const
const downloadParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 }, versi: { type: 'string', maxLength: 64 } },
  required: ['id', 'versi'],
} as const
const listQuery = {
  type: 'object',
  properties: { pesan: { type: 'string', enum: ['dihapus'] }, kembali: returnQuery.properties.kembali },
} as const
const detailQuery = {
  type: 'object',
  properties: { pesan: { type: 'string', enum: ['diunggah', 'diganti'] }, kembali: returnQuery.properties.kembali },
} as const
const grantsQuery = { type: 'object', properties: { pesan: { type: 'string', enum: ['dicabut'] } } } as const
const csrfOnlyBody = { type: 'object', properties: { _csrf: csrfField } } as const
const revokeBody = {
  type: 'object',
  properties: { _csrf: csrfField, izin: { type: 'string', pattern: randomIdPattern } },
  required: ['izin'],
} as const

/** The field name of the file in the upload form. */
const fileField = 'berkas'

/**
 * What a multipart body may hold besides the file: boundaries (at most 70 characters,
 * RFC 2046 §5.1.1), the `_csrf` part (1 KiB, the field limit below) and the part headers
 * with the file's name. 64 KiB is far more than a browser sends, so a body longer than
 * the type's limit and this cannot carry a file within the limit.
 */
const multipartAllowance = 64 * 1024

/** The request's Content-Length, when it sent one (chunked bodies are measured as they stream). */
function declaredLength(req: FastifyRequest): number | undefined {
  const raw = req.headers['content-length']
  if (typeof raw !== 'string' || !/^\d{1,16}$/.test(raw)) return undefined
  return Number(raw)
}

const formatLabels: Readonly<Record<DocumentFormat, string>> = { pdf: 'PDF', jpeg: 'JPG', png: 'PNG' }
const formatOrder: readonly DocumentFormat[] = ['pdf', 'jpeg', 'png']
const mediaLabels: Readonly<Record<DocumentMediaType, string>> = {
  'application/pdf': 'PDF',
  'image/jpeg': 'JPG',
  'image/png': 'PNG',
}
/** What the file picker offers: media types (a phone offers its camera for images) and extensions (desktop pickers). */
const acceptOfFormat: Readonly<Record<DocumentFormat, string>> = {
  pdf: 'application/pdf,.pdf',
  jpeg: 'image/jpeg,.jpg,.jpeg',
  png: 'image/png,.png',
}

/** "1,2 MB", "340 KB", "12 byte" (binary units, as phones and file managers show them). */
export function formatSize(t: DocText, bytes: number, locale: Locale): string {
  const number = (n: number, digits: number) =>
    new Intl.NumberFormat(locale === 'id' ? 'id-ID' : 'en-GB', { maximumFractionDigits: digits }).format(n)
  if (bytes >= 1024 * 1024) return t('dok.size.mb', { n: number(bytes / (1024 * 1024), 1) })
  if (bytes >= 1024) return t('dok.size.kb', { n: number(Math.max(1, Math.round(bytes / 1024)), 0) })
  return t('dok.size.bytes', { n: number(bytes, 0) })
}

/** "PDF, JPG, atau PNG" / "JPG atau PNG" (the last two joined by the word, Indonesian style). */
function joinWords(t: DocText, items: readonly string[], word: 'dok.or' | 'dok.and'): string {
  if (items.length <= 1) return items.join('')
  const last = items[items.length - 1] as string
  const head = items.slice(0, -1)
  const sep = t.locale === 'id' && items.length > 2 ? ', ' : ' '
  return `${head.join(', ')}${sep}${t(word)} ${last}`
}

function formatsText(t: DocText, type: DocumentTypeConfig): string {
  return joinWords(
    t,
    formatOrder.filter((f) => type.formats.includes(f)).map((f) => formatLabels[f]),
    'dok.or',
  )
}

/**
 * What the field says beside it, from the type's own formats and limit (the numbers the
 * server enforces): "Foto (JPG atau PNG) atau PDF, paling besar 5 MB.", then what to do
 * when a phone photo or a scan is larger, in concrete words.
 */
function limitHint(t: DocText, type: DocumentTypeConfig, size: string): { limit: string; advice: string[] } {
  const photos = formatOrder.filter((f) => f !== 'pdf' && type.formats.includes(f)).map((f) => formatLabels[f])
  const kinds = [
    ...(photos.length > 0 ? [t('dok.form.photos', { formats: joinWords(t, photos, 'dok.or') })] : []),
    ...(type.formats.includes('pdf') ? [formatLabels.pdf] : []),
  ]
  return {
    limit: t('dok.form.limit', { formats: joinWords(t, kinds, 'dok.or'), size }),
    advice: [
      ...(photos.length > 0 ? [t('dok.form.photoAdvice')] : []),
      ...(type.formats.includes('pdf') ? [t('dok.form.pdfAdvice')] : []),
    ],
  }
}

function acceptOf(type: DocumentTypeConfig): string {
  return formatOrder
    .filter((f) => type.formats.includes(f))
    .map((f) => acceptOfFormat[f])
    .join(',')
}

function typeName(type: DocumentTypeConfig | undefined, id: string, locale: Locale): string {
  return type === undefined ? id : type.name[locale]
}

/** The plain-words reason for a refused upload (never the file's name or contents). */
export function refusalText(
  t: DocText,
  err: DocumentError,
  type: DocumentTypeConfig,
  config: Config,
  locale: Locale,
): string {
  switch (err.code) {
    case 'empty':
      return t('dok.error.empty')
    case 'unsupported_type':
    case 'type_not_allowed':
    case 'declared_type_refused':
      return t('dok.error.formats', { formats: formatsText(t, type) })
    case 'too_large':
      return t('dok.error.tooLarge', { size: formatSize(t, uploadLimitOf(config.documents, type), locale) })
    case 'polyglot':
      return t('dok.error.polyglot')
    case 'malformed':
      return t('dok.error.malformed')
    case 'retry':
      return t('dok.error.retry')
    default:
      return t('dok.error.invalid')
  }
}

/**
 * Where "Lanjutkan" may lead after an upload: a local path (safeReturnPath), or a URL on
 * the gateway's origin exactly (scheme, host and port; no user info). Anything else is
 * dropped, so the parameter can never become an open redirect.
 */
export function continueTarget(config: Config, raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw === '' || raw.length > maxReturnLength || /[\u0000-\u001f\u007f\\]/.test(raw))
    return undefined
  if (raw.startsWith('/')) return safeReturnPath(raw) === raw ? raw : undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '') return undefined
  if (url.origin !== new URL(config.gateway.publicUrl).origin) return undefined
  return url.href
}

function withQuery(path: string, params: Record<string, string | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v)
  const s = q.toString()
  return s === '' ? path : `${path}?${s}`
}

// ---------------------------------------------------------------------------------------
// The plugin

interface PendingUpload {
  parts: AsyncIterableIterator<Multipart>
  csrf: string | undefined
}

export async function documentPagesRoutes(app: FastifyInstance, deps: DocumentPagesDeps): Promise<void> {
  const { config, db, storage } = deps
  const pending = new WeakMap<FastifyRequest, PendingUpload>()

  await registerForms(app, config, {
    // Multipart only here, and only as a stream: no attachFieldsToBody, nothing buffered.
    beforeCsrf: async () => {
      await app.register(multipart, { throwFileSizeLimit: true })
    },
    // An upload's token is its first part, read before the file (the preHandler below).
    token: (req) => pending.get(req)?.csrf ?? (req.body as { _csrf?: string } | undefined)?._csrf,
  })
  // A refused or unauthenticated upload is answered before its body has arrived: too
  // large by its Content-Length or at the byte past the limit, a bad token, no session.
  // Nothing more of it is read: the answer says `Connection: close`, and Node closes the
  // socket once the answer is out (http.Server, res._last). Reading on instead would keep
  // a phone sending megabytes nobody keeps, for up to documents.uploadTimeoutSeconds.
  // Chromium, which most phones here browse with, shows the answer it has received when
  // its upload is cut off (HttpStreamParser reads the response after an upload error);
  // test/idp/documents-upload-browser.test.ts checks what the citizen sees.
  app.addHook('onSend', async (req, reply) => {
    if (!req.raw.complete) {
      req.raw.unpipe()
      reply.header('connection', 'close')
    }
  })

  // -------------------------------------------------------------------------------------
  // Who is signed in (the provider's session, as on the other account pages)

  async function signedIn(req: FastifyRequest, reply: FastifyReply): Promise<Citizen | undefined> {
    const session = await deps.oidc.browserSession(req, reply)
    if (session === undefined) return undefined
    const citizen = await findCitizenById(db, session.accountId)
    return citizen && citizen.status === 'active' ? citizen : undefined
  }

  async function requireCitizen(
    req: FastifyRequest,
    reply: FastifyReply,
    returnTo: string,
  ): Promise<Citizen | undefined> {
    const who = await signedIn(req, reply)
    if (!who) void reply.redirect(accountSignInUrl(config, returnTo), 303)
    return who
  }

  function context(req: FastifyRequest, who: Citizen) {
    return { actor: `citizen:${who.id}` as const, ip: req.ip, requestId: req.id }
  }

  // -------------------------------------------------------------------------------------
  // View models

  function versionView(t: DocText, locale: Locale, documentId: string, v: DocumentVersion) {
    return {
      id: v.id,
      n: v.version,
      uploadedAt: dateTime(v.uploadedAt, locale, config.regency.timeZone),
      replacedAt: v.supersededAt ? dateTime(v.supersededAt, locale, config.regency.timeZone) : '',
      size: formatSize(t, v.size, locale),
      format: mediaLabels[v.mediaType],
      fileName: v.fileName,
      verified: v.verified,
      verifiedAt: v.verifiedAt ? dateTime(v.verifiedAt, locale, config.regency.timeZone) : '',
      downloadHref: `/akun/dokumen/${documentId}/unduh/${v.id}`,
    }
  }

  /** The upload form's data; `compact` for the list, where the type's name is the heading just above. */
  function uploadForm(
    reply: FastifyReply,
    t: DocText,
    locale: Locale,
    type: DocumentTypeConfig,
    options: { kembali?: string | undefined; error?: string; replace?: boolean; compact?: boolean },
  ) {
    const name = type.name[locale]
    const maxBytes = uploadLimitOf(config.documents, type)
    const size = formatSize(t, maxBytes, locale)
    return {
      id: `berkas-${type.id}`,
      action: withQuery(`/akun/dokumen/unggah/${type.id}`, { kembali: options.kembali }),
      csrf: reply.generateCsrf(),
      label: options.compact ? t('dok.form.fileShort') : t('dok.form.file', { type: name }),
      // The heading above names the type for the eye; a screen reader hears it with the label.
      labelExtra: options.compact ? name : '',
      // On the list, seven fields in a row: the limit beside each, what to do once above them.
      hint: options.compact ? { limit: limitHint(t, type, size).limit, advice: [] } : limitHint(t, type, size),
      accept: acceptOf(type),
      // For the page's script (src/idp/documents/assets/unggah.js): the same limit and
      // formats the server enforces, so a phone can check a file before sending it.
      maxBytes,
      formats: formatOrder.filter((f) => type.formats.includes(f)).join(','),
      formatsText: formatsText(t, type),
      size,
      error: options.error ?? '',
      submit: options.replace ? t('dok.form.replace') : t('dok.form.upload'),
      // Seven blue buttons in a row would shout: on the list they are the quieter kind.
      secondary: options.compact === true,
      typeName: name,
    }
  }

  /** The script's sentences in the page's language, with {placeholders} it fills in (unggah.js). */
  function scriptTexts(t: DocText) {
    return {
      'size-mb': t('dok.size.mb', { n: '{n}' }),
      'size-kb': t('dok.size.kb', { n: '{n}' }),
      'size-bytes': t('dok.size.bytes', { n: '{n}' }),
      empty: t('dok.error.empty'),
      formats: t('dok.check.formats', { formats: '{formats}' }),
      'photo-too-large': t('dok.check.photoTooLarge', { fileSize: '{fileSize}', size: '{size}' }),
      'photo-too-large-manual': t('dok.check.photoTooLargeManual', { fileSize: '{fileSize}', size: '{size}' }),
      'pdf-too-large': t('dok.check.pdfTooLarge', { fileSize: '{fileSize}', size: '{size}' }),
      shrink: t('dok.check.shrink'),
      shrinking: t('dok.check.shrinking'),
      shrunk: t('dok.check.shrunk', { fileSize: '{fileSize}', width: '{width}', height: '{height}' }),
      'shrink-failed': t('dok.check.shrinkFailed'),
      preview: t('dok.check.preview'),
    }
  }

  async function currentOf(who: Citizen, typeId: string): Promise<DocumentSummary | undefined> {
    return (await listDocuments(db, who.id)).find((d) => d.type === typeId)
  }

  async function uploadPage(
    req: FastifyRequest,
    reply: FastifyReply,
    who: Citizen,
    type: DocumentTypeConfig,
    options: { kembali?: string | undefined; error?: string; status?: number } = {},
  ) {
    const t = docText(req)
    const locale = pickLocale(req)
    const current = await currentOf(who, type.id)
    const name = type.name[locale]
    return reply.page(
      'dokumen-unggah',
      {
        heading: current ? t('dok.upload.replaceTitle', { type: name }) : t('dok.upload.title', { type: name }),
        replaceNote: current
          ? t('dok.upload.replaceNote', {
              time: dateTime(current.current.uploadedAt, locale, config.regency.timeZone),
              days: config.documents.retentionDays,
            })
          : '',
        error: options.error ?? '',
        form: uploadForm(reply, t, locale, type, {
          kembali: options.kembali,
          ...(options.error ? { error: options.error } : {}),
          replace: current !== undefined,
        }),
        cancelHref: current ? `/akun/dokumen/${current.id}` : '/akun/dokumen',
        scriptTexts: scriptTexts(t),
        scripts: uploadScripts,
      },
      { status: options.status ?? 200, scripts: true },
    )
  }

  // -------------------------------------------------------------------------------------
  // The list

  app.get('/akun/dokumen', { schema: { querystring: listQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, req.url)
    if (!who) return reply
    const t = docText(req)
    const locale = pickLocale(req)
    const q = req.query as { pesan?: 'dihapus'; kembali?: string }
    const kembali = continueTarget(config, q.kembali)
    const docs = new Map((await listDocuments(db, who.id)).map((d) => [d.type, d]))
    const anyForm = config.documents.types.some((type) => !docs.has(type.id))
    return reply.page(
      'dokumen',
      {
        notice: q.pesan === 'dihapus' ? t('dok.notice.deleted') : '',
        retention: t('dok.retention', { days: config.documents.retentionDays }),
        types: config.documents.types.map((type) => {
          const doc = docs.get(type.id)
          return {
            id: type.id,
            name: type.name[locale],
            verificationExpected: type.verificationExpected,
            doc: doc ? { href: `/akun/dokumen/${doc.id}`, ...versionView(t, locale, doc.id, doc.current) } : null,
            form: doc ? null : uploadForm(reply, t, locale, type, { kembali, compact: true }),
          }
        }),
        scriptTexts: anyForm ? scriptTexts(t) : null,
        scripts: anyForm ? uploadScripts : [],
      },
      { scripts: anyForm },
    )
  })

  // -------------------------------------------------------------------------------------
  // Upload

  app.get(
    '/akun/dokumen/unggah/:jenis',
    { schema: { params: typeParams, querystring: returnQuery } },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, req.url)
      if (!who) return reply
      const type = findDocumentType(config.documents, (req.params as { jenis: string }).jenis)
      if (type === undefined) throw new AppError('not_found')
      return uploadPage(req, reply, who, type, {
        kembali: continueTarget(config, (req.query as { kembali?: string }).kembali),
      })
    },
  )

  /**
   * Reads the first part of the upload, which must be the CSRF token (the form puts it
   * before the file), so that the token is checked before a byte of the file is stored.
   * The parts iterator is kept for the handler.
   */
  async function readCsrfPart(req: FastifyRequest): Promise<void> {
    if (!req.isMultipart()) throw new AppError('unsupported_media_type', 'The upload must be multipart/form-data.')
    let parts: ReturnType<typeof req.parts>
    let first: Awaited<ReturnType<ReturnType<typeof req.parts>['next']>>
    try {
      parts = req.parts({
        // The type's own limit is enforced by the vault as the bytes arrive; busboy's cap is
        // one byte above the largest limit, so the vault always sees the byte that is too
        // many (a truncated file is never mistaken for a complete one).
        limits: {
          fileSize: config.documents.maxUploadBytes + 1,
          files: 1,
          fields: 2,
          parts: 3,
          fieldSize: 1024,
          fieldNameSize: 64,
          headerPairs: 20,
        },
        // File names as browsers send them: UTF-8 (kept only as encoded metadata).
        defCharset: 'utf8',
      })
      first = await parts.next()
    } catch (err) {
      // A body busboy cannot read (no boundary, a broken part header, cut off before the
      // first part) is the sender's mistake, whoever they are: a plain 400 page before the
      // sign-in check, never a 500 (issue 10). Limits keep their own 413.
      const status = (err as { statusCode?: unknown }).statusCode
      if (typeof status === 'number' && status >= 400 && status < 500) throw err
      req.log.debug({ reason: (err as Error).message }, 'unreadable multipart upload')
      throw new AppError('bad_request', 'The upload form could not be read.', { cause: err })
    }
    const part = first.done ? undefined : first.value
    let token: string | undefined
    if (part?.type === 'field' && part.fieldname === '_csrf' && typeof part.value === 'string') token = part.value
    else if (part?.type === 'file') part.file.resume()
    pending.set(req, { parts, csrf: token })
  }

  app.post(
    '/akun/dokumen/unggah/:jenis',
    // A phone on a poor connection: the body may take documents.uploadTimeoutSeconds (src/http/app.ts).
    {
      schema: { params: typeParams, querystring: returnQuery },
      preHandler: [readCsrfPart, app.csrfProtection],
      config: { longBody: true },
    },
    async (req, reply) => {
      const jenis = (req.params as { jenis: string }).jenis
      const who = await requireCitizen(req, reply, `/akun/dokumen/unggah/${encodeURIComponent(jenis)}`)
      if (!who) return reply
      const type = findDocumentType(config.documents, jenis)
      if (type === undefined) throw new AppError('not_found')
      const kembali = continueTarget(config, (req.query as { kembali?: string }).kembali)
      const upload = pending.get(req)
      if (upload === undefined) throw new AppError('bad_request')
      const t = docText(req)
      const locale = pickLocale(req)
      // Too large by its own Content-Length: refused now, before a byte of the file is
      // read, not after the phone has sent it all (issue 20).
      const declared = declaredLength(req)
      if (declared !== undefined && declared > uploadLimitOf(config.documents, type) + multipartAllowance) {
        req.log.info({ code: 'too_large', type: type.id, declared }, 'upload refused by its Content-Length')
        return uploadPage(req, reply, who, type, {
          kembali,
          error: refusalText(t, new DocumentError('too_large'), type, config, locale),
          status: 413,
        })
      }

      const next = await upload.parts.next()
      const part = next.done ? undefined : next.value
      // A browser sends a form without a chosen file with the file part all the same, named "".
      if (
        part === undefined ||
        part.type !== 'file' ||
        part.fieldname !== fileField ||
        typeof part.filename !== 'string' ||
        part.filename === ''
      ) {
        if (part?.type === 'file') part.file.resume()
        return uploadPage(req, reply, who, type, { kembali, error: t('dok.error.noFile'), status: 400 })
      }
      // The vault stops reading the file at the byte past the limit (it destroys the part's
      // stream), but busboy would go on reading the rest of the body and dropping it while
      // the page is made: stop taking bytes from the client at that moment.
      part.file.once('close', () => {
        if (!part.file.readableEnded) req.raw.unpipe()
      })
      let uploaded: Awaited<ReturnType<typeof uploadDocument>>
      try {
        uploaded = await uploadDocument(
          db,
          storage,
          {
            citizenId: who.id,
            type: type.id,
            stream: part.file,
            originalName: part.filename,
            declaredMediaType: part.mimetype,
          },
          config.documents,
          context(req, who),
        )
      } catch (err) {
        if (isDocumentError(err)) {
          req.log.info({ code: err.code, type: type.id }, 'upload refused')
          return uploadPage(req, reply, who, type, {
            kembali,
            error: refusalText(t, err, type, config, locale),
            status: err.status,
          })
        }
        // A client that went away mid-upload: nothing was kept (the vault's promise), and
        // nobody is left to answer. Not a server error.
        if (req.raw.destroyed || req.raw.socket.destroyed)
          throw new AppError('bad_request', 'The upload was interrupted.', { cause: err })
        throw err
      }
      // Whatever follows the file (nothing, from our form) is read and dropped.
      try {
        for await (const rest of upload.parts) if (rest.type === 'file') rest.file.resume()
      } catch {
        // A limit hit after the file was stored (an extra part) does not undo the upload.
      }
      return reply.redirect(
        withQuery(`/akun/dokumen/${uploaded.document.id}`, {
          pesan: uploaded.created ? 'diunggah' : 'diganti',
          kembali,
        }),
        303,
      )
    },
  )

  // -------------------------------------------------------------------------------------
  // Grants (static paths before /akun/dokumen/:id; find-my-way prefers them anyway)

  app.get('/akun/dokumen/izin', { schema: { querystring: grantsQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/dokumen/izin')
    if (!who) return reply
    const t = docText(req)
    const locale = pickLocale(req)
    const grants = await listGrants(db, who.id)
    // One agency, one name, on every page (display-names.ts).
    const names = await loadDisplayNames(db, config, locale, grants)
    const view = grants.map((g) => ({
      id: g.id,
      agency: names.agency(g.agencyId),
      agencyId: g.agencyId,
      service: names.service(g.agencyId, g.serviceId) ?? g.serviceId ?? t('dok.grants.allServices'),
      types: joinWords(
        t,
        g.documentTypes.map((id) => typeName(findDocumentType(config.documents, id), id, locale)),
        'dok.and',
      ),
      purpose: g.purpose,
      given: dateTime(g.createdAt, locale, config.regency.timeZone),
      expires: calendarDate(g.expiresAt, locale, config.regency.timeZone),
      active: g.status === 'active',
      ended:
        g.status === 'revoked' && g.revokedAt
          ? `${t('dok.grants.endedRevoked')} ${dateTime(g.revokedAt, locale, config.regency.timeZone)}`
          : `${t('dok.grants.endedExpired')} ${dateTime(g.expiresAt, locale, config.regency.timeZone)}`,
    }))
    return reply.page('dokumen-izin', {
      csrf: reply.generateCsrf(),
      notice: (req.query as { pesan?: string }).pesan === 'dicabut' ? t('dok.grants.revoked') : '',
      active: view.filter((g) => g.active),
      past: view.filter((g) => !g.active).slice(0, 50),
    })
  })

  app.post(
    '/akun/dokumen/izin/cabut',
    { schema: { body: revokeBody }, preHandler: app.csrfProtection, config: { pageOnGet: () => '/akun/dokumen/izin' } },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/dokumen/izin')
      if (!who) return reply
      const revoked = await revokeGrant(db, who.id, (req.body as { izin: string }).izin, context(req, who))
      return reply.redirect(revoked ? '/akun/dokumen/izin?pesan=dicabut' : '/akun/dokumen/izin', 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // One document

  app.get('/akun/dokumen/:id', { schema: { params: idParams, querystring: detailQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, req.url)
    if (!who) return reply
    const detail = await getDocumentForOwner(db, who.id, (req.params as { id: string }).id)
    if (detail === undefined) throw new AppError('not_found')
    const t = docText(req)
    const locale = pickLocale(req)
    const q = req.query as { pesan?: 'diunggah' | 'diganti'; kembali?: string }
    const type = findDocumentType(config.documents, detail.type)
    const names = await loadDisplayNames(db, config, locale, await listGrants(db, who.id))
    const versionNumber = new Map(detail.versions.map((v) => [v.id, v.version]))
    const current = versionView(t, locale, detail.id, detail.current)
    return reply.page(
      'dokumen-detail',
      {
        name: typeName(type, detail.type, locale),
        notice:
          q.pesan === 'diunggah' ? t('dok.notice.uploaded') : q.pesan === 'diganti' ? t('dok.notice.replaced') : '',
        continueHref: q.pesan ? (continueTarget(config, q.kembali) ?? '') : '',
        current,
        verificationExpected: type?.verificationExpected ?? false,
        verifiedNote: current.verified ? t('dok.detail.verifiedNote', { time: current.verifiedAt }) : '',
        older: detail.versions.filter((v) => !v.current).map((v) => versionView(t, locale, detail.id, v)),
        versionsLead: t('dok.detail.versionsLead', { days: config.documents.retentionDays }),
        // "KTP diambil oleh Dinas Contoh untuk Izin usaha mikro", under the day it happened.
        accessDays: groupByDay(
          detail.accesses.map((a) => {
            const document = typeName(type, detail.type, locale)
            const agency = names.agency(a.agencyId)
            const service = names.service(a.agencyId, a.serviceId)
            const version = versionNumber.get(a.versionId)
            return {
              at: a.at,
              what: service
                ? t('dok.history.fetchedFor', { document, agency, service })
                : t('dok.history.fetched', { document, agency }),
              meta: [
                clockTime(a.at, locale, config.regency.timeZone),
                ...(version !== undefined ? [t('dok.detail.version', { n: version })] : []),
              ].join(' · '),
            }
          }),
          (a) => a.at,
          locale,
          config.regency.timeZone,
        ),
        form: type ? uploadForm(reply, t, locale, type, { replace: true }) : null,
        scriptTexts: type ? scriptTexts(t) : null,
        scripts: type ? uploadScripts : [],
        deleteHref: `/akun/dokumen/${detail.id}/hapus`,
      },
      { scripts: type !== undefined },
    )
  })

  app.get('/akun/dokumen/:id/unduh/:versi', { schema: { params: downloadParams } }, async (req, reply) => {
    const { id, versi } = req.params as { id: string; versi: string }
    const who = await requireCitizen(req, reply, `/akun/dokumen/${encodeURIComponent(id)}`)
    if (!who) return reply
    const content = await getVersionForOwner(db, who.id, versi)
    if (content === undefined || content.documentId !== id) throw new AppError('not_found')
    let stream: Awaited<ReturnType<typeof storage.get>>
    try {
      stream = await storage.get(content.storageKey)
    } catch (err) {
      // Purged between the look-up and now (retention ran): gone, like the row will be.
      if (err instanceof StorageNotFoundError) throw new AppError('gone', undefined, { cause: err })
      throw err
    }
    return reply.headers(documentResponseHeaders(content)).send(stream)
  })

  app.get('/akun/dokumen/:id/hapus', { schema: { params: idParams } }, async (req, reply) => {
    const id = (req.params as { id: string }).id
    const who = await requireCitizen(req, reply, `/akun/dokumen/${encodeURIComponent(id)}/hapus`)
    if (!who) return reply
    const detail = await getDocumentForOwner(db, who.id, id)
    if (detail === undefined) throw new AppError('not_found')
    const t = docText(req)
    const locale = pickLocale(req)
    const name = typeName(findDocumentType(config.documents, detail.type), detail.type, locale)
    return reply.page('dokumen-hapus', {
      heading: t('dok.delete.title', { type: name }),
      lead: t('dok.delete.lead', { days: config.documents.retentionDays }),
      csrf: reply.generateCsrf(),
      action: `/akun/dokumen/${detail.id}/hapus`,
      cancelHref: `/akun/dokumen/${detail.id}`,
    })
  })

  app.post(
    '/akun/dokumen/:id/hapus',
    { schema: { params: idParams, body: csrfOnlyBody }, preHandler: app.csrfProtection },
    async (req, reply) => {
      const id = (req.params as { id: string }).id
      const who = await requireCitizen(req, reply, `/akun/dokumen/${encodeURIComponent(id)}/hapus`)
      if (!who) return reply
      const deleted = await deleteDocument(db, who.id, id, context(req, who))
      if (!deleted) throw new AppError('not_found')
      return reply.redirect('/akun/dokumen?pesan=dihapus', 303)
    },
  )
}
