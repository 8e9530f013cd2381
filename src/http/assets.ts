import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'

/** The directory next to this file that holds the shared stylesheet (and future assets). */
export const assetsDir = fileURLToPath(new URL('./assets/', import.meta.url))

/**
 * The only files ever served, by name. A request names a key of this table or gets a
 * 404: no path is built from the URL, so `..`, encoded slashes or absolute paths cannot
 * reach anything else.
 */
const allowList = {
  'satupintu.css': 'text/css; charset=utf-8',
} as const satisfies Record<string, string>

type Asset = { body: Buffer; type: string; etag: string }

export type AssetsPluginOptions = {
  /** URL prefix; default `/assets` (must match views' `assetsPrefix`). */
  assetsPrefix?: string
  /** Where the files are read from; default the `assets/` directory next to this file. */
  dir?: string
  /**
   * More files, each from a path of its own (a service's scripts, a library's browser
   * bundle): name → absolute path and content type. Also read once at start-up.
   */
  extra?: Readonly<Record<string, { readonly path: string; readonly type: string }>>
}

/**
 * A strong validator (RFC 9110 §8.8.3): a digest of the exact bytes, so two instances
 * behind a load balancer give the same ETag for the same file.
 */
function strongEtag(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
}

/**
 * If-None-Match uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`;
 * `*` matches any current representation.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

/**
 * Serves the allow-listed files under `/assets/`, read once at start-up (a missing file
 * stops start-up). Cached by browsers for a day and revalidated with the ETag.
 */
export async function assetsPlugin(fastify: FastifyInstance, options: AssetsPluginOptions): Promise<void> {
  const dir = options.dir ?? assetsDir
  const prefix = (options.assetsPrefix ?? '/assets').replace(/\/+$/, '')
  const assets = new Map<string, Asset>()
  for (const [name, type] of Object.entries(allowList)) {
    const body = await readFile(path.join(dir, name))
    assets.set(name, { body, type, etag: strongEtag(body) })
  }
  for (const [name, file] of Object.entries(options.extra ?? {})) {
    if (!/^[a-z0-9][a-z0-9.-]{0,63}$/.test(name)) throw new Error(`assets: bad file name ${JSON.stringify(name)}`)
    const body = await readFile(file.path)
    assets.set(name, { body, type: file.type, etag: strongEtag(body) })
  }

  fastify.route<{ Params: { name: string } }>({
    method: 'GET',
    url: `${prefix}/:name`,
    schema: {
      params: {
        type: 'object',
        properties: { name: { type: 'string', maxLength: 64 } },
        required: ['name'],
      },
    },
    handler(req, reply) {
      const asset = assets.get(req.params.name)
      if (asset === undefined) return reply.callNotFound()
      reply
        .header('etag', asset.etag)
        .header('cache-control', 'public, max-age=86400')
        .header('x-content-type-options', 'nosniff')
      if (ifNoneMatchHits(req.headers['if-none-match'], asset.etag)) {
        return reply.code(304).send()
      }
      return reply.type(asset.type).send(asset.body)
    },
  })
}
