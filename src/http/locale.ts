import type { FastifyRequest } from 'fastify'
import Negotiator from 'negotiator'

/** The languages every page is written in. Bahasa Indonesia comes first: it is the default. */
export type Locale = 'id' | 'en'

export const locales: readonly Locale[] = ['id', 'en']

export const defaultLocale: Locale = 'id'

/** Name of the cookie that remembers the language a citizen chose with the switch link. */
export const localeCookieName = 'lang'

/**
 * Maps one BCP 47 language tag (RFC 5646) to a supported locale by its primary subtag,
 * so `id-ID`, `en-GB` and `EN` all match. `in` is the withdrawn ISO 639 code for
 * Indonesian that older Java/Android devices still send (`in-ID`).
 */
export function matchLocale(tag: string): Locale | undefined {
  const primary = tag.trim().split(/[-_]/, 1)[0]?.toLowerCase()
  if (primary === 'id' || primary === 'in') return 'id'
  if (primary === 'en') return 'en'
  return undefined
}

/**
 * Picks the language for a page, in this order:
 * 1. `ui_locales`: space-separated tags in order of preference; the first supported one
 *    wins (OpenID Connect Core 1.0 §3.1.2.1).
 * 2. `lang`: the query parameter of the language switch links in the layout.
 * 3. the `lang` cookie, which remembers the choice made with the switch.
 * 4. `Accept-Language` (RFC 9110 §12.5.4), highest quality value first.
 * 5. Bahasa Indonesia.
 */
export function pickLocale(req: FastifyRequest): Locale {
  return (
    fromUiLocales(queryValue(req, 'ui_locales')) ??
    fromSingle(queryValue(req, 'lang')) ??
    fromSingle(cookieValue(req, localeCookieName)) ??
    fromAcceptLanguage(req.headers['accept-language']) ??
    defaultLocale
  )
}

/** The locale the `lang` query parameter asks for, if any: the switch link was followed. */
export function requestedSwitchLocale(req: FastifyRequest): Locale | undefined {
  return fromSingle(queryValue(req, 'lang'))
}

/**
 * The `href` of the switch link to `locale`. On a page reached by GET it is a query-only
 * relative reference, so the browser keeps the current path (RFC 3986 §5.2.2) and a path
 * such as `//host` can never turn the link into one that leaves the site. Other query
 * parameters are kept; `ui_locales` is dropped because it outranks `lang` and would undo
 * the switch.
 *
 * A page reached by POST (a form shown again with its errors) cannot be followed with a
 * GET at its own URL: there the link goes to the page that shows the same form on GET
 * (pageOnGet below), so the language switch never lands on a 404.
 */
export function switchLocaleHref(req: FastifyRequest, locale: Locale): string {
  const byGet = req.method === 'GET' || req.method === 'HEAD'
  const target = byGet ? req.url : pageOnGet(req)
  const q = target.indexOf('?')
  const params = new URLSearchParams(q === -1 ? '' : target.slice(q + 1))
  params.delete('ui_locales')
  params.delete('lang')
  params.append('lang', locale)
  return byGet ? `?${params.toString()}` : `${q === -1 ? target : target.slice(0, q)}?${params.toString()}`
}

/** Only a local absolute path (no `//host`, no backslash, no control characters). */
function localPath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.startsWith('//') && !/[\\\u0000-\u001f]/.test(p)
}

/**
 * The URL (path and query) that shows, on GET, the page a non-GET request is answering
 * with: what the handler set on `req.pageOnGet`, else the route's `config.pageOnGet`,
 * else the same URL when a GET route exists there, else the home page.
 */
export function pageOnGet(req: FastifyRequest): string {
  const set = (req as { pageOnGet?: unknown }).pageOnGet
  if (localPath(set)) return set
  const fromRoute = req.routeOptions.config?.pageOnGet?.(req)
  if (localPath(fromRoute)) return fromRoute
  const url = req.routeOptions.url
  if (url !== undefined && req.server.hasRoute({ method: 'GET', url })) return req.url
  return '/'
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * For a non-GET route that answers with a page: where the same page is shown on GET
     * (path and query), for the language switch (src/http/locale.ts, pageOnGet).
     */
    pageOnGet?: (req: FastifyRequest) => string
  }
  interface FastifyRequest {
    /** Set by a handler that knows better than its route's config where its page is on GET. */
    pageOnGet: string | null
  }
}

function fromUiLocales(value: string | undefined): Locale | undefined {
  if (value === undefined) return undefined
  for (const tag of value.split(' ')) {
    if (tag === '') continue
    const locale = matchLocale(tag)
    if (locale) return locale
  }
  return undefined
}

function fromSingle(value: string | undefined): Locale | undefined {
  return value === undefined ? undefined : matchLocale(value)
}

/**
 * RFC 9110 §12.5.4 (`tag;q=0.8, …`; q=0 means "not acceptable"), parsed and ranked by the
 * `negotiator` package. `in` (the withdrawn code for Indonesian) is offered too and maps to `id`.
 */
export function fromAcceptLanguage(header: string | undefined): Locale | undefined {
  if (!header) return undefined
  const best = new Negotiator({ headers: { 'accept-language': header } }).language([...locales, 'in'])
  return best === undefined ? undefined : matchLocale(best)
}

function queryValue(req: FastifyRequest, name: string): string | undefined {
  const query = req.query
  if (typeof query !== 'object' || query === null) return undefined
  const value: unknown = (query as Record<string, unknown>)[name]
  if (typeof value === 'string') return value
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0]
  return undefined
}

/**
 * Reads a cookie from `req.cookies` when @fastify/cookie is registered, else from the
 * raw Cookie header (RFC 6265 §5.4: `name=value` pairs separated by `; `). Only used for
 * the language preference, whose value is checked against the supported locales.
 */
function cookieValue(req: FastifyRequest, name: string): string | undefined {
  const parsed: unknown = (req as { cookies?: unknown }).cookies
  if (typeof parsed === 'object' && parsed !== null) {
    const value: unknown = (parsed as Record<string, unknown>)[name]
    return typeof value === 'string' ? value : undefined
  }
  const header = req.headers.cookie
  if (!header) return undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1) continue
    if (pair.slice(0, eq).trim() !== name) continue
    return pair
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
  }
  return undefined
}
