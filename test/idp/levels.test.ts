// The levels of sign-in (src/idp/oidc/levels.ts) and the gateway's copy of them as a contract.
import t from 'tap'
import { acrLevel, knownAcrValues } from '../../src/gateway/auth/identity.ts'
import { acr, acrAliases, acrRank, acrValuesSupported, requiredRank } from '../../src/idp/oidc/levels.ts'

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
