/**
 * Our own services for the benchmarks, on the machine's PostgreSQL: a database
 * `satupintu_bench` dropped and created per run, a configuration file of the run's own
 * (SATUPINTU_CONFIG), the relying parties and citizens the scenarios use, and the idp and
 * gateway each started as its own process with the real command (`node bin/satupintu.js
 * idp|gateway`), pinned to the server CPUs.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { sql } from 'kysely'
import pg from 'pg'
import { stringify as toYaml } from 'yaml'
import { createCitizen } from '../../src/accounts/citizens.ts'
import { loadConfig } from '../../src/config/load.ts'
import type { Config } from '../../src/config/schema.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { insertClient, prepareClient } from '../../src/idp/oidc/clients.ts'
import { gatewayClientInput } from '../../src/idp/oidc/gateway-client.ts'
import {
  freePort,
  nodeBin,
  onCleanup,
  pidsWithCmdline,
  projectRoot,
  startProcess,
  waitForHttp,
  type Measured,
  type Proc,
} from './proc.ts'

export const benchDatabase = 'satupintu_bench'
/** The machine's PostgreSQL (node-svc: 127.0.0.1:5432, trust auth). Override with BENCH_PG_ADMIN_URL. */
export const adminUrl = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export const citizenPassword = 'kopi tubruk di teras rumah'

/** Drops and creates the bench database; returns its URL. */
export async function recreateDatabase(keep: boolean): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl })
  try {
    await admin.connect()
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${adminUrl.replace(/\/\/[^@]*@/, '//…@')} (${(err as Error).message}): the benchmarks run on the machine's PostgreSQL (set BENCH_PG_ADMIN_URL to a role that may create databases)`,
    )
  }
  try {
    await admin.query(`drop database if exists ${benchDatabase} with (force)`)
    await admin.query(`create database ${benchDatabase}`)
  } finally {
    await admin.end()
  }
  if (!keep) {
    onCleanup(async () => {
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      try {
        await c.query(`drop database if exists ${benchDatabase} with (force)`)
      } finally {
        await c.end()
      }
    })
  }
  const url = new URL(adminUrl)
  url.pathname = `/${benchDatabase}`
  return url.toString()
}

/** The PostgreSQL backends serving the bench database (their command line names it). */
export function postgresBackends(): Measured {
  return { name: 'postgres', pids: () => pidsWithCmdline(` ${benchDatabase} `) }
}

/** The bench database's counters (pg_stat_database): transactions and rows written. */
export async function databaseCounters(stack: Stack): Promise<{ transactions: number; rowsWritten: number }> {
  const r = await sql<{
    x: string
    w: string
  }>`select (xact_commit + xact_rollback)::text as x, (tup_inserted + tup_updated + tup_deleted)::text as w
    from pg_stat_database where datname = current_database()`.execute(stack.db.db)
  return { transactions: Number(r.rows[0]?.x ?? 0), rowsWritten: Number(r.rows[0]?.w ?? 0) }
}

export interface AgencyServiceSpec {
  id: string
  path: string
  maxBodyBytes?: number
  timeoutMs?: number
  documents?: string[]
}

export interface StackOptions {
  dir: string
  keep: boolean
  /** Backend the bench agency forwards to (gateway scenarios). */
  backendPort?: number
  /** Extra services of the bench agency, besides "/" (signed_in, openid profile, loa 1). */
  services?: AgencyServiceSpec[]
  /** Citizens to create (each concurrent sign-in uses its own: the per-account throttle counts in-flight attempts). */
  citizens: number
  poolMax?: number
}

export interface Stack {
  dir: string
  dbUrl: string
  configFile: string
  config: Config
  issuer: string
  idpPort: number
  gatewayPort: number
  gatewayUrl: string
  gatewayResource: string
  gatewaySecret: string
  /** A confidential web app with code flow, refresh tokens and the gateway resource. */
  app: { clientId: string; secret: string; redirectUri: string }
  /** A back-end client with client_credentials for the gateway resource. */
  service: { clientId: string; secret: string }
  citizens: { id: string; nik: string; password: string }[]
  db: DatabaseHandle
}

/** Writes the configuration, recreates and migrates the database, registers clients and citizens. */
export async function prepareStack(opts: StackOptions): Promise<Stack> {
  const dbUrl = await recreateDatabase(opts.keep)
  const idpPort = await freePort()
  const gatewayPort = await freePort()
  const issuer = `http://127.0.0.1:${idpPort}`
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
  const agenciesFile = path.join(opts.dir, 'agencies.yaml')
  const services: Record<string, unknown>[] = [
    {
      id: 'layanan',
      name: { id: 'Layanan uji', en: 'Bench service' },
      path: '/',
      access: 'signed_in',
      scopes: ['openid', 'profile'],
      minAcr: 'urn:satupintu:acr:pwd',
      purpose: { id: 'Uji kinerja', en: 'Benchmark' },
    },
  ]
  for (const s of opts.services ?? []) {
    services.push({
      id: s.id,
      name: { id: `Layanan ${s.id}`, en: `Service ${s.id}` },
      path: s.path,
      access: 'signed_in',
      scopes: ['openid', 'profile'],
      minAcr: 'urn:satupintu:acr:pwd',
      purpose: { id: 'Uji kinerja', en: 'Benchmark' },
      ...(s.maxBodyBytes === undefined ? {} : { maxBodyBytes: s.maxBodyBytes }),
      ...(s.timeoutMs === undefined ? {} : { timeoutMs: s.timeoutMs }),
      ...(s.documents === undefined ? {} : { documents: s.documents }),
    })
  }
  fs.writeFileSync(
    agenciesFile,
    toYaml({
      agencies: [
        {
          id: 'bench',
          name: { id: 'Dinas Uji Kinerja', en: 'Benchmark Agency' },
          upstream: `http://127.0.0.1:${opts.backendPort ?? 9}`,
          releaseNik: false,
          services,
        },
      ],
    }),
  )
  const configFile = path.join(opts.dir, 'satupintu.yaml')
  fs.writeFileSync(
    configFile,
    toYaml({
      dataDir: path.join(opts.dir, 'data'),
      log: { level: 'warn' },
      database: { url: dbUrl, poolMax: opts.poolMax ?? 10, autoMigrate: true },
      idp: { issuer, port: idpPort, gatewayResource: gatewayUrl },
      gateway: { publicUrl: gatewayUrl, port: gatewayPort, agenciesFile },
      secrets: { keyEncryptionKey: randomBytes(32).toString('base64url') },
    }),
  )
  const config = loadConfig({ env: { NODE_ENV: 'development', SATUPINTU_CONFIG: configFile } })
  const db = await openDatabase(config.database)
  onCleanup(() => db.close())
  await migrateToLatestOrThrow(db.db)

  // The gateway as a relying party (what `satupintu clients add` does for it on its own machines).
  const gw = prepareClient(gatewayClientInput(config), { allowLoopbackHttp: true })
  await insertClient(db.db, gw)
  const redirectUri = 'http://127.0.0.1:9/callback'
  const app = prepareClient(
    {
      clientId: 'bench-app',
      name: 'Aplikasi Uji Kinerja',
      agencyId: 'bench',
      redirectUris: [redirectUri],
      authMethod: 'client_secret_basic',
      scopes: ['openid', 'profile', 'offline_access'],
      grantTypes: ['authorization_code', 'refresh_token'],
      resources: [gatewayUrl],
    },
    { allowLoopbackHttp: true },
  )
  await insertClient(db.db, app)
  const service = prepareClient(
    {
      clientId: 'bench-service',
      name: 'Layanan Belakang Uji',
      agencyId: 'bench',
      redirectUris: [],
      authMethod: 'client_secret_basic',
      scopes: ['openid'],
      grantTypes: ['client_credentials'],
      resources: [gatewayUrl],
    },
    { allowLoopbackHttp: true },
  )
  await insertClient(db.db, service)

  const citizens: { id: string; nik: string; password: string }[] = []
  for (let i = 0; i < opts.citizens; i++) {
    const nik = `320101120190${String(i + 1).padStart(4, '0')}`
    const created = await createCitizen(
      db.db,
      {
        nik,
        name: 'Budi Santoso',
        birthDate: '1990-01-12',
        gender: 'male',
        email: `warga${i + 1}@contoh.id`,
        password: citizenPassword,
        regencyName: config.regency.name,
      },
      { actor: 'system' },
    )
    citizens.push({ id: created.id, nik, password: citizenPassword })
  }
  return {
    dir: opts.dir,
    dbUrl,
    configFile,
    config,
    issuer,
    idpPort,
    gatewayPort,
    gatewayUrl,
    gatewayResource: gatewayUrl,
    gatewaySecret: gw.secret as string,
    app: { clientId: app.clientId, secret: app.secret as string, redirectUri },
    service: { clientId: service.clientId, secret: service.secret as string },
    citizens,
    db,
  }
}

export interface ServiceStart {
  cpus: string | undefined
  /** LOG_LEVEL for the process (default warn: see bench/README.md). */
  logLevel?: string
  /** Where its output goes (default a file in the run folder). */
  logFile?: string
  /** Extra arguments for node (e.g. --cpu-prof). */
  nodeArgs?: string[]
  port?: number
  env?: Record<string, string>
  name?: string
}

function serviceEnv(stack: Stack, s: ServiceStart): Record<string, string> {
  return {
    NODE_ENV: 'development',
    SATUPINTU_CONFIG: stack.configFile,
    LOG_LEVEL: s.logLevel ?? 'warn',
    ...(s.port === undefined ? {} : { PORT: String(s.port) }),
    ...s.env,
  }
}

export async function startIdp(stack: Stack, s: ServiceStart & { threadpool: number }): Promise<Proc> {
  const name = s.name ?? 'idp'
  const proc = startProcess(
    name,
    nodeBin,
    [...(s.nodeArgs ?? []), path.join(projectRoot, 'bin', 'satupintu.js'), 'idp'],
    {
      cpus: s.cpus,
      env: { ...serviceEnv(stack, s), UV_THREADPOOL_SIZE: String(s.threadpool) },
      logFile: s.logFile ?? path.join(stack.dir, `${name}.log`),
    },
  )
  await waitForHttp(`http://127.0.0.1:${s.port ?? stack.idpPort}/readyz`, proc, 90_000)
  return proc
}

export async function startGateway(stack: Stack, s: ServiceStart): Promise<Proc> {
  const name = s.name ?? 'gateway'
  const proc = startProcess(
    name,
    nodeBin,
    [...(s.nodeArgs ?? []), path.join(projectRoot, 'bin', 'satupintu.js'), 'gateway'],
    {
      cpus: s.cpus,
      env: { ...serviceEnv(stack, s), GATEWAY_CLIENT_SECRET: stack.gatewaySecret },
      logFile: s.logFile ?? path.join(stack.dir, `${name}.log`),
    },
  )
  await waitForHttp(`http://127.0.0.1:${s.port ?? stack.gatewayPort}/readyz`, proc, 90_000)
  return proc
}
