/**
 * Past one machine (issue 12): two idp instances, then two gateway instances (each with
 * its own pool), on one PostgreSQL behind a round-robin TCP balancer, with every request
 * of the test on a new connection, so consecutive steps of one sign-in land on different
 * instances. Nothing an instance keeps in memory may be needed by the other (DESIGN.md,
 * "Storage"): sessions, back-channel logouts, document grants, keys.
 */
import type { FastifyInstance } from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import type { Test } from 'tap'
import { Agent, getGlobalDispatcher, request, setGlobalDispatcher } from 'undici'
import { openDatabase } from '../../src/db/create.ts'
import { buildGateway } from '../../src/gateway/app.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { rotateKeys } from '../../src/keys/keys.ts'
import { startBalancer, type Balancer } from '../helpers/balancer.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { freshDatabase, testDatabaseUrl, type TestDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { startUpstream } from '../gateway/harness.ts'
import { buildAgencyTable } from '../../src/gateway/agencies.ts'
import { createGrant, revokeGrant } from '../../src/documents/grants.ts'
import { createDocumentStorage } from '../../src/documents/create-storage.ts'
import { uploadDocument } from '../../src/documents/vault.ts'
import { jpeg } from '../documents/fixtures.ts'
import * as oidc from 'openid-client'
import { Readable } from 'node:stream'

const skip =
  testDatabaseUrl === undefined ? 'several instances share a database server: needs TEST_DATABASE_URL' : false

interface Cluster {
  readonly issuer: string
  readonly balancer: Balancer
  readonly apps: FastifyInstance[]
  readonly ports: number[]
}

/** Two idps listening on their own ports, one issuer: the balancer's URL. */
async function startCluster(t: Test, db: TestDatabase): Promise<Cluster> {
  const ports = [await freePort(), await freePort()]
  const balancer = await startBalancer(ports)
  t.teardown(() => balancer.close())
  const issuer = `http://127.0.0.1:${balancer.port}`
  const apps: FastifyInstance[] = []
  for (const port of ports) {
    const config = testConfig({
      idp: { issuer, port, keys: { refreshSeconds: 5, publishDelaySeconds: 0 } },
      gateway: { publicUrl: 'http://127.0.0.1:1', port: 1 },
    })
    const app = await buildIdp({ config, database: db, logger: silentLogger(), keyEncryption: testKek })
    await app.listen({ host: '127.0.0.1', port })
    t.teardown(() => app.close())
    apps.push(app)
  }
  return { issuer, balancer, apps, ports }
}

/** Every request of this file on a connection of its own, so the balancer alternates. */
function oneRequestPerConnection(t: Test): void {
  const previous = getGlobalDispatcher()
  const agent = new Agent({ maxRequestsPerClient: 1, keepAliveTimeout: 1 })
  setGlobalDispatcher(agent)
  t.teardown(async () => {
    setGlobalDispatcher(previous)
    await agent.close()
  })
}

t.test(
  'a sign-in whose steps alternate between two idp instances completes, and its tokens work on both',
  { skip },
  async (t) => {
    const db = await freshDatabase(t, 'postgres')
    const cluster = await startCluster(t, db)
    oneRequestPerConnection(t)
    await addCitizen(db.db, budi)
    const client = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'] })

    const tokens = await codeFlowTokens(
      cluster.issuer,
      { clientId: client.clientId, secret: client.secret },
      new Browser(),
      {
        redirectUri: 'http://127.0.0.1:9/cb',
        credentials: { username: budi.nik, password: budi.password },
      },
    )
    t.ok(
      cluster.balancer.connections.every((n) => n >= 3),
      `both instances served the sign-in (${cluster.balancer.connections.join(', ')} connections)`,
    )
    t.type(tokens.id_token, 'string')

    // The ID token verifies with the JWKS whichever instance publishes it.
    const jwks = createRemoteJWKSet(new URL(`${cluster.issuer}/jwks`))
    const { payload } = await jwtVerify(tokens.id_token as string, jwks, {
      issuer: cluster.issuer,
      audience: client.clientId,
    })
    t.equal(payload.name, undefined, 'claims come from userinfo, not the ID token')

    // Userinfo twice: once per instance.
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${cluster.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      t.equal(res.status, 200, `userinfo ${i + 1}`)
      t.equal(((await res.json()) as { name?: string }).name, budi.name)
    }
  },
)

t.test('a key rotation is picked up by both instances without a restart', { skip }, async (t) => {
  const db = await freshDatabase(t, 'postgres')
  const cluster = await startCluster(t, db)
  const rotated = await rotateKeys(db.db, testKek, 'oidc', { publishDelaySeconds: 0, retireAfterSeconds: 600 })
  const newKids = rotated.map((k) => k.kid).sort()
  // Each instance on its own schedule (idp.keys.refreshSeconds = 5): no one tells them.
  const deadline = Date.now() + 20_000
  const seen = new Map<number, string[]>()
  while (Date.now() < deadline && seen.size < cluster.ports.length) {
    for (const port of cluster.ports) {
      // Straight to the instance, with the issuer's Host (as the balancer delivers it).
      // (undici's request, not fetch: fetch may not set Host, and the idp answers 421 to a foreign one.)
      const res = await request(`http://127.0.0.1:${port}/jwks`, {
        headers: { host: `127.0.0.1:${cluster.balancer.port}` },
      })
      const kids = ((await res.body.json()) as { keys?: { kid: string }[] }).keys?.map((k) => k.kid) ?? []
      if (newKids.every((k) => kids.includes(k))) seen.set(port, kids)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  t.equal(seen.size, 2, 'both instances publish the new keys')
  await db.db
    .updateTable('signing_keys')
    .set({ activates_at: sql<Date>`now() - interval '1 second'` })
    .where('kid', 'in', newKids)
    .execute()
})

t.test('an instance killed mid-load costs no request that a client retries once', { skip }, async (t) => {
  const db = await freshDatabase(t, 'postgres')
  const cluster = await startCluster(t, db)
  oneRequestPerConnection(t)
  await addCitizen(db.db, budi)
  const client = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'] })
  const tokens = await codeFlowTokens(
    cluster.issuer,
    { clientId: client.clientId, secret: client.secret },
    new Browser(),
    {
      redirectUri: 'http://127.0.0.1:9/cb',
      credentials: { username: budi.nik, password: budi.password },
    },
  )

  // Idempotent requests, as a browser or an SDK retries them once on a broken connection.
  const kinds = [
    () => fetch(`${cluster.issuer}/.well-known/openid-configuration`),
    () => fetch(`${cluster.issuer}/jwks`),
    () => fetch(`${cluster.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } }),
  ]
  let retried = 0
  const failures: string[] = []
  let done = 0
  async function once(i: number): Promise<void> {
    const kind = kinds[i % kinds.length] as () => Promise<Response>
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await kind()
        await res.arrayBuffer()
        if (res.status !== 200) failures.push(`request ${i}: ${res.status}`)
        return
      } catch (err) {
        if (attempt >= 2) {
          const cause = (err as { cause?: { code?: string; message?: string } }).cause
          failures.push(`request ${i}: ${(err as Error).message} (${cause?.code ?? cause?.message ?? ''})`)
          return
        }
        retried++
      }
    }
  }
  const total = 600
  let killedAt = -1
  const workers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = w; i < total; i += 8) {
      if (i >= total / 3 && killedAt < 0) {
        killedAt = i
        // As kill -9 looks from outside: the listener gone and every connection cut.
        const victim = cluster.apps[0] as FastifyInstance
        victim.server.closeAllConnections()
        victim.server.close()
      }
      await once(i)
      done++
    }
  })
  await Promise.all(workers)
  t.equal(done, total)
  t.same(failures, [], `no failed request after one retry (${retried} retried)`)
  t.ok(killedAt > 0, `one instance was killed after ${killedAt} requests`)
})

// ---------------------------------------------------------------------------------------
// Two gateways on one PostgreSQL (issue 12 §3), each with its own pool, behind the
// round-robin balancer: the browser's steps go through the balancer; each instance is
// also asked directly (with the balancer's Host), to name which one answered.

interface GatewayCluster {
  readonly publicUrl: string
  readonly agencyHost: string
  readonly issuer: string
  readonly balancer: Balancer
  readonly apps: FastifyInstance[]
  readonly ports: number[]
  readonly upstream: Awaited<ReturnType<typeof startUpstream>>
}

async function startGateways(t: Test, db: TestDatabase): Promise<GatewayCluster> {
  const ports = [await freePort(), await freePort()]
  const balancer = await startBalancer(ports)
  t.teardown(() => balancer.close())
  const publicUrl = `http://localhost:${balancer.port}`
  const up = await startUpstream(t)
  const { issuer } = await startIdp(t, db, {
    idp: { gatewayResource: publicUrl, backchannelLogoutHosts: ['localhost', '127.0.0.1'] },
  })
  const agencies = buildAgencyTable(
    {
      agencies: [
        {
          id: 'dinas-contoh',
          name: { id: 'Dinas Contoh', en: 'Sample Agency' },
          upstream: up.url,
          clients: ['dinas-contoh-backend'],
          appClients: [],
          services: [
            { id: 'info', name: { id: 'Informasi', en: 'Information' }, path: '/info', access: 'public' },
            { id: 'izin', name: { id: 'Izin', en: 'Permit' }, path: '/izin', access: 'signed_in' },
            {
              id: 'izin-usaha',
              name: { id: 'Izin usaha mikro', en: 'Micro business permit' },
              path: '/izin-usaha',
              access: 'signed_in',
              documents: ['ktp'],
              purpose: { id: 'Memeriksa identitas pemohon', en: 'To check the applicant' },
            },
          ],
        },
      ],
    },
    { timeoutMs: 5000, maxBodyBytes: 1024 * 1024, publicUrl },
  )
  const agencyOrigin = agencies.agencies[0]?.origin ?? ''
  const client = await registerClient(db, {
    clientId: 'satupintu-gateway',
    redirectUris: [`${publicUrl}/oidc/callback`, `${agencyOrigin}/oidc/callback`],
    postLogoutRedirectUris: [`${publicUrl}/`],
    backchannelLogoutUri: `${publicUrl}/oidc/backchannel-logout`,
    scopes: ['openid', 'profile'],
  })
  const apps: FastifyInstance[] = []
  for (const [i, port] of ports.entries()) {
    const config = testConfig({
      gateway: { publicUrl, port },
      idp: { issuer, gatewayResource: publicUrl, keys: { refreshSeconds: 5, publishDelaySeconds: 0 } },
      // Bytes every instance sees (issue 12 §3): in the database itself.
      documents: { storage: 'postgres' },
    })
    // Instance B has a pool of its own, as another machine would.
    const database = i === 0 ? db : await secondPool(t, db)
    const app = await buildGateway({
      config,
      database,
      logger: silentLogger(),
      agencies,
      keyEncryption: testKek,
      clientSecret: client.secret as string,
    })
    await app.listen({ host: '127.0.0.1', port })
    t.teardown(() => app.close())
    apps.push(app)
  }
  return { publicUrl, agencyHost: new URL(agencyOrigin).host, issuer, balancer, apps, ports, upstream: up }
}

async function secondPool(t: Test, db: TestDatabase): Promise<TestDatabase> {
  const other = await openDatabase({
    url: db.url,
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 4,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  t.teardown(() => other.close())
  return { ...other, url: db.url }
}

/** One request on a connection of its own (so the balancer takes turns), with `host`. */
async function at(
  port: number,
  host: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; location: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    headers: { host, accept: 'text/html', ...headers },
    reset: true,
  })
  await res.body.dump()
  return { status: res.statusCode, location: String(res.headers.location ?? '') }
}

async function gatewaySignIn(c: GatewayCluster, browser: Browser): Promise<string> {
  const start = await browser.request(`http://${c.agencyHost}/izin`)
  if (start.status !== 303) throw new Error(`expected a redirect to sign in, got ${start.status}`)
  const callback = await signIn(browser, start.headers.get('location') ?? '', c.issuer, {
    username: budi.nik,
    password: budi.password,
  })
  const done = await browser.request(callback)
  if (done.status !== 303) throw new Error(`callback answered ${done.status}`)
  return browser.cookieHeader(new URL(`http://${c.agencyHost}/izin`))
}

t.test(
  'gateways: a session made through one is served by the other; a back-channel logout ends it on both; a key rotation reaches both',
  { skip },
  async (t) => {
    const db = await freshDatabase(t, 'postgres')
    const c = await startGateways(t, db)
    await addCitizen(db.db, budi)
    const browser = new Browser()
    const cookie = await gatewaySignIn(c, browser)
    for (const [i, port] of c.ports.entries()) {
      for (let n = 0; n < 2; n++)
        t.equal(
          (await at(port, c.agencyHost, '/izin', { cookie })).status,
          200,
          `instance ${i === 0 ? 'A' : 'B'} serves the session`,
        )
    }

    // The citizen signs out at the idp: its back-channel logout reaches one instance (through
    // the balancer); the other must stop accepting the session as well.
    const confirm = await browser.request(`${c.issuer}/session/end`)
    const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(await confirm.text())?.[1] ?? ''
    const started = performance.now()
    const out = await browser.request(`${c.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
    t.equal(out.status, 303, 'signed out at the idp')
    const endedAt = new Map<number, number>()
    while (endedAt.size < 2 && performance.now() - started < 5000) {
      for (const port of c.ports) {
        if (endedAt.has(port)) continue
        if ((await at(port, c.agencyHost, '/izin', { cookie })).status === 303)
          endedAt.set(port, performance.now() - started)
      }
    }
    t.equal(endedAt.size, 2, 'the session is refused on both instances')
    const bound = Math.max(...endedAt.values())
    t.ok(
      bound <= 1500,
      `within 1.5 s of the sign-out (A ${Math.round(endedAt.get(c.ports[0] as number) ?? -1)} ms, B ${Math.round(endedAt.get(c.ports[1] as number) ?? -1)} ms)`,
    )
    t.comment(`figure: back-channel logout reached both gateways within ${Math.round(bound)} ms`)

    // A rotation of the gateway's assertion keys: each instance reloads on its own schedule.
    const rotated = await rotateKeys(db.db, testKek, 'gateway', { publishDelaySeconds: 0, retireAfterSeconds: 600 })
    const newKids = rotated.map((k) => k.kid)
    const seen = new Set<number>()
    const rotatedAt = performance.now()
    while (seen.size < 2 && performance.now() - rotatedAt < 15_000) {
      for (const port of c.ports) {
        const res = await request(`http://127.0.0.1:${port}/.well-known/jwks.json`, {
          headers: { host: new URL(c.publicUrl).host },
          reset: true,
        })
        const kids = ((await res.body.json()) as { keys?: { kid: string }[] }).keys?.map((k) => k.kid) ?? []
        if (newKids.every((k) => kids.includes(k))) seen.add(port)
      }
      if (seen.size < 2) await new Promise((r) => setTimeout(r, 250))
    }
    t.equal(
      seen.size,
      2,
      `both gateways publish the rotated keys (after ${Math.round(performance.now() - rotatedAt)} ms; refresh every 5 s)`,
    )
  },
)

t.test('gateways: one killed mid-load costs no request that a client retries once', { skip }, async (t) => {
  const db = await freshDatabase(t, 'postgres')
  const c = await startGateways(t, db)
  await addCitizen(db.db, budi)
  const cookie = await gatewaySignIn(c, new Browser())
  // Idempotent requests, public and signed in, each on its own connection through the balancer.
  const kinds = [
    () => at(c.balancer.port, c.agencyHost, '/info'),
    () => at(c.balancer.port, c.agencyHost, '/izin', { cookie }),
  ]
  let retried = 0
  const failures: string[] = []
  async function once(i: number): Promise<void> {
    const kind = kinds[i % kinds.length] as () => Promise<{ status: number }>
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await kind()
        if (res.status !== 200) failures.push(`request ${i}: ${res.status}`)
        return
      } catch (err) {
        if (attempt >= 2) {
          failures.push(`request ${i}: ${(err as Error).message}`)
          return
        }
        retried++
      }
    }
  }
  const total = 400
  let killedAt = -1
  let done = 0
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < total; i += 8) {
        if (i >= total / 3 && killedAt < 0) {
          killedAt = i
          const victim = c.apps[0] as FastifyInstance
          victim.server.closeAllConnections()
          victim.server.close()
        }
        await once(i)
        done++
      }
    }),
  )
  t.equal(done, total)
  t.same(failures, [], `no failed request after one retry (${retried} retried)`)
  t.ok(killedAt > 0, `gateway A was killed after ${killedAt} requests`)
})

t.test('gateways: a withdrawn document grant refuses the link on the other instance at once', { skip }, async (t) => {
  const db = await freshDatabase(t, 'postgres')
  const c = await startGateways(t, db)
  const citizen = await addCitizen(db.db, budi)
  const config = testConfig({ documents: { storage: 'postgres' } })
  await uploadDocument(
    db.db,
    createDocumentStorage(config, db.db),
    {
      citizenId: citizen.id,
      type: 'ktp',
      stream: Readable.from([jpeg({ comment: 'ktp budi' })]),
      originalName: 'ktp.jpg',
    },
    config.documents,
  )
  const grant = await createGrant(db.db, config.documents, {
    citizenId: citizen.id,
    agencyId: 'dinas-contoh',
    serviceId: 'izin-usaha',
    documentTypes: ['ktp'],
    purpose: 'Memeriksa identitas pemohon',
    expiresAt: new Date(Date.now() + 86_400_000),
  })
  const cookie = await gatewaySignIn(c, new Browser())
  // Instance A makes the link (it rides to the agency in the Link header) ...
  t.equal((await at(c.ports[0] as number, c.agencyHost, '/izin-usaha', { cookie })).status, 200)
  const link = /<([^>]+)>; rel="satupintu-document"/.exec(String(c.upstream.seen.at(-1)?.headers.link ?? ''))?.[1] ?? ''
  t.match(link, `${c.publicUrl}/dokumen/`, 'a document link for the granted type')
  // ... the agency's backend fetches it from instance B.
  const backend = await registerClient(db, {
    clientId: 'dinas-contoh-backend',
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['openid'],
    resources: [c.publicUrl],
  })
  const insecure = { execute: [oidc.allowInsecureRequests] }
  const cc = await oidc.clientCredentialsGrant(
    await oidc.discovery(new URL(c.issuer), backend.clientId, backend.secret, undefined, insecure),
    { scope: 'gateway', resource: c.publicUrl },
  )
  const fetchOn = async (port: number) => {
    const res = await request(`http://127.0.0.1:${port}${new URL(link).pathname}`, {
      headers: {
        host: new URL(c.publicUrl).host,
        authorization: `Bearer ${cc.access_token}`,
        accept: 'application/json',
      },
      reset: true,
    })
    const body = await res.body.text()
    return {
      status: res.statusCode,
      reason:
        res.statusCode === 200 ? '' : ((JSON.parse(body) as { details?: { reason?: string } }).details?.reason ?? ''),
    }
  }
  t.equal(
    (await fetchOn(c.ports[1] as number)).status,
    200,
    'instance B serves the link instance A made (shared storage)',
  )
  t.ok(await revokeGrant(db.db, citizen.id, grant.id), 'the citizen withdraws the grant')
  const started = performance.now()
  const onB = await fetchOn(c.ports[1] as number)
  t.same(
    onB,
    { status: 403, reason: 'revoked' },
    `instance B refuses the link at the first fetch (${Math.round(performance.now() - started)} ms after)`,
  )
  t.same(await fetchOn(c.ports[0] as number), { status: 403, reason: 'revoked' }, 'and so does instance A')
  const again = await at(c.ports[1] as number, c.agencyHost, '/izin-usaha', { cookie })
  t.equal(again.status, 303, 'instance B makes no new link: the browser is sent to the consent page')
  t.match(again.location, `${c.issuer}/`, 'at the idp')
})
