import cookie from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.ts'
import { assetsPlugin, type AssetsPluginOptions } from './assets.ts'
import { errorHandling } from './errors.ts'
import type { Catalogue } from './i18n.ts'
import { viewsPlugin } from './views.ts'

export interface PagesOptions {
  config: Config
  /** The service's own template folders (searched before the shared one). */
  templateDirs: readonly string[]
  messages?: Catalogue
  formActionOrigins?: readonly string[]
  /** Where the stylesheet is served; default `/assets`. */
  assetsPrefix?: string
  /** Where "home" links on every page, the error pages included; default `/`. */
  homeHref?: string
  /** More files served beside the stylesheet (assets.ts, `extra`). */
  assets?: AssetsPluginOptions['extra']
}

/**
 * What every service that shows pages registers: cookies, the views (Indonesian first,
 * escaped by default), the stylesheet, and the error handler that renders a readable
 * page for browsers and JSON for API callers.
 */
export async function registerPages(app: FastifyInstance, opts: PagesOptions): Promise<void> {
  await app.register(cookie)
  await app.register(viewsPlugin, {
    templateDirs: opts.templateDirs,
    regencyName: opts.config.regency.name,
    cache: opts.config.env === 'production',
    ...(opts.messages ? { messages: opts.messages } : {}),
    ...(opts.formActionOrigins ? { formActionOrigins: opts.formActionOrigins } : {}),
    ...(opts.assetsPrefix ? { assetsPrefix: opts.assetsPrefix } : {}),
    ...(opts.homeHref ? { homeHref: opts.homeHref } : {}),
  })
  await app.register(assetsPlugin, {
    ...(opts.assetsPrefix ? { assetsPrefix: opts.assetsPrefix } : {}),
    ...(opts.assets ? { extra: opts.assets } : {}),
  })
  await app.register(errorHandling, {
    renderPage: (_req, reply, input) => reply.pageHtml('error', { status: input.status }),
  })
}
