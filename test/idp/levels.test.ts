// The levels of sign-in (src/idp/oidc/levels.ts) and the gateway's copy of them as a contract.
import t from 'tap'
import { acrLevel, knownAcrValues, levelShortfall, maxAgeFor, standingLevel } from '../../src/gateway/auth/identity.ts'
import {
  acr,
  acrAliases,
  acrRank,
  acrValuesSupported,
  effectiveRank,
  requiredRank,
  sessionLastUsedAt,
} from '../../src/idp/oidc/levels.ts'

t.test('three levels in order, and the first release’s names as their aliases', async (t) => {
  t.equal(acrRank(acr.pwd), 1)
  t.equal(acrRank(acr.mfa), 2)
  t.equal(acrRank(acr.phr), 3)
  t.equal(acrRank('urn:satupintu:loa:1'), 1)
  t.equal(acrRank('urn:satupintu:loa:2'), 2)
  t.equal(acrRank('urn:satupintu:loa:3'), 3)
  for (const bad of ['', 'urn:satupintu:loa:4', 'urn:satupintu:acr:PWD', 'mfa', undefined, 2]) t.equal(acrRank(bad), 0)
})

t.test('the gateway reads every level the idp advertises exactly as the idp ranks it', async (t) => {
  t.same([...knownAcrValues].sort(), [...acrValuesSupported].sort())
  for (const v of acrValuesSupported) t.equal(acrLevel(v), acrRank(v), v)
  for (const [old, now] of Object.entries(acrAliases)) t.equal(acrLevel(old), acrLevel(now))
})

t.test('the bar a request sets: the lowest level its acr_values lists', async (t) => {
  t.equal(requiredRank({}), 0, 'nothing asked')
  t.equal(requiredRank({ acr_values: acr.mfa }), 2)
  t.equal(requiredRank({ acr_values: `${acr.phr} ${acr.mfa}` }), 2, 'either would do: the lower is the bar')
  t.equal(requiredRank({ acr_values: acr.phr }), 3)
  t.equal(requiredRank({ acr_values: 'urn:satupintu:loa:2' }), 2, 'old names still work')
  t.equal(requiredRank({ acr_values: `urn:other:gold ${acr.mfa}` }), 2, 'unknown values are skipped')
  t.equal(requiredRank({ acr_values: 'urn:other:gold' }), 0, 'unknown values cannot be given and set no bar')
  t.equal(requiredRank({ acr_values: 42 }), 0)
})

t.test('names an object inherits are no level, on either side', async (t) => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    t.equal(acrRank(name), 0, `idp: ${name}`)
    t.equal(acrLevel(name), 0, `gateway: ${name}`)
  }
})

t.test('an elevated level lasts a bounded time, then falls back (SP 800-63B-4 limits)', async (t) => {
  const limits = { phrSeconds: 900, mfaSeconds: 43_200, mfaIdleSeconds: 1_800 }
  const at = 1_800_000_000
  const rank = (a: string, age: number, idle?: number) =>
    effectiveRank(
      { acr: a, authTime: at, lastUsedAt: idle === undefined ? undefined : at + age - idle },
      limits,
      at + age,
    )
  t.equal(rank(acr.phr, 0), 3, 'phr just after the sign-in')
  t.equal(rank(acr.phr, 899), 3, 'phr until its 15 minutes')
  t.equal(rank(acr.phr, 900), 2, 'then two factors')
  t.equal(rank(acr.mfa, 900), 2, 'mfa is not touched by the phr limit')
  t.equal(rank(acr.mfa, 43_199, 0), 2, 'mfa while used, up to 12 hours')
  t.equal(rank(acr.mfa, 43_200, 0), 1, 'then the password level')
  t.equal(rank(acr.phr, 43_200, 0), 1, 'phr falls all the way too')
  t.equal(rank(acr.mfa, 3_600, 1_799), 2, 'idle just under 30 minutes')
  t.equal(rank(acr.mfa, 3_600, 1_800), 1, 'idle 30 minutes: password level')
  t.equal(rank(acr.phr, 2_000, 1_800), 1, 'the idle limit brings phr down to the password level too')
  t.equal(rank(acr.pwd, 10 * 86_400, 10 * 86_400), 1, 'the password level never falls lower')
  t.equal(rank('urn:satupintu:loa:2', 43_200), 1, 'old names fall the same way')
  t.equal(effectiveRank({ acr: acr.phr, authTime: undefined }, limits, at), 1, 'no sign-in time: no elevation')
  t.equal(effectiveRank({ acr: 'nonsense', authTime: at }, limits, at), 0, 'an unknown level stays none')
  // A last use recorded before the sign-in (an old session re-entered) counts from the sign-in.
  t.equal(effectiveRank({ acr: acr.mfa, authTime: at, lastUsedAt: at - 5_000 }, limits, at + 60), 2)
})

t.test('a session last used: its expiry less the idle lifetime', async (t) => {
  t.equal(sessionLastUsedAt(1_000_000, 3_600), 996_400)
  t.equal(sessionLastUsedAt(undefined, 3_600), undefined)
  t.equal(sessionLastUsedAt('1000', 3_600), undefined)
})

t.test('the gateway lets a level fall exactly as the idp does', async (t) => {
  const limits = { phrSeconds: 900, mfaSeconds: 43_200, mfaIdleSeconds: 1_800 }
  const at = 1_800_000_000
  const ages = [0, 899, 900, 1_799, 1_800, 43_199, 43_200, 90_000]
  for (const level of [...acrValuesSupported, 'urn:satupintu:loa:2', 'nonsense'])
    for (const age of ages)
      for (const idle of [undefined, 0, 1_799, 1_800]) {
        const lastUsedAt = idle === undefined ? undefined : at + age - idle
        const idp = effectiveRank({ acr: level, authTime: at, lastUsedAt }, limits, at + age)
        const identity = {
          via: 'session',
          sub: 's',
          acr: level,
          authTime: at,
          lastUsedAt,
          amr: [],
          scopes: [],
          claims: {},
          clientId: undefined,
          audience: [],
          sessionId: 'x',
        } as const
        t.equal(standingLevel(identity, limits, at + age), idp, `${level} age ${age} idle ${idle}`)
      }
  const id = {
    via: 'bearer',
    sub: 's',
    acr: acr.phr,
    authTime: at,
    lastUsedAt: undefined,
    amr: [],
    scopes: [],
    claims: {},
    clientId: 'app',
    audience: [],
    sessionId: undefined,
  } as const
  t.equal(levelShortfall(id, acr.phr, limits, at + 60), undefined, 'fresh phr meets phr')
  t.equal(levelShortfall(id, acr.phr, limits, at + 900), 'age', 'old phr: sign in again')
  t.equal(levelShortfall(id, acr.mfa, limits, at + 900), undefined, 'old phr still meets mfa')
  t.equal(levelShortfall({ ...id, acr: acr.mfa }, acr.phr, limits, at), 'level', 'mfa never meets phr')
  t.equal(maxAgeFor(acr.phr, limits), 900)
  t.equal(maxAgeFor(acr.mfa, limits), 43_200)
  t.equal(maxAgeFor(acr.pwd, limits), undefined)
})
