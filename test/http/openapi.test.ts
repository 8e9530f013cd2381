/**
 * The OpenAPI documents (src/http/openapi.ts) of the idp's documents API and the gateway's
 * own endpoints, checked against the routes themselves: every documented operation exists
 * and answers with one of its documented statuses, and every route an API caller uses is
 * documented (only pages and the proxied agency routes are not).
 */
import type { FastifyInstance } from 'fastify'
import { importJWK } from 'jose'
import t, { type Test } from 'tap'
import { buildGateway } from '../../src/gateway/app.ts'
import { backchannelLogoutPath, callbackPath, logoutPath } from '../../src/gateway/auth/authenticate.ts'
import { consentReturnPath } from '../../src/gateway/proxy/documents.ts'
import { signInPath } from '../../src/gateway/portal.ts'
import { refusedRedirectPath } from '../../src/gateway/proxy/proxy.ts'
import { gatewayAssetsPrefix } from '../../src/gateway/sites.ts'
import { openApiPath, routeInventory } from '../../src/http/openapi.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { startIdp, testKek } from '../helpers/idp.ts'
import { agencyTable, echo, startUpstream, testPublicUrl } from '../gateway/harness.ts'

interface Operation {
  summary?: string
  tags?: string[]
  responses: Record<string, { description?: string }>
}
interface Document {
  openapi: string
  info: { title: string }
  servers: { url: string }[]
  paths: Record<string, Record<string, Operation>>
}

/** Fastify's `/dokumen/:token` as OpenAPI writes it: `/dokumen/{token}`. */
const asOpenApi = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

async function documentOf(t: Test, app: FastifyInstance, host?: string): Promise<Document> {
  const res = await app.inject({ url: openApiPath, ...(host === undefined ? {} : { headers: { host } }) })
  t.equal(res.statusCode, 200, `${openApiPath} answers`)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.headers['cache-control'], 'public, max-age=300', 'public and cacheable')
  return res.json() as Document
}

/** Each documented operation answers, without credentials, with one of its documented statuses. */
async function everyOperationAnswers(t: Test, app: FastifyInstance, doc: Document, host?: string): Promise<void> {
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      t.ok(op.summary, `${method} ${path} has a summary`)
      t.ok((op.tags ?? []).length > 0, `${method} ${path} has a tag`)
      for (const [status, r] of Object.entries(op.responses))
        t.ok(r.description, `${method} ${path} ${status} is described`)
      const url = path.replace(/\{[^}]+\}/g, 'not-a-link')
      const res = await app.inject({
        method: method.toUpperCase() as 'GET' | 'POST',
        url,
        headers: {
          accept: 'application/json',
          ...(host === undefined ? {} : { host }),
          ...(method === 'post' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(method === 'post' ? { payload: '' } : {}),
      })
      t.ok(
        Object.keys(op.responses).includes(String(res.statusCode)),
        `${method.toUpperCase()} ${path} answers ${res.statusCode}, a documented status`,
      )
      if (res.statusCode >= 400)
        t.match(
          res.json(),
          { error: String, message: String, request_id: String },
          `${method} ${path}: the error body keeps its fields`,
        )
    }
  }
}

/** Every route is documented or on `undocumented` (pages); each documented route is in the document and nothing else is. */
function inventoryMatches(t: Test, app: FastifyInstance, doc: Document, undocumented: (url: string) => boolean): void {
  const inventory = routeInventory(app)
  t.ok(inventory.length > 5, 'the inventory saw the routes')
  const listed = new Set(
    Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)),
  )
  const documented = new Set<string>()
  for (const r of inventory) {
    const key = `${r.method} ${asOpenApi(r.url)}`
    if (r.documented) {
      documented.add(key)
      t.ok(listed.has(key), `${key} is in the document`)
    } else {
      t.ok(undocumented(r.url), `${key} is a page, not an API: it may stay out of the document`)
    }
  }
  t.same(
    [...listed].filter((k) => !documented.has(k)),
    [],
    'the document lists no route that does not exist',
  )
}

t.test('the idp serves an OpenAPI document of its documents API that matches its routes', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { app, issuer } = await startIdp(t, db)
    const host = new URL(issuer).host
    const doc = await documentOf(t, app, host)
    t.equal(doc.openapi, '3.1.0')
    t.same(Object.keys(doc.paths).sort(), ['/api/dokumen', '/dokumen/{token}', '/healthz', '/readyz'])
    t.same(Object.keys(doc.paths['/dokumen/{token}'] ?? {}), ['get'], 'no HEAD: it would record a fetch without one')
    t.same(Object.keys(doc.paths['/api/dokumen']?.get?.responses ?? {}).sort(), ['200', '400', '401', '403'])
    await everyOperationAnswers(t, app, doc, host)
    // The idp's other routes are pages for citizens and officers (sign-in, account, consent,
    // uploads); its API (`/api/…`, `/dokumen/…`) and health must all be documented.
    inventoryMatches(
      t,
      app,
      doc,
      (url) => !/^\/(api|dokumen)(\/|$)/.test(url) && !['/healthz', '/readyz'].includes(url),
    )
  })
})

t.test(
  'the gateway serves an OpenAPI document of its own endpoints that matches its routes, and keeps every field of its JWK Set',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db, { idp: { gatewayResource: testPublicUrl } })
      const up = await startUpstream(t, echo)
      const table = agencyTable([{ id: 'dinas-a', upstream: up.url, services: [{ path: '/', access: 'public' }] }])
      const config = testConfig({
        gateway: { publicUrl: testPublicUrl },
        idp: { issuer, gatewayResource: testPublicUrl },
      })
      const gw = await buildGateway({
        config,
        database: db,
        logger: silentLogger(),
        agencies: table,
        keyEncryption: testKek,
        clientSecret: 'gateway-secret-0123456789',
      })
      t.teardown(() => gw.close())
      const host = new URL(testPublicUrl).host

      const doc = await documentOf(t, gw, host)
      t.same(doc.servers, [{ url: testPublicUrl }])
      t.same(
        Object.keys(doc.paths).sort(),
        ['/.well-known/jwks.json', '/dokumen/{token}', backchannelLogoutPath, '/healthz', '/readyz'].sort(),
      )
      await everyOperationAnswers(t, gw, doc, host)
      const pages = new Set([
        openApiPath,
        '/',
        signInPath,
        callbackPath,
        logoutPath,
        consentReturnPath,
        refusedRedirectPath,
      ])
      const prefixes = [gatewayAssetsPrefix, ...table.agencies.map((a) => a.prefix)]
      inventoryMatches(
        t,
        gw,
        doc,
        (url) => pages.has(url) || prefixes.some((p) => url === p || url.startsWith(`${p}/`)),
      )

      // The response schema serialises: every member of every key must still be there.
      const jwks = (await gw.inject({ url: '/.well-known/jwks.json', headers: { host } })).json() as {
        keys: Record<string, unknown>[]
      }
      t.ok(jwks.keys.length > 0)
      for (const key of jwks.keys) {
        t.same(
          Object.keys(key).sort(),
          ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'],
          'every member of the published key',
        )
        t.equal(key.alg, 'ES256')
        await importJWK(key, 'ES256')
      }
      // On an agency's host the path is the agency's: the gateway's document is on the portal only.
      const onAgency = await gw.inject({
        url: openApiPath,
        headers: { host: 'dinas-a.layanan.sukamaju.go.id', accept: 'application/json' },
      })
      t.equal(onAgency.json().url, openApiPath, "on an agency's host, the agency answers")
    })
  },
)
