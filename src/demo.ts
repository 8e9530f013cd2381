import type { Kysely } from 'kysely'
import { createCitizen, findCitizenByIdentifier } from './accounts/citizens.ts'
import { markEmailVerified } from './accounts/citizens.ts'
import { addCounter } from './accounts/counters.ts'
import { ensureOfficerTotpForDemo } from './accounts/officer-factors.ts'
import { createOfficer, findOfficerByUsername } from './accounts/officers.ts'
import type { SecretSealer } from './accounts/second-factors.ts'
import { totpUri } from './accounts/totp.ts'
import type { Config } from './config/schema.ts'
import type { Database } from './db/database.ts'
import { findClient, prepareClient, rotateClientSecret, upsertClient } from './idp/oidc/clients.ts'
import { documentsResource, gatewayResource } from './idp/oidc/provider.ts'

/**
 * Demo data for the quick start only (config `demo`, refused in production): a relying
 * party for the demo agency's direct OIDC sign-in, one demo citizen and one demo officer
 * whose credentials are printed at start-up.
 */
export const demoCitizen = {
  nik: '3201011201900001',
  name: 'Budi Santoso',
  birthDate: '1990-01-12',
  gender: 'male',
  email: 'budi@contoh.id',
  password: 'kopi tubruk di teras rumah',
} as const

/**
 * The demo officer, already enrolled with an authenticator app whose key is printed (and
 * in README.md): a developer adds the key to an app (or runs `oathtool --totp -b <key>`)
 * and signs in at /petugas/masuk at once. The key is public, like the password: demo only
 * (config `demo` is refused in production). `satupintu officers reset-factors petugas.demo`
 * shows the enrolment a real officer goes through.
 */
export const demoOfficer = {
  username: 'petugas.demo',
  name: 'Sri Wahyuni',
  roles: ['counter_officer'],
  password: 'loket tiga melayani warga',
  totpSecret: 'JBSWY3DPEHPK3PXPSATUPINTUDEMO234',
} as const

/**
 * The demo counter, next to the demo officer: after signing in at /petugas/masuk, the demo
 * officer chooses it at /petugas/loket to reach the counter functions.
 */
export const demoCounter = {
  name: 'Loket 3',
  location: 'MPP Kabupaten Sukamaju',
  unit: 'Disdukcapil',
} as const

export const demoClientId = 'dinas-contoh-demo'

/** The service of the demo client that asks for documents through the idp. */
export const demoDocumentService = 'izin-usaha'

/** The demo agency's backend as a client-credentials client (fetches document links). */
export const demoBackendClientId = 'dinas-contoh-backend'

export interface DemoData {
  clientId: string
  clientSecret: string
  /** The demo agency backend's client (config/agencies.yaml lists it under dinas-contoh). */
  backendClientId: string
  backendClientSecret: string
  citizen: { nik: string; email: string; password: string }
  officer: { username: string; password: string; totpSecret: string; totpUri: string }
  counter: { id: string; name: string; location: string }
}

export async function ensureDemoData(
  db: Kysely<Database>,
  config: Config,
  demoAgencyUrl: string,
  sealer: SecretSealer,
): Promise<DemoData> {
  const prepared = prepareClient(
    {
      clientId: demoClientId,
      name: 'Dinas Contoh (demo)',
      agencyId: 'dinas-contoh',
      redirectUris: [`${demoAgencyUrl}/oidc/callback`, `${demoAgencyUrl}/oidc-langsung/dokumen`],
      // Where the idp's sign-out question comes back to (examples/demo-agency signedOutPath).
      postLogoutRedirectUris: [`${demoAgencyUrl}/`, `${demoAgencyUrl}/keluar/selesai`],
      authMethod: 'client_secret_basic',
      scopes: ['openid', 'profile', 'email'],
      // The direct integration's document request (the idp's /izin-dokumen asks the citizen).
      documentServices: [
        {
          id: demoDocumentService,
          name: { id: 'Izin usaha mikro', en: 'Micro business permit' },
          documents: ['ktp'],
          purpose: {
            id: 'Memeriksa identitas pemohon izin usaha mikro',
            en: 'To check the identity of the micro business permit applicant',
          },
        },
      ],
    },
    { allowLoopbackHttp: true, documentTypes: config.documents.types.map((t) => t.id) },
  )
  const existing = await findClient(db, demoClientId)
  await upsertClient(db, existing ? { ...prepared, secret: undefined } : prepared, 'demo')
  // The secret is only ever held as a digest: issue a fresh one for this run.
  const clientSecret = (await rotateClientSecret(db, demoClientId)) as string

  const backend = prepareClient(
    {
      clientId: demoBackendClientId,
      name: 'Dinas Contoh (sistem internal, demo)',
      agencyId: 'dinas-contoh',
      redirectUris: [],
      authMethod: 'client_secret_basic',
      scopes: ['openid'],
      grantTypes: ['client_credentials'],
      // Fetches links the gateway attaches, and links the idp lists for the direct integration.
      resources: [gatewayResource(config), documentsResource(config)],
    },
    { allowLoopbackHttp: true },
  )
  const existingBackend = await findClient(db, demoBackendClientId)
  await upsertClient(db, existingBackend ? { ...backend, secret: undefined } : backend, 'demo')
  const backendClientSecret = (await rotateClientSecret(db, demoBackendClientId)) as string

  const found = await findCitizenByIdentifier(db, { kind: 'nik', value: demoCitizen.nik })
  if (!found) {
    const c = await createCitizen(db, { ...demoCitizen, regencyName: config.regency.name }, { actor: 'system' })
    await markEmailVerified(db, c.id, demoCitizen.email)
  }
  let officer = await findOfficerByUsername(db, demoOfficer.username)
  if (!officer) {
    officer = await createOfficer(
      db,
      { ...demoOfficer, roles: [...demoOfficer.roles], regencyName: config.regency.name },
      { actor: 'system' },
    )
  }
  await ensureOfficerTotpForDemo(db, sealer, officer.id, demoOfficer.totpSecret)
  // One demo counter, kept across starts (a new one if someone disabled it).
  let counter = await db
    .selectFrom('counters')
    .selectAll()
    .where('name', '=', demoCounter.name)
    .where('location', '=', demoCounter.location)
    .where('status', '=', 'active')
    .executeTakeFirst()
  if (!counter) counter = await addCounter(db, demoCounter)

  return {
    clientId: demoClientId,
    clientSecret,
    backendClientId: demoBackendClientId,
    backendClientSecret,
    citizen: { nik: demoCitizen.nik, email: demoCitizen.email, password: demoCitizen.password },
    officer: {
      username: demoOfficer.username,
      password: demoOfficer.password,
      totpSecret: demoOfficer.totpSecret,
      totpUri: totpUri(demoOfficer.totpSecret, demoOfficer.username),
    },
    counter: { id: counter.id, name: counter.name, location: counter.location },
  }
}
