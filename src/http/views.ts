import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Eta } from 'eta'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { commonMessages, mergeMessages, translator } from './i18n.ts'
import type { Catalogue, Messages } from './i18n.ts'
import { localeCookieName, pickLocale, requestedSwitchLocale, switchLocaleHref } from './locale.ts'
import { referenceCode } from './reference-code.ts'

/** The shared templates (layout, error page, partials) that every service can use. */
export const sharedTemplateDir = fileURLToPath(new URL('./templates/', import.meta.url))

export type Views = {
  /** Renders `<dir>/<name>.eta` from the first template directory that has it. */
  render(name: string, data: Record<string, unknown>): string
}

export type ViewsOptions = {
  /** Searched in order; a name found in an earlier directory hides later ones. */
  templateDirs: readonly string[]
  /**
   * Keep compiled templates in memory. Default true; development turns it off so an
   * edited template shows on the next request. (Config decides; this module reads no env.)
   */
  cache?: boolean
}

// Template names are paths below a template directory: `login`, `partials/field`.
// No `.`, so no `..`, no absolute paths and no extension games.
const templateName = /^[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/

/**
 * Eta with auto-escaping (`<%= %>` escapes & < > " ', only `<%~ %>` is raw), over
 * several template directories. Eta itself knows one `views` directory and resolves
 * includes relative to the including file; here every name — page, `layout(…)` or
 * `include(…)` — is looked up from the top of each directory in turn, so a service
 * page can use the shared layout and partials. https://eta.js.org/docs/4.x.x/api/configuration
 */
export function createViews(options: ViewsOptions): Views {
  const dirs = options.templateDirs.map((dir) => path.resolve(dir))
  const first = dirs[0]
  if (first === undefined) throw new Error('views: templateDirs is empty')
  const cache = options.cache ?? true
  const eta = new Eta({
    autoEscape: true,
    cache,
    debug: false,
    useWith: false,
    // Unused for lookup (resolvePath below replaces it), but Eta requires one.
    views: first,
  })
  const resolved = new Map<string, string>()
  eta.resolvePath = (name: string): string => {
    const known = resolved.get(name)
    if (known !== undefined) return known
    if (!templateName.test(name)) throw new Error(`views: bad template name ${JSON.stringify(name)}`)
    for (const dir of dirs) {
      const file = path.join(dir, `${name}.eta`)
      if (existsSync(file)) {
        if (cache) resolved.set(name, file)
        return file
      }
    }
    throw new Error(`views: no template "${name}" in ${dirs.join(', ')}`)
  }
  return {
    render(name, data) {
      return eta.render(name, data)
    },
  }
}

export type PageOptions = {
  /** HTTP status; default 200. */
  status?: number
  /**
   * Origins this page's forms may submit to or be redirected to, on top of the plugin's.
   * Browsers apply `form-action` to the redirects after a POST too (CSP Level 3
   * §6.4.1), so a sign-in page whose POST ends in a redirect to a relying party must
   * name that party's origin here.
   */
  formActionOrigins?: readonly string[]
  /**
   * The page runs our own scripts (served from this origin, never inline): adds
   * `script-src 'self'` and `connect-src 'self'` to this page's policy only. For the few
   * pages that need JavaScript for what has no HTML form (WebAuthn, issue 14); every other
   * page keeps the policy without any script. The template names its scripts in the layout
   * data (`scripts: ['passkey.js']`, served by assets.ts).
   */
  scripts?: boolean
}

export type ViewsPluginOptions = {
  /** The service's own template directories; the shared one is searched last. */
  templateDirs: readonly string[]
  /** Shown in the header and title; default the `site.name` message. */
  siteName?: string
  /** The regency's name without "Kabupaten", e.g. "Sleman". */
  regencyName: string
  /** Where assets.ts serves the stylesheet; default `/assets`. */
  assetsPrefix?: string
  /** Extra origins every page's forms may post to (CSP `form-action`). */
  formActionOrigins?: readonly string[]
  /** The service's own messages, merged with the common ones. */
  messages?: Catalogue
  /** Link target of "home" on the layout and error page; default `/`. */
  homeHref?: string
  /** See ViewsOptions.cache; default true. */
  cache?: boolean
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Renders `template` (which calls `layout('layout')`) in the request's language
     * and sends it as an uncacheable HTML page with the security headers.
     * Templates get `it.t`, `it.locale`, `it.siteName`, `it.regencyName`,
     * `it.assetsPrefix`, `it.homeHref`, `it.requestId`, `it.referenceCode` and `it.langHref` on top of `data`.
     */
    page(template: string, data?: Record<string, unknown>, options?: PageOptions): FastifyReply
    /**
     * Like `page`, but returns the HTML instead of sending it, after setting the same
     * headers (not the status). For callers that send the body themselves, such as the
     * error handler's `renderPage` hook in errors.ts.
     */
    pageHtml(template: string, data?: Record<string, unknown>, options?: PageOptions): string
  }
}

/** The templates that show the request's reference code to the citizen. */
const referenceTemplates = new Set(['error', 'oidc-error'])

/** Keys the plugin puts into every template's data; `data` may not use them. */
export const reservedDataKeys = [
  't',
  'locale',
  'siteName',
  'regencyName',
  'assetsPrefix',
  'homeHref',
  'requestId',
  'referenceCode',
  'langHref',
  'body',
] as const

/**
 * A CSP source must be an origin exactly (scheme, host, port): anything else — a path,
 * a `;`, a space, a quote — could change the policy rather than extend it.
 */
function checkOrigin(origin: string, where: string): string {
  let parsed: URL | undefined
  try {
    parsed = new URL(origin)
  } catch {
    parsed = undefined
  }
  if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.origin !== origin) {
    throw new Error(`views: ${where} ${JSON.stringify(origin)} is not an origin like https://agency.example.go.id`)
  }
  return origin
}

/**
 * `Content-Security-Policy` for a page (CSP Level 3): no scripts at all, no framing; with
 * `scripts`, our own script files and requests to our own origin, still nothing inline
 * (no 'unsafe-inline', no nonce: the pages have no inline script to allow).
 */
export function pageContentSecurityPolicy(
  formActionOrigins: readonly string[],
  options: { scripts?: boolean } = {},
): string {
  return [
    "default-src 'none'",
    ...(options.scripts === true ? ["script-src 'self'", "connect-src 'self'"] : []),
    "style-src 'self'",
    "img-src 'self' data:",
    ['form-action', "'self'", ...formActionOrigins].join(' '),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ')
}

async function views(fastify: FastifyInstance, options: ViewsPluginOptions): Promise<void> {
  const viewOptions: ViewsOptions = { templateDirs: [...options.templateDirs, sharedTemplateDir] }
  if (options.cache !== undefined) viewOptions.cache = options.cache
  const renderer = createViews(viewOptions)
  const messages: Catalogue = options.messages
    ? mergeMessages<Messages, Messages>(commonMessages, options.messages)
    : commonMessages
  const regencyName = options.regencyName.trim()
  if (regencyName === '') throw new Error('views: regencyName is empty')
  const assetsPrefix = (options.assetsPrefix ?? '/assets').replace(/\/+$/, '')
  const homeHref = options.homeHref ?? '/'
  const baseOrigins = (options.formActionOrigins ?? []).map((o, i) => checkOrigin(o, `formActionOrigins[${i}]`))
  const basePolicy = pageContentSecurityPolicy(baseOrigins)

  function pageHtml(
    this: FastifyReply,
    template: string,
    data: Record<string, unknown> = {},
    pageOptions: PageOptions = {},
  ): string {
    const req: FastifyRequest = this.request
    // A page that shows the reference code leaves a line with it (and the full id) in the log.
    if (referenceTemplates.has(template)) req.log.info({ template }, 'error page shown')
    for (const key of reservedDataKeys) {
      if (Object.hasOwn(data, key)) throw new Error(`views: page data may not set "${key}"`)
    }
    const locale = pickLocale(req)
    const t = translator(messages, locale)
    const html = renderer.render(template, {
      ...data,
      t,
      locale,
      siteName: options.siteName ?? t('site.name'),
      regencyName,
      assetsPrefix,
      homeHref,
      requestId: req.id,
      // What an error page shows the citizen (src/http/reference-code.ts); the full id stays in the log.
      referenceCode: referenceCode(req.id),
      langHref: { id: switchLocaleHref(req, 'id'), en: switchLocaleHref(req, 'en') },
    })
    const policy =
      pageOptions.formActionOrigins?.length || pageOptions.scripts === true
        ? pageContentSecurityPolicy(
            [
              ...baseOrigins,
              ...(pageOptions.formActionOrigins ?? []).map((o, i) => checkOrigin(o, `page formActionOrigins[${i}]`)),
            ],
            { scripts: pageOptions.scripts === true },
          )
        : basePolicy
    // Remember a choice made with the switch link: a preference, not a secret, and the
    // value is one of two constants (RFC 6265 §4.1).
    const switched = requestedSwitchLocale(req)
    if (switched !== undefined) {
      const secure = req.protocol === 'https' ? '; Secure' : ''
      this.header(
        'set-cookie',
        `${localeCookieName}=${switched}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly${secure}`,
      )
    }
    this.header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', policy)
      .header('x-frame-options', 'DENY')
      // Our pages share no window with another origin's (an agency page that opened
      // them cannot script or read them), and no other origin may embed them as a
      // resource (issue 10 §2; HTML §7.1.3, Fetch §3.7).
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cross-origin-resource-policy', 'same-origin')
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
    return html
  }

  if (!fastify.hasRequestDecorator('pageOnGet')) fastify.decorateRequest('pageOnGet', null)
  fastify.decorateReply('pageHtml', pageHtml)
  fastify.decorateReply(
    'page',
    function page(this: FastifyReply, template: string, data?: Record<string, unknown>, pageOptions: PageOptions = {}) {
      // Render first: a template error must not leave a half-set status behind.
      const html = pageHtml.call(this, template, data, pageOptions)
      return this.code(pageOptions.status ?? 200).send(html)
    },
  )
}

/**
 * Decorates `reply.page`. Wrapped with fastify-plugin so the decorator is visible to the
 * whole app, as a cross-cutting decorator should be (STYLE habit 5).
 */
export const viewsPlugin = fp(views, { name: 'satupintu-views', fastify: '5.x' })
