/**
 * docs/reference.md's tables marked "(checked)" are the truth: the scopes and claims against a
 * running idp (discovery, a real sign-in's ID token and userinfo), the lifetimes against the
 * configuration's defaults. A change to either side that the other does not follow fails here.
 */
import fs from 'node:fs'
import path from 'node:path'
import { decodeJwt } from 'jose'
import t from 'tap'
import { loadConfig } from '../../src/config/load.ts'
import { proveIdentityInPerson } from '../../src/accounts/identity.ts'
import { createOfficer } from '../../src/accounts/officers.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { freshDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, registerClient, startIdp } from '../helpers/idp.ts'
import { projectRoot } from '../helpers/process.ts'

const doc = fs.readFileSync(path.join(projectRoot, 'docs', 'reference.md'), 'utf8')

/** The rows of the first table after `heading`, as cells with backticks removed. */
function table(heading: string): string[][] {
  const start = doc.indexOf(heading)
  if (start < 0) throw new Error(`docs/reference.md has no "${heading}"`)
  const lines = doc.slice(start).split('\n')
  const first = lines.findIndex((l) => l.startsWith('|'))
  const rows: string[][] = []
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    )
  }
  return rows
}
const codes = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)

t.test('the scopes and claims in docs/reference.md are what the idp answers', async (t) => {
  const scopes = new Map(table('## Scopes and claims').map((r) => [codes(r[0] ?? '')[0] ?? '', codes(r[1] ?? '')]))
  const idTokenClaims = table('### The ID token').flatMap((r) => codes(r[0] ?? ''))

  const db = await freshDatabase(t, 'pglite')
  const citizen = await addCitizen(db.db)
  // Proven at the counter: only then are the NIK and verified claims released.
  const officer = await createOfficer(db.db, {
    username: 'petugas.rina',
    name: 'Rina Petugas',
    roles: ['counter_officer'],
    password: 'meja loket nomor tiga biru',
    regencyName: 'Sukamaju',
  })
  await proveIdentityInPerson(db.db, {
    citizenId: citizen.id,
    officerId: officer.id,
    location: 'MPP Sukamaju, loket 2',
    evidence: 'ktp_el',
  })
  const idp = await startIdp(t, db)
  const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
    scopes_supported: string[]
    claims_supported: string[]
    userinfo_endpoint: string
  }
  t.same(
    [...scopes.keys()].sort(),
    [...discovery.scopes_supported].sort(),
    'every scope the idp supports is in the table, and no other',
  )
  const documented = new Set([...[...scopes.values()].flat(), ...idTokenClaims])
  for (const c of discovery.claims_supported) t.ok(documented.has(c), `claim ${c} is documented`)

  const redirectUri = 'http://127.0.0.1:9/cb'
  const client = await registerClient(db, {
    redirectUris: [redirectUri],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['openid', 'profile', 'email', 'phone', 'nik', 'verified_claims', 'offline_access'],
  })
  const asked = ['openid', 'profile', 'email', 'phone', 'nik', 'verified_claims']
  const tokens = await codeFlowTokens(idp.issuer, { clientId: client.clientId, secret: client.secret }, new Browser(), {
    redirectUri,
    credentials: { username: budi.nik, password: budi.password },
    scope: asked.join(' '),
  })
  const userinfo = (await (
    await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  ).json()) as Record<string, unknown>
  // Budi has no locale and no address: those are left out, as the doc says.
  const expected = asked.flatMap((s) => scopes.get(s) ?? []).filter((c) => c !== 'locale' && c !== 'address')
  t.same(
    Object.keys(userinfo).sort(),
    [...new Set(expected)].sort(),
    'userinfo answers exactly the documented claims of the scopes asked for',
  )

  const idToken = decodeJwt(tokens.id_token ?? '')
  // Without a nonce sent and without a back-channel logout URI, nonce and sid are absent.
  t.same(
    Object.keys(idToken).sort(),
    idTokenClaims.filter((c) => c !== 'nonce' && c !== 'sid').sort(),
    'the ID token carries exactly the documented claims',
  )
  t.notOk('name' in idToken, 'the profile comes from userinfo, not the ID token')
})

t.test('the lifetimes in docs/reference.md are the configuration defaults', async (t) => {
  const config = loadConfig({ env: { NODE_ENV: 'development' } }) as unknown as Record<string, unknown>
  const rows = table('## Lifetimes')
  t.ok(rows.length >= 10, 'the table has its rows')
  for (const [what, setting, value] of rows) {
    const key = codes(setting ?? '')[0] ?? ''
    const actual = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], config)
    t.equal(`${String(actual)} s`, (value ?? '').replace(/ \(.*\)$/, ''), `${what}: ${key}`)
  }
})

t.test("the rate limits in docs/reference.md are the code's and the configuration's defaults", async (t) => {
  const { defaultThrottlePolicy, defaultSignInPolicy, unknownSourceCap } = await import(
    '../../src/accounts/throttle.ts'
  )
  const { defaultOtpPolicy } = await import('../../src/accounts/otp.ts')
  const config = loadConfig({ env: {} })
  const actual: Record<string, number> = {
    'defaultThrottlePolicy.account.lockAfterFailures': defaultThrottlePolicy.account.lockAfterFailures,
    'defaultThrottlePolicy.account.baseLockSeconds': defaultThrottlePolicy.account.baseLockSeconds,
    'defaultThrottlePolicy.account.maxLockSeconds': defaultThrottlePolicy.account.maxLockSeconds,
    'defaultThrottlePolicy.source.maxFailures': defaultThrottlePolicy.source.maxFailures,
    'defaultThrottlePolicy.source.windowSeconds': defaultThrottlePolicy.source.windowSeconds,
    'unknownSourceCap(defaultSignInPolicy)': unknownSourceCap(defaultSignInPolicy),
    'defaultSignInPolicy.deviceMaxFailures': defaultSignInPolicy.deviceMaxFailures,
    'defaultSignInPolicy.maxConsecutiveFailures': defaultSignInPolicy.maxConsecutiveFailures,
    'idp.rateLimits.registrationsPerAddressPerHour': config.idp.rateLimits.registrationsPerAddressPerHour,
    'idp.rateLimits.codeRequestsPerAddressPerHour': config.idp.rateLimits.codeRequestsPerAddressPerHour,
    'defaultOtpPolicy.lifetimeSeconds': defaultOtpPolicy.lifetimeSeconds,
    'defaultOtpPolicy.maxAttempts': defaultOtpPolicy.maxAttempts,
    'defaultOtpPolicy.resendAfterSeconds': defaultOtpPolicy.resendAfterSeconds,
    'defaultOtpPolicy.maxPerHour': defaultOtpPolicy.maxPerHour,
    'defaultOtpPolicy.maxResetsPerCitizenPerHour': defaultOtpPolicy.maxResetsPerCitizenPerHour,
  }
  const rows = table('## Rate limits')
  t.equal(rows.length, Object.keys(actual).length, 'one row for each limit')
  for (const row of rows) {
    const source = codes(row[2] ?? '')[0] ?? ''
    const value = Number(codes(row[1] ?? '')[0])
    t.equal(value, actual[source], `${row[0]}: ${source}`)
  }
})
