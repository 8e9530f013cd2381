import type { KoaContextWithOIDC } from 'oidc-provider'
import { isDatabaseUnavailable } from '../../db/errors.ts'
import { providerRequest } from './request-context.ts'
import { scopeItems, scopeOrder } from './scopes.ts'

/**
 * Pages oidc-provider renders itself (logout confirmation, logout done, errors it cannot
 * send back to a client). They replace the built-in ones, which load third-party web fonts
 * and speak only English, with ours: same layout, Bahasa Indonesia first, no JavaScript.
 */
export interface ProviderPages {
  logout(ctx: KoaContextWithOIDC, form: string): Promise<void>
  logoutSuccess(ctx: KoaContextWithOIDC): Promise<void>
  /** The device flow's pages on the citizen's phone (issue 16, kiosks). */
  deviceInput(ctx: KoaContextWithOIDC, form: string, err: unknown): Promise<void>
  deviceConfirm(ctx: KoaContextWithOIDC, form: string, view: DeviceConfirmView): Promise<void>
  deviceSuccess(ctx: KoaContextWithOIDC, kioskName: string): Promise<void>
  error(
    ctx: KoaContextWithOIDC,
    out: { error: string; error_description?: string | undefined },
    error: unknown,
  ): Promise<void>
}

/** What the confirmation page shows: the kiosk as registered, the code, the scopes asked for. */
export interface DeviceConfirmView {
  /** From the kiosks table by the client id; undefined when the client is no (active) kiosk. */
  kiosk: { name: string; location: string } | undefined
  userCode: string
  scopes: readonly string[]
}

/** The message for a user code oidc-provider refused (its re-render errors), or any other failure. */
function deviceInputProblem(err: unknown): { error?: string; info?: string } {
  if (err === undefined) return {}
  const name = (err as { name?: unknown }).name
  switch (name) {
    case 'NoCodeError':
      return { error: 'kiosk.code.missing' }
    case 'NotFoundError':
      return { error: 'kiosk.code.wrong' }
    case 'ExpiredError':
      return { error: 'kiosk.code.expired' }
    case 'AlreadyUsedError':
      return { error: 'kiosk.code.used' }
    case 'AbortedError':
      return { info: 'kiosk.code.aborted' }
    default:
      return { error: 'kiosk.code.failed' }
  }
}

function text(key: string, params?: Record<string, string | number>): string {
  const state = providerRequest.getStore()
  if (!state) throw new Error('provider page rendered outside a request')
  return state.request.server.idpText(state.request, key, params)
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

/** The xsrf secret of one of oidc-provider's forms (a hex string it generated). */
function xsrfOf(form: string): string {
  const m = /name="xsrf" value="([0-9a-f]+)"/.exec(form)
  if (!m?.[1]) throw new Error('oidc-provider form without xsrf')
  return m[1]
}

/** The user code oidc-provider put back into its input form after a refusal (HTML-escaped there). */
function userCodeOf(form: string): string | undefined {
  const m = /value="([A-Za-z0-9-]{1,20})" (?:pattern|type)/.exec(form)
  return m?.[1]
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
    async deviceInput(ctx, form, err) {
      const problem = deviceInputProblem(err)
      // A code in verification_uri_complete arrives here as typed in (src/idp/app.ts), so
      // that the citizen sees our page, not oidc-provider's self-submitting one.
      const userCode = userCodeOf(form) ?? providerRequest.getStore()?.userCode
      // Koa's status is 404 until a body is set: only an error's status counts.
      const status = err !== undefined && typeof ctx.status === 'number' && ctx.status >= 400 ? ctx.status : 200
      render(
        ctx,
        'kiosk-kode',
        {
          action: ctx.oidc.urlFor('code_verification'),
          xsrf: xsrfOf(form),
          userCode,
          ...(problem.error === undefined ? {} : { errorText: text(problem.error) }),
          ...(problem.info === undefined ? {} : { infoText: text(problem.info) }),
        },
        status,
      )
    },
    async deviceConfirm(ctx, form, view) {
      if (view.kiosk === undefined) {
        // Only kiosks have the device grant; anything else is refused, never shown.
        render(
          ctx,
          'kiosk-kode',
          { action: ctx.oidc.urlFor('code_verification'), xsrf: xsrfOf(form), errorText: text('kiosk.code.failed') },
          400,
        )
        return
      }
      const items = [...new Set([...view.scopes, 'gateway'])]
        .sort((a, b) => scopeOrder.indexOf(a) - scopeOrder.indexOf(b))
        .map((s) => scopeItems[s])
        .filter((x): x is string => x !== undefined)
      render(ctx, 'kiosk-setuju', {
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(form),
        userCode: view.userCode,
        kiosk: view.kiosk,
        items,
      })
    },
    async deviceSuccess(ctx, kioskName) {
      render(ctx, 'kiosk-selesai', { kioskName })
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
