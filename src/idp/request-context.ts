import { AsyncLocalStorage } from 'node:async_hooks'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * State of one request handed to oidc-provider, reachable from its callbacks (page
 * renderers, the adapter) without threading it through the library: the Fastify request
 * and reply (for the page layer and the request id), and the refresh tokens that find()
 * let through inside their grace window.
 */
export interface ProviderRequestState {
  request: FastifyRequest
  reply: FastifyReply
  graceReplays: Set<string>
}

export const providerRequest = new AsyncLocalStorage<ProviderRequestState>()
