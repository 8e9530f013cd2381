// The one mapping from the methods of a sign-in to its acr and amr (src/idp/oidc/sign-in-level.ts).
import t from 'tap'
import { acr } from '../../src/idp/oidc/levels.ts'
import { signInLevel, type SignInMethod } from '../../src/idp/oidc/sign-in-level.ts'

t.test('each way of signing in gets the RFC 8176 values of its methods and the level they make', async (t) => {
  const cases: [SignInMethod[], string[], string, boolean][] = [
    [['password'], ['pwd'], acr.pwd, false],
    [['password', 'totp'], ['pwd', 'otp'], acr.mfa, false],
    [['password', 'recovery_code'], ['pwd', 'otp'], acr.mfa, false],
    [['passkey:device-bound'], ['hwk', 'user', 'mfa'], acr.phr, true],
    [['passkey:synced'], ['swk', 'user', 'mfa'], acr.mfa, false],
    [['password', 'passkey:device-bound'], ['pwd', 'hwk', 'user'], acr.phr, true],
    [['password', 'passkey:synced'], ['pwd', 'swk', 'user'], acr.mfa, false],
  ]
  for (const [methods, amr, level, phishingResistant] of cases) {
    const got = signInLevel(methods)
    t.same(got.amr, amr, `${methods.join(' + ')}: amr`)
    t.equal(got.acr, level, `${methods.join(' + ')}: acr`)
    t.equal(got.phishingResistant, phishingResistant, `${methods.join(' + ')}: phishing-resistant`)
    t.same(got.methods, methods, 'the methods are exposed as used')
  }
})

t.test('a synced passkey never reaches the top level, alone or with anything else', async (t) => {
  for (const methods of [
    ['passkey:synced'],
    ['password', 'passkey:synced'],
    ['password', 'totp', 'passkey:synced'],
  ] as SignInMethod[][]) {
    const got = signInLevel(methods)
    t.equal(got.phishingResistant, false)
    t.equal(got.acr, acr.mfa, 'two factors, never phishing-resistant')
  }
})
