// What the gateway tells an agency of the level of sign-in is the level as it stands now
// (issue 14): a phr sign-in 16 minutes ago is told as mfa, a two-factor one 12 hours ago as
// pwd, in X-Citizen-Acr and in the signed assertion alike, which also carries auth_time.
import { decodeJwt } from 'jose'
import t from 'tap'
import { agencyTable, echo, FakeAuth, identity, json, request, startGateway, startUpstream } from './harness.ts'

const now = () => Math.floor(Date.now() / 1000)

t.test('upstream hears the level as it stands now, with auth_time in the assertion', async (t) => {
  const up = await startUpstream(t, echo)
  const table = agencyTable([
    {
      id: 'dinas-a',
      upstream: up.url,
      services: [
        { path: '/phr', access: 'signed_in', minAcr: 'urn:satupintu:acr:phr' },
        { path: '/', access: 'signed_in' },
      ],
    },
  ])
  const signedInAt = now()
  const tokens = {
    fresh: identity({ acr: 'urn:satupintu:acr:phr', amr: ['hwk', 'user', 'mfa'], authTime: signedInAt }),
    aged: identity({ acr: 'urn:satupintu:acr:phr', amr: ['hwk', 'user', 'mfa'], authTime: signedInAt - 16 * 60 }),
    old: identity({ acr: 'urn:satupintu:acr:mfa', amr: ['pwd', 'otp'], authTime: signedInAt - 12 * 3600 - 5 }),
    unknown: identity({ acr: 'urn:satupintu:acr:mfa', amr: ['pwd', 'otp'], authTime: undefined }),
  }
  const gw = await startGateway(t, table, { auth: new FakeAuth(tokens) })
  const seen = async (token: string, path = '/') => {
    const res = await request(`${gw.at('dinas-a')}${path}`, { headers: { authorization: `Bearer ${token}` } })
    const headers = json<{ headers: Record<string, string> }>(res.body).headers
    return {
      status: res.status,
      acr: headers['x-citizen-acr'],
      assertion: decodeJwt(headers['x-satupintu-assertion'] ?? ''),
    }
  }
  for (const [token, level] of [
    ['fresh', 'urn:satupintu:acr:phr'],
    ['aged', 'urn:satupintu:acr:mfa'],
    ['old', 'urn:satupintu:acr:pwd'],
    ['unknown', 'urn:satupintu:acr:pwd'],
  ] as const) {
    const got = await seen(token)
    t.equal(got.status, 200, token)
    t.equal(got.acr, level, `${token}: X-Citizen-Acr ${level}`)
    t.equal(got.assertion.acr, level, `${token}: the assertion's acr`)
    t.same(got.assertion.amr, tokens[token].amr, `${token}: amr still names the methods used`)
  }
  t.equal((await seen('fresh')).assertion.auth_time, signedInAt, 'auth_time in the assertion')
  t.equal((await seen('unknown')).assertion.auth_time, undefined, 'none when not known')
  t.equal((await seen('fresh', '/phr')).status, 200)
  const lapsed = await request(`${gw.at('dinas-a')}/phr`, { headers: { authorization: 'Bearer aged' } })
  t.equal(lapsed.status, 401, 'a lapsed level does not meet the route')
})
