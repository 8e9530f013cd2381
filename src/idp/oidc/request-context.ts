import { AsyncLocalStorage } from 'node:async_hooks'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * State of one request handed to oidc-provider, reachable from its callbacks (page
 * renderers, the adapter) without threading it through the library: the Fastify request
 * and reply (for the page layer and the request id), and the refresh tokens that find()
 * let through inside their grace window, and the audit writes its events started.
 */
export interface ProviderRequestState {
  request: FastifyRequest
  reply: FastifyReply
  graceReplays: Set<string>
  /**
   * Audit rows the provider's events started (token.issued, auth.logout): the response
   * waits for them (src/idp/app.ts), so no request is answered whose row may still be lost.
   */
  audits: Promise<unknown>[]
  /**
   * Set while a sign-out (end_session) revokes tokens: the uid of the session that ends.
   * One consent (grant) serves every session of the citizen at a client, so revoking by
   * grant alone would sign out every device; the adapter then revokes only the tokens
   * issued in this session (provider.ts, revokeGrantPolicy; adapter.ts).
   */
  endingSessionUid?: string
  /**
   * Ids of the Session rows this request loaded (adapter.ts find/findByUid). oidc-provider
   * saves every session it loaded at the end of the request; such a save may only update
   * the row, never re-create it, or a request in flight while the session was ended
   * elsewhere (sign this device out, sign out everywhere, a password change or reset) would
   * bring it back, uid and all.
   */
  loadedSessions?: Set<string>
  /**
   * The user code of a kiosk's verification_uri_complete (`/device?user_code=…`), taken off
   * the URL before oidc-provider sees it (src/idp/app.ts): our code page shows it filled in,
   * where oidc-provider would answer with a page that submits itself by script.
   */
  userCode?: string
  /** The provider route's path the request is for (`/token`, `/device`, …; app.ts providerPaths). */
  providerPath?: string
}

export const providerRequest = new AsyncLocalStorage<ProviderRequestState>()
