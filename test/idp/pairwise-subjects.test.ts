/**
 * Pairwise subject identifiers (OpenID Connect Core §8.1, issue 21): agencies in different
 * sectors cannot link a citizen by `sub`, not even one that also knows the public
 * subject and every public value; a sector's subject never changes across restarts and
 * instances; a registration whose sector cannot be told is refused.
 */
import { createHash, createHmac } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { decodeJwt } from 'jose'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { Agent, fetch as undiciFetch } from 'undici'
import { ClientError, prepareClient, type ClientInput, type ClientPolicy } from '../../src/idp/oidc/clients.ts'
import { createMigrator } from '../../src/db/migrator.ts'
import { verifySectorIdentifier } from '../../src/idp/oidc/sector-identifier.ts'
import { pairwiseSecretName, sectorOf } from '../../src/idp/oidc/subjects.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, registerClient, startIdp, testKek } from '../helpers/idp.ts'
import { listenOnAnyPort } from '../helpers/process.ts'

const development: ClientPolicy = { allowLoopbackHttp: true }
const credentials = { username: budi.nik, password: budi.password }

/** An agency's client: not first-party, so pairwise by default. */
function agency(redirectUris: string[], extra: Partial<ClientInput> = {}) {
  return { redirectUris, firstParty: false, ...extra }
}

/** The `sub` of the ID token a client gets for Budi through the code flow. */
async function subFor(
  issuer: string,
  client: { clientId: string; secret: string | undefined },
  redirectUri: string,
  browser = new Browser(),
): Promise<string> {
  const tokens = await codeFlowTokens(issuer, client, browser, { redirectUri, credentials })
  return String(decodeJwt(tokens.id_token ?? '').sub)
}

function refusal(input: Partial<ClientInput> & { redirectUris: string[] }): ClientError | undefined {
  try {
    prepareClient(
      { name: 'Dinas Uji', agencyId: 'dinas-uji', authMethod: 'client_secret_basic', ...input },
      development,
    )
    return undefined
  } catch (err) {
    if (err instanceof ClientError) return err
    throw err
  }
}

/** A self-signed certificate for 127.0.0.1: sector_identifier_uri is https only (OIDC Core §8.1). */
function selfSigned(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sector-tls-'))
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    )
    return {
      key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
      cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
const tls = selfSigned()
const trustingAgent = new Agent({ connect: { ca: tls.cert } })
/** A fetch that trusts the test's certificate, as a real one is trusted in production. */
const trustingFetch = (url: string, init: RequestInit) =>
  undiciFetch(url, { ...(init as object), dispatcher: trustingAgent }) as unknown as Promise<Response>

/** A tiny https server for sector_identifier_uri documents on 127.0.0.1: path → [status, body]. */
async function sectorServer(
  t: Test,
  routes: Record<string, [number, string, Record<string, string>?]>,
): Promise<string> {
  const server = https.createServer(tls, (req, res) => {
    const route = routes[req.url ?? '']
    if (route === undefined) {
      res.writeHead(404).end('not found')
      return
    }
    res.writeHead(route[0], { 'content-type': 'application/json', ...route[2] }).end(route[1])
  })
  const port = await listenOnAnyPort(server)
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `https://127.0.0.1:${port}`
}

t.test('two pairwise sectors get different subjects for one citizen, and one sector gets one subject', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const a = await registerClient(db, agency(['https://layanan.disdukcapil.example.go.id/cb']))
    const a2 = await registerClient(db, agency(['https://layanan.disdukcapil.example.go.id/lain']))
    const b = await registerClient(db, agency(['https://perizinan.dpmptsp.example.go.id/cb']))
    t.equal(a.metadata.subject_type, 'pairwise', "an agency's client is pairwise by default")

    const browser = new Browser()
    const subA = await subFor(issuer, a, 'https://layanan.disdukcapil.example.go.id/cb', browser)
    const subA2 = await subFor(issuer, a2, 'https://layanan.disdukcapil.example.go.id/lain', browser)
    const subB = await subFor(issuer, b, 'https://perizinan.dpmptsp.example.go.id/cb', browser)
    t.not(subA, subB, 'two sectors see two different subjects')
    t.not(subA, citizen.id, 'neither is the account id')
    t.not(subB, citizen.id, 'neither is the account id')
    t.equal(subA2, subA, 'two clients of one sector see the same subject')
    t.match(subA, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit identifier, base64url')
  })
})

t.test('knowing a public subject and every public value does not let anyone recompute a pairwise one', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db)
    const redirectUri = 'https://layanan.disdukcapil.example.go.id/cb'
    const firstParty = await registerClient(db, { redirectUris: ['https://portal.example.go.id/cb'], firstParty: true })
    const pairwise = await registerClient(db, agency([redirectUri]))
    const browser = new Browser()
    const publicSub = await subFor(issuer, firstParty, 'https://portal.example.go.id/cb', browser)
    const pairwiseSub = await subFor(issuer, pairwise, redirectUri, browser)

    // Everything an agency with a first-party-like view could know.
    const sector = 'layanan.disdukcapil.example.go.id'
    const publicValues = [
      issuer,
      `${issuer}/`,
      sector,
      redirectUri,
      pairwise.clientId,
      'dinas-uji',
      firstParty.clientId,
      publicSub,
      '',
    ]
    const guesses = new Set<string>()
    // The derivation this replaced: SHA-256 over sector, account id and the issuer.
    guesses.add(createHash('sha256').update(`${sector}\u0000${publicSub}\u0000${issuer}`).digest('base64url'))
    for (const key of publicValues) {
      for (const data of [
        `${sector}\u0000${publicSub}`,
        `satupintu pairwise subject v1\u0000${sector}\u0000${publicSub}`,
        `${publicSub}\u0000${sector}`,
      ]) {
        guesses.add(
          createHmac('sha256', key === '' ? Buffer.alloc(32) : key)
            .update(data)
            .digest('base64url'),
        )
        guesses.add(createHash('sha256').update(`${data}\u0000${key}`).digest('base64url'))
      }
    }
    t.notOk(
      guesses.has(pairwiseSub),
      `none of ${guesses.size} computations over public values gives the pairwise subject`,
    )

    // It is the documented HMAC under the deployment's own secret, which is stored encrypted.
    const row = await db.db
      .selectFrom('deployment_secrets')
      .selectAll()
      .where('name', '=', pairwiseSecretName)
      .executeTakeFirstOrThrow()
    const secret = Buffer.from(testKek.decrypt(row.secret_enc, `deployment-secret:${pairwiseSecretName}`), 'base64url')
    t.equal(secret.length, 32, 'a 256-bit random secret')
    t.notOk(row.secret_enc.includes(secret.toString('base64url')), 'not stored in the clear')
    t.equal(
      createHmac('sha256', secret)
        .update(`satupintu pairwise subject v1\u0000${sector}\u0000${publicSub}`)
        .digest('base64url'),
      pairwiseSub,
      'only the holder of the secret computes it',
    )
  })
})

t.test('the same sector always gets the same subject across restarts and instances', async (t) => {
  await eachDatabase(t, async (t, db) => {
    // Two instances starting together on a database that has no secret yet.
    const [one, two] = await Promise.all([startIdp(t, db), startIdp(t, db)])
    await addCitizen(db.db)
    const redirectUri = 'https://layanan.disdukcapil.example.go.id/cb'
    const client = await registerClient(db, agency([redirectUri]))
    const onOne = await subFor(one.issuer, client, redirectUri)
    const onTwo = await subFor(two.issuer, client, redirectUri)
    t.equal(onTwo, onOne, 'both instances give the same subject')
    const secrets = await db.db.selectFrom('deployment_secrets').select('name').execute()
    t.same(secrets, [{ name: pairwiseSecretName }], 'one secret, made once')

    await one.app.close()
    await two.app.close()
    const again = await startIdp(t, db)
    t.equal(await subFor(again.issuer, client, redirectUri), onOne, 'a restarted idp gives the same subject')
  })
})

t.test('a registration whose redirect URIs span hosts without a sector identifier is refused', async (t) => {
  const twoHosts = ['https://layanan.disdukcapil.example.go.id/cb', 'https://m.disdukcapil.example.go.id/cb']
  const err = refusal(agency(twoHosts))
  t.equal(err?.field, 'redirect_uris')
  t.match(err?.message ?? '', /span more than one host .*sector_identifier_uri/)
  t.match(
    refusal(agency(['https://a.example.go.id/cb', 'https://a.example.go.id:8443/cb']))?.message ?? '',
    /more than one host/,
    'another port is another host',
  )
  t.equal(
    refusal(agency(twoHosts, { sectorIdentifierUri: 'https://disdukcapil.example.go.id/sector.json' })),
    undefined,
    'with a sector identifier it is accepted',
  )
  t.equal(
    refusal(agency(['https://a.example.go.id/cb', 'https://a.example.go.id/cb2'])),
    undefined,
    'one host needs no sector identifier',
  )
  for (const uri of ['http://disdukcapil.example.go.id/s.json', 'http://127.0.0.1:8080/s.json']) {
    t.match(
      refusal(agency(['https://a.example.go.id/cb'], { sectorIdentifierUri: uri }))?.message ?? '',
      /must use https/,
      `refuses ${uri}, also in development`,
    )
  }
  t.equal(
    sectorOf({
      subject_type: 'pairwise',
      redirect_uris: twoHosts,
      sector_identifier_uri: 'https://disdukcapil.example.go.id/sector.json',
    }),
    'disdukcapil.example.go.id',
  )
})

t.test('public subjects are only for first-party clients; agencies are pairwise by default', async (t) => {
  const uris = ['https://layanan.disdukcapil.example.go.id/cb']
  const err = refusal({ redirectUris: uris, subjectType: 'public' })
  t.equal(err?.field, 'subject_type')
  t.match(err?.message ?? '', /only for the regency's own first-party clients/)
  const agencyClient = prepareClient(
    { name: 'Dinas Uji', agencyId: 'dinas-uji', authMethod: 'none', redirectUris: uris },
    development,
  )
  t.equal(agencyClient.metadata.subject_type, 'pairwise')
  t.equal(agencyClient.metadata['urn:satupintu:first_party'], false)
  const own = prepareClient(
    { name: 'Portal', agencyId: 'satupintu', authMethod: 'none', redirectUris: uris, firstParty: true },
    development,
  )
  t.equal(own.metadata.subject_type, 'public', 'a first-party client sees the account id by default')
  t.equal(own.metadata['urn:satupintu:first_party'], true)
  const machine = prepareClient(
    {
      name: 'Sistem',
      agencyId: 'dinas-uji',
      authMethod: 'client_secret_basic',
      redirectUris: [],
      grantTypes: ['client_credentials'],
    },
    development,
  )
  t.equal(
    machine.metadata.subject_type,
    'public',
    'a machine client receives no citizen subject (its own id is its sub)',
  )
  t.equal(
    refusal({ redirectUris: [], grantTypes: ['client_credentials'], subjectType: 'pairwise' })?.field,
    'subject_type',
  )
})

t.test('a sector_identifier_uri is fetched at registration and must list every redirect URI', async (t) => {
  const redirectUris = ['https://layanan.disdukcapil.example.go.id/cb', 'https://m.disdukcapil.example.go.id/cb']
  const base = await sectorServer(t, {
    '/ok.json': [200, JSON.stringify([...redirectUris, 'https://other.disdukcapil.example.go.id/cb'])],
    '/missing.json': [200, JSON.stringify([redirectUris[0]])],
    '/object.json': [200, JSON.stringify({ redirect_uris: redirectUris })],
    '/numbers.json': [200, '[1, 2]'],
    '/broken.json': [200, '[not json'],
    '/error.json': [500, '[]'],
    '/moved.json': [302, '', { location: '/ok.json' }],
    '/huge.json': [200, JSON.stringify(Array.from({ length: 5000 }, (_, i) => `https://a.example.go.id/${i}`))],
  })
  const check = async (path: string) => {
    const prepared = prepareClient(
      {
        name: 'Dinas Uji',
        agencyId: 'dinas-uji',
        authMethod: 'none',
        redirectUris,
        sectorIdentifierUri: `${base}${path}`,
      },
      development,
    )
    try {
      await verifySectorIdentifier(prepared.metadata, { fetch: trustingFetch })
      return 'accepted'
    } catch (err) {
      if (!(err instanceof ClientError)) throw err
      t.equal(err.field, 'sector_identifier_uri')
      return err.message
    }
  }
  t.equal(await check('/ok.json'), 'accepted', 'a document listing every redirect URI')
  t.match(await check('/missing.json'), /does not list every redirect URI .*missing: https:\/\/m\.disdukcapil/)
  t.match(await check('/object.json'), /must answer a JSON array/)
  t.match(await check('/numbers.json'), /must answer a JSON array/)
  t.match(await check('/broken.json'), /is not a JSON document/)
  t.match(await check('/error.json'), /answered 500/)
  t.match(await check('/moved.json'), /cannot fetch/, 'a redirect is not followed')
  t.match(await check('/huge.json'), /larger than 65536 bytes/)
  t.match(await check('/absent.json'), /answered 404/)
  t.match(
    await (async () => {
      try {
        await verifySectorIdentifier({ sector_identifier_uri: `${base}/ok.json`, redirect_uris: redirectUris })
        return 'accepted'
      } catch (err) {
        return (err as Error).message
      }
    })(),
    /cannot fetch/,
    'a certificate nobody trusts is refused',
  )
})

t.test('a client with a sector identifier sees one subject at all its redirect hosts', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db)
    const redirectUris = ['https://layanan.disdukcapil.example.go.id/cb', 'https://m.disdukcapil.example.go.id/cb']
    const base = await sectorServer(t, { '/sector.json': [200, JSON.stringify(redirectUris)] })
    const client = await registerClient(db, agency(redirectUris, { sectorIdentifierUri: `${base}/sector.json` }))
    await verifySectorIdentifier(client.metadata, { fetch: trustingFetch })
    const browser = new Browser()
    const first = await subFor(issuer, client, redirectUris[0] as string, browser)
    const second = await subFor(issuer, client, redirectUris[1] as string, browser)
    t.equal(second, first, 'one sector, one subject')
    const other = await registerClient(db, agency(['https://layanan.disdukcapil.example.go.id/cb']))
    t.not(
      await subFor(issuer, other, redirectUris[0] as string, browser),
      first,
      "the sector is the sector identifier's host, not a redirect host",
    )
  })
})

t.test(
  'upgrading makes existing public agency clients pairwise and leaves first-party and machine clients alone',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const migrator = createMigrator(db.db)
      const names = (await migrator.getMigrations()).map((m) => m.name)
      const previous = names[names.indexOf('20261201T2150-deployment-secrets') - 1] as string
      const before = await migrator.migrateTo(previous)
      t.notOk(before.error, 'migrated down to the version before')
      const old = (id: string, metadata: Record<string, unknown>, source = 'cli') =>
        sql`insert into oidc_clients (client_id, agency_id, name, metadata, source) values (${id}, 'dinas-uji', 'Uji', ${JSON.stringify(metadata)}, ${source})`.execute(
          db.db,
        )
      await old('agency-public', {
        subject_type: 'public',
        response_types: ['code'],
        redirect_uris: ['https://a.example.go.id/cb'],
      })
      await old('agency-unset', { response_types: ['code'], redirect_uris: ['https://a.example.go.id/cb'] })
      await old('agency-pairwise', {
        subject_type: 'pairwise',
        response_types: ['code'],
        redirect_uris: ['https://a.example.go.id/cb'],
      })
      await old('machine', { subject_type: 'public', response_types: [], redirect_uris: [] })
      await old(
        'portal',
        { subject_type: 'public', response_types: ['code'], redirect_uris: ['https://p.example.go.id/cb'] },
        'system',
      )
      const after = await migrator.migrateToLatest()
      t.notOk(after.error, 'migrated up again')
      const rows = await db.db
        .selectFrom('oidc_clients')
        .select(['client_id', 'metadata'])
        .orderBy('client_id')
        .execute()
      t.same(Object.fromEntries(rows.map((r) => [r.client_id, r.metadata.subject_type ?? null])), {
        'agency-pairwise': 'pairwise',
        'agency-public': 'pairwise',
        'agency-unset': 'pairwise',
        machine: 'public',
        portal: 'public',
      })
    })
  },
)
