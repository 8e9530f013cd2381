import swagger from '@fastify/swagger'
import type { FastifyInstance, RouteOptions } from 'fastify'

/**
 * The OpenAPI 3.1 document of a service's machine-facing endpoints, generated from the
 * routes' own JSON schemas by @fastify/swagger (dynamic mode) and served at
 * `GET /openapi.json` (public, cacheable: it says nothing the routes do not already).
 *
 * What is documented is chosen per route: a route whose schema has `tags` is in the
 * document; pages (sign-in, consent, account) and proxied agency routes have none and are
 * left out (`hideUntagged`). Every route is also kept in an inventory (routeInventory), so
 * a test can check that nothing an API caller uses is missing from the document.
 *
 * Register it before any route: @fastify/swagger and the inventory learn routes from the
 * `onRoute` hook, which sees only routes added after it.
 */

/** The stable URL of the document on every service. */
export const openApiPath = '/openapi.json'

export interface OpenApiOptions {
  title: string
  description: string
  /** The service's public base URL (the idp's issuer, the gateway's public URL). */
  serverUrl: string
  tags: readonly { name: string; description: string }[]
}

/** One route as registered, for the inventory. */
export interface InventoryRoute {
  readonly method: string
  readonly url: string
  /** In the OpenAPI document (tagged and not hidden). */
  readonly documented: boolean
}

const inventories = new WeakMap<FastifyInstance, InventoryRoute[]>()

/** Every route of `app` (the instance openApi was registered on), HEAD routes aside. */
export function routeInventory(app: FastifyInstance): readonly InventoryRoute[] {
  return inventories.get(app) ?? []
}

/**
 * The error body every API answers with (src/http/errors.ts ErrorBody). As a response
 * schema it also serialises: `details` keeps every member it has.
 */
export function errorResponse(description: string) {
  return {
    description,
    type: 'object',
    required: ['error', 'message', 'request_id'],
    properties: {
      error: { type: 'string', description: 'A stable error code (docs/reference.md, "Error responses").' },
      message: { type: 'string' },
      request_id: { type: 'string', description: 'Also in the X-Request-Id header; quote it when asking for help.' },
      details: { type: 'object', additionalProperties: true },
    },
  } as const
}

/**
 * A document's bytes (GET /dokumen/{token} on the idp and the gateway): the stored media
 * type, as an attachment, nosniff, a sandbox CSP, never cached. A stream: never serialised.
 */
export const documentBytesResponse = {
  description:
    'The document itself, with its stored media type (`Content-Type`), as an attachment (`Content-Disposition`), `Cache-Control: no-store`.',
  content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
} as const

/** Bearer tokens (RFC 6750), the only credential the documented endpoints take. */
export const bearerSecurity = [{ bearer: [] as string[] }]

export async function registerOpenApi(app: FastifyInstance, opts: OpenApiOptions): Promise<void> {
  const inventory: InventoryRoute[] = []
  inventories.set(app, inventory)
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.method === 'HEAD') return
    const schema = route.schema as { tags?: readonly string[]; hide?: boolean } | undefined
    const documented = schema?.hide !== true && (schema?.tags?.length ?? 0) > 0
    for (const method of Array.isArray(route.method) ? route.method : [route.method])
      inventory.push({ method, url: route.url, documented })
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: opts.title, description: opts.description, version: '1' },
      servers: [{ url: opts.serverUrl.replace(/\/+$/, '') }],
      tags: opts.tags.map((t) => ({ ...t })),
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An access token from the idp (RFC 6750 §2.1).' },
        },
      },
    },
    hideUntagged: true,
  })

  app.get(openApiPath, { schema: { hide: true } }, async (_req, reply) =>
    // The same for everyone and only changes with a deployment.
    reply.header('cache-control', 'public, max-age=300').send(app.swagger()),
  )
}
