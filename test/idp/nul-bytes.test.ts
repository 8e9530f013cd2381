/**
 * SECURITY 11 and 31: identifiers that reach the oidc-provider adapter straight from a
 * request (client_id, code, refresh_token, token) may hold a NUL byte, which PostgreSQL's
 * text refuses for the whole statement. Each is an ordinary OAuth error, never a 500.
 */
import t from 'tap'
import { eachDatabase } from '../helpers/db.ts'
import { registerClient, startIdp } from '../helpers/idp.ts'

t.test(
  'SECURITY 11: a NUL byte in client_id, code, refresh_token or token is an ordinary OAuth error, never a 500',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const idp = await startIdp(t, db)
      const client = await registerClient(db, {
        redirectUris: ['http://127.0.0.1:9/cb'],
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      })
      const basic = `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`
      const form = (body: string, auth = true) => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: basic } : {}) },
        body,
      })

      const unauthenticated = await fetch(
        `${idp.issuer}/token`,
        form('grant_type=client_credentials&client_id=app%00a&client_secret=x', false),
      )
      t.equal(unauthenticated.status, 401, 'a client_id with NUL is an unknown client')
      t.equal(((await unauthenticated.json()) as { error: string }).error, 'invalid_client')

      const authorize = await fetch(
        `${idp.issuer}/auth?client_id=app%00a&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb`,
        { redirect: 'manual' },
      )
      t.equal(authorize.status, 400, 'the authorization endpoint shows its error page')
      await authorize.text()

      for (const [what, body, status, error] of [
        [
          'code',
          'grant_type=authorization_code&code=%00abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_verifier=' +
            'a'.repeat(43),
          400,
          'invalid_grant',
        ],
        ['refresh_token', 'grant_type=refresh_token&refresh_token=%00', 400, 'invalid_grant'],
      ] as const) {
        const res = await fetch(`${idp.issuer}/token`, form(body))
        t.equal(res.status, status, `${what} with NUL: ${status}`)
        t.equal(((await res.json()) as { error: string }).error, error)
      }
      const introspection = await fetch(`${idp.issuer}/token/introspection`, form('token=a%00b'))
      t.equal(introspection.status, 200)
      t.same(await introspection.json(), { active: false }, 'introspection of a NUL token: not active')
      const revocation = await fetch(`${idp.issuer}/token/revocation`, form('token=a%00b'))
      t.equal(revocation.status, 200, 'revocation of a NUL token: nothing to revoke (RFC 7009 §2.2)')
      await revocation.text()
    })
  },
)
