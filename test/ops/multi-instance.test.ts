/**
 * Past one machine (issue 12): two idp instances on one PostgreSQL behind a round-robin
 * TCP balancer, with every request of the test on a new connection, so consecutive steps
 * of one sign-in land on different instances. Nothing an instance keeps in memory may be
 * needed by the other (DESIGN.md, "Storage").
 */
import type { FastifyInstance } from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import type { Test } from 'tap'
import { Agent, getGlobalDispatcher, request, setGlobalDispatcher } from 'undici'
import { buildIdp } from '../../src/idp/app.ts'
import { rotateKeys } from '../../src/keys/keys.ts'
import { startBalancer, type Balancer } from '../helpers/balancer.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { freshDatabase, testDatabaseUrl, type TestDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, registerClient, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'

const skip = testDatabaseUrl === undefined ? 'several instances share a database server: needs TEST_DATABASE_URL' : false

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

t.test('a sign-in whose steps alternate between two idp instances completes, and its tokens work on both', { skip }, async (t) => {
  const db = await freshDatabase(t, 'postgres')
  const cluster = await startCluster(t, db)
  oneRequestPerConnection(t)
  await addCitizen(db.db, budi)
  const client = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'] })

  const tokens = await codeFlowTokens(cluster.issuer, { clientId: client.clientId, secret: client.secret }, new Browser(), {
    redirectUri: 'http://127.0.0.1:9/cb',
    credentials: { username: budi.nik, password: budi.password },
  })
  t.ok(cluster.balancer.connections.every((n) => n >= 3), `both instances served the sign-in (${cluster.balancer.connections.join(', ')} connections)`)
  t.type(tokens.id_token, 'string')

  // The ID token verifies with the JWKS whichever instance publishes it.
  const jwks = createRemoteJWKSet(new URL(`${cluster.issuer}/jwks`))
  const { payload } = await jwtVerify(tokens.id_token as string, jwks, { issuer: cluster.issuer, audience: client.clientId })
  t.equal(payload.name, undefined, 'claims come from userinfo, not the ID token')

  // Userinfo twice: once per instance.
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${cluster.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
    t.equal(res.status, 200, `userinfo ${i + 1}`)
    t.equal(((await res.json()) as { name?: string }).name, budi.name)
  }
})

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
      const res = await request(`http://127.0.0.1:${port}/jwks`, { headers: { host: `127.0.0.1:${cluster.balancer.port}` } })
      const kids = ((await res.body.json()) as { keys?: { kid: string }[] }).keys?.map((k) => k.kid) ?? []
      if (newKids.every((k) => kids.includes(k))) seen.set(port, kids)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  t.equal(seen.size, 2, 'both instances publish the new keys')
  await db.db.updateTable('signing_keys').set({ activates_at: sql<Date>`now() - interval '1 second'` }).where('kid', 'in', newKids).execute()
})

t.test('an instance killed mid-load costs no request that a client retries once', { skip }, async (t) => {
  const db = await freshDatabase(t, 'postgres')
  const cluster = await startCluster(t, db)
  oneRequestPerConnection(t)
  await addCitizen(db.db, budi)
  const client = await registerClient(db, { redirectUris: ['http://127.0.0.1:9/cb'] })
  const tokens = await codeFlowTokens(cluster.issuer, { clientId: client.clientId, secret: client.secret }, new Browser(), {
    redirectUri: 'http://127.0.0.1:9/cb',
    credentials: { username: budi.nik, password: budi.password },
  })

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
