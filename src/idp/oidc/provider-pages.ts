import type { KoaContextWithOIDC } from 'oidc-provider'
import { isDatabaseUnavailable } from '../../db/errors.ts'
import { providerRequest } from './request-context.ts'

/**
 * Pages oidc-provider renders itself (logout confirmation, logout done, errors it cannot
 * send back to a client). They replace the built-in ones, which load third-party web fonts
 * and speak only English, with ours: same layout, Bahasa Indonesia first, no JavaScript.
 */
export interface ProviderPages {
  logout(ctx: KoaContextWithOIDC, form: string): Promise<void>
  logoutSuccess(ctx: KoaContextWithOIDC): Promise<void>
  error(
    ctx: KoaContextWithOIDC,
    out: { error: string; error_description?: string | undefined },
    error: unknown,
  ): Promise<void>
}

/** Renders through the Fastify reply of the current request (src/idp/oidc/request-context.ts). */
function render(
  ctx: KoaContextWithOIDC,
  template: string,
  data: Record<string, unknown>,
  status = 200,
  formActionOrigins: string[] = [],
): void {
  const state = providerRequest.getStore()
  if (!state) throw new Error('provider page rendered outside a request')
  const html = state.reply.pageHtml(template, data, { formActionOrigins })
  // The Fastify reply is hijacked: copy the headers the page layer set onto Koa's response.
  for (const [name, value] of Object.entries(state.reply.getHeaders())) {
    if (value !== undefined && name !== 'content-length') ctx.set(name, Array.isArray(value) ? value : String(value))
  }
  ctx.status = status
  ctx.type = 'html'
  ctx.body = html
}

/** The xsrf secret of oidc-provider's logout form (a hex string it generated). */
function xsrfOf(form: string): string {
  const m = /name="xsrf" value="([0-9a-f]+)"/.exec(form)
  if (!m?.[1]) throw new Error('logout form without xsrf')
  return m[1]
}

export function createProviderPages(): ProviderPages {
  return {
    async logout(ctx, form) {
      // The confirmation redirects to the client's registered post-logout URI: CSP
      // form-action must allow its origin (oidc-provider has already checked it).
      const target = ctx.oidc.session?.state?.postLogoutRedirectUri
      let origins: string[] = []
      if (typeof target === 'string') {
        try {
          origins = [new URL(target).origin]
        } catch {
          origins = []
        }
      }
      render(
        ctx,
        'logout',
        {
          action: ctx.oidc.urlFor('end_session_confirm'),
          xsrf: xsrfOf(form),
          clientName: ctx.oidc.client?.clientName ?? '',
          // "Tidak, tetap masuk" cancels the sign-out: back to the agency without its `state`
          // (so it knows the citizen stayed), nothing ended. oidc-provider's own "no" would
          // still sign the citizen out of the asking agency and send it a back-channel logout.
          cancel: typeof target === 'string' && origins.length > 0 ? target : '/',
        },
        200,
        origins,
      )
    },
    async logoutSuccess(ctx) {
      render(ctx, 'logout-done', {})
    },
    async error(ctx, out, error) {
      if (isDatabaseUnavailable(error)) {
        // Not the citizen's mistake and not a bug: the general "not available right now"
        // page, 503 (app.ts adds Retry-After).
        render(ctx, 'error', { status: 503 }, 503)
        return
      }
      // The error code is safe to show (it is the OAuth error name); descriptions stay in the log.
      const status = typeof ctx.status === 'number' && ctx.status >= 400 ? ctx.status : 400
      render(ctx, 'oidc-error', { error: out.error }, status)
    },
  }
}
