/**
 * Relying-party registration: what a redirect URI may be, how a secret is kept, and what
 * rotating a secret or removing a client does to a running idp (checked over HTTP).
 */
import { createHash, randomBytes } from 'node:crypto'
import t from 'tap'
import {
  ClientError,
  clientSecretMatches,
  hashClientSecret,
  prepareClient,
  removeClient,
  rotateClientSecret,
  validateRedirectUri,
  type ClientInput,
  type ClientPolicy,
} from '../../src/idp/oidc/clients.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, type RunningIdp } from '../helpers/idp.ts'

const development: ClientPolicy = { allowLoopbackHttp: true }
const production: ClientPolicy = { allowLoopbackHttp: false }

function refusal(uri: string, policy: ClientPolicy): string | undefined {
  try {
    validateRedirectUri('redirect_uris[0]', uri, policy)
    return undefined
  } catch (err) {
    if (err instanceof ClientError) return err.message
    throw err
  }
}

t.test('redirect URIs: https is accepted, http only for loopback in development', async (t) => {
  for (const uri of [
    'https://layanan.sukamaju.go.id/cb',
    'https://layanan.sukamaju.go.id:8443/oidc/callback?tenant=a',
  ]) {
    t.equal(refusal(uri, production), undefined, `production accepts ${uri}`)
  }
  for (const uri of ['http://localhost:8081/cb', 'http://127.0.0.1:8081/cb', 'http://[::1]:8081/cb']) {
    t.equal(refusal(uri, development), undefined, `development accepts ${uri}`)
    t.match(refusal(uri, production) ?? '', /must use https/, `production refuses ${uri}`)
  }
  for (const uri of [
    'http://layanan.sukamaju.go.id/cb',
    'http://localhost.evil.example/cb',
    'http://127.0.0.1.nip.io/cb',
    'http://10.0.0.5/cb',
    'ftp://layanan.sukamaju.go.id/cb',
    'javascript:alert(1)',
    'data:text/html,hi',
    'file:///etc/passwd',
    'com.example.app:/cb',
  ]) {
    t.ok(refusal(uri, development), `development refuses ${uri}`)
    t.ok(refusal(uri, production), `production refuses ${uri}`)
  }
})

t.test('redirect URIs: no wildcards, no fragments, no user information, nothing that is not a URL', async (t) => {
  const cases: Record<string, RegExp> = {
    'https://*.sukamaju.go.id/cb': /wildcards/,
    'https://layanan.sukamaju.go.id/*': /wildcards/,
    'https://layanan.sukamaju.go.id/cb?next=*': /wildcards/,
    'https://layanan.sukamaju.go.id/c b': /wildcards or spaces/,
    'https://layanan.sukamaju.go.id/cb#section': /fragment/,
    'https://layanan.sukamaju.go.id/cb#': /fragment/,
    'https://user@layanan.sukamaju.go.id/cb': /user information/,
    'https://user:pass@layanan.sukamaju.go.id/cb': /user information/,
    'https://layanan.sukamaju.go.id@evil.example/cb': /user information/,
    'layanan.sukamaju.go.id/cb': /not a URL/,
    '/cb': /not a URL/,
    '': /not a URL/,
  }
  for (const [uri, why] of Object.entries(cases)) {
    t.match(refusal(uri, development) ?? 'accepted', why, JSON.stringify(uri))
    t.match(refusal(uri, production) ?? 'accepted', why, `${JSON.stringify(uri)} in production`)
  }
})

t.test('every URI a client registers is checked: redirect, post-logout and back-channel logout', async (t) => {
  const base: ClientInput = {
    name: 'Aplikasi Uji',
    agencyId: 'dinas-uji',
    redirectUris: ['https://rp.example.go.id/cb'],
    authMethod: 'client_secret_basic',
  }
  t.throws(
    () =>
      prepareClient(
        { ...base, redirectUris: ['https://rp.example.go.id/cb', 'https://*.example.go.id/cb'] },
        production,
      ),
    {
      name: 'ClientError',
      field: 'redirect_uris[1]',
    },
  )
  t.throws(() => prepareClient({ ...base, postLogoutRedirectUris: ['https://rp.example.go.id/bye#x'] }, production), {
    name: 'ClientError',
    field: 'post_logout_redirect_uris[0]',
  })
  t.throws(() => prepareClient({ ...base, backchannelLogoutUri: 'http://rp.example.go.id/bc' }, production), {
    name: 'ClientError',
    field: 'backchannel_logout_uri',
  })
  t.throws(() => prepareClient({ ...base, redirectUris: [] }, production), {
    name: 'ClientError',
    field: 'redirect_uris',
  })
  const ok = prepareClient({ ...base, postLogoutRedirectUris: ['https://rp.example.go.id/bye'] }, production)
  t.same(
    ok.metadata.redirect_uris,
    ['https://rp.example.go.id/cb'],
    'stored exactly as given (compared by exact match)',
  )
})

t.test('a client secret is stored only as its digest and compared in constant time', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const prepared = await registerClient(db, {
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['openid'],
    })
    const secret = prepared.secret ?? ''
    t.ok(secret.length >= 43, 'at least 256 bits, shown once')
    const row = await db.db
      .selectFrom('oidc_clients')
      .selectAll()
      .where('client_id', '=', prepared.clientId)
      .executeTakeFirstOrThrow()
    t.equal(row.metadata.client_secret, hashClientSecret(secret), 'the digest is what is stored')
    t.match(String(row.metadata.client_secret), /^sha256:[A-Za-z0-9_-]{43}$/)
    t.notOk(JSON.stringify(row).includes(secret), 'the secret itself appears nowhere in the row')
    t.ok(clientSecretMatches(String(row.metadata.client_secret), secret))
    t.notOk(
      clientSecretMatches(String(row.metadata.client_secret), String(row.metadata.client_secret)),
      'the digest is not a password',
    )
    t.notOk(clientSecretMatches(undefined, secret))
    t.notOk(clientSecretMatches('plain-secret', 'plain-secret'), 'a stored value that is not a digest never matches')

    const idp = await startIdp(t, db)
    t.equal((await clientCredentials(idp, prepared.clientId, secret)).status, 200, 'the secret works over HTTP')
    const withDigest = await clientCredentials(idp, prepared.clientId, String(row.metadata.client_secret))
    t.equal(withDigest.status, 401, 'someone holding a copy of the table cannot use the digest')
    t.equal(withDigest.body.error, 'invalid_client')
  })
})

async function clientCredentials(
  idp: RunningIdp,
  clientId: string,
  secret: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'gateway' }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

t.test('rotating a secret stops the old one at once over HTTP; the new one works', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    const prepared = await registerClient(db, {
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['openid'],
    })
    const old = prepared.secret ?? ''
    t.equal((await clientCredentials(idp, prepared.clientId, old)).status, 200, 'the old secret works before')

    const fresh = (await rotateClientSecret(db.db, prepared.clientId)) ?? ''
    t.not(fresh, old)
    const refused = await clientCredentials(idp, prepared.clientId, old)
    t.equal(refused.status, 401, 'the old secret is refused at once, by the running idp')
    t.equal(refused.body.error, 'invalid_client')
    t.equal((await clientCredentials(idp, prepared.clientId, fresh)).status, 200, 'the new secret works')

    t.equal(await rotateClientSecret(db.db, 'no-such-client'), undefined)
    const pub = await registerClient(db, { redirectUris: ['https://rp.example.go.id/cb'], authMethod: 'none' })
    await t.rejects(
      rotateClientSecret(db.db, pub.clientId),
      { name: 'ClientError', field: 'auth_method' },
      'a public client has no secret',
    )
  })
})

t.test('removing a client deletes its codes, tokens and grants, and its tokens stop working', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    await addCitizen(db.db)
    const redirectUri = 'https://rp.example.go.id/cb'
    const doomed = await registerClient(db, {
      redirectUris: [redirectUri],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    })
    const keeper = await registerClient(db, { redirectUris: [redirectUri] })

    async function codeFlowTokens(client: { clientId: string; secret: string | undefined }, browser: Browser) {
      const verifier = randomBytes(32).toString('base64url')
      const u = new URL('/auth', idp.issuer)
      const params = {
        client_id: client.clientId,
        response_type: 'code',
        scope: 'openid profile offline_access',
        prompt: 'consent',
        redirect_uri: redirectUri,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
      const callback = new URL(
        await signIn(browser, u.href, idp.issuer, { username: budi.nik, password: budi.password }),
      )
      const res = await fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret ?? ''}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: callback.searchParams.get('code') ?? '',
          redirect_uri: redirectUri,
          code_verifier: verifier,
        }),
      })
      return (await res.json()) as { access_token: string; refresh_token: string }
    }

    const browser = new Browser()
    const doomedTokens = await codeFlowTokens(doomed, browser)
    const keeperTokens = await codeFlowTokens(keeper, browser)
    t.equal((await clientCredentials(idp, doomed.clientId, doomed.secret ?? '')).status, 200)
    const rowsOf = async (clientId: string) =>
      (await db.db.selectFrom('oidc_payloads').select(['model', 'payload']).execute())
        .filter((r) => r.payload.clientId === clientId)
        .map((r) => r.model)
        .sort()
    const before = await rowsOf(doomed.clientId)
    // (Its client-credentials tokens for the gateway are JWTs, not stored: they die with their ≤ 10 min lifetime.)
    for (const model of ['AccessToken', 'AuthorizationCode', 'Grant', 'RefreshToken'])
      t.ok(before.includes(model), `a ${model} row before`)

    t.equal(await removeClient(db.db, doomed.clientId), true)
    t.same(await rowsOf(doomed.clientId), [], 'nothing of the client is left in oidc_payloads')
    t.notOk(
      await db.db
        .selectFrom('oidc_clients')
        .select('client_id')
        .where('client_id', '=', doomed.clientId)
        .executeTakeFirst(),
    )
    t.ok((await rowsOf(keeper.clientId)).length > 0, "another client's rows stay")

    const userinfo = await fetch(`${idp.issuer}/me`, {
      headers: { authorization: `Bearer ${doomedTokens.access_token}` },
    })
    t.equal(userinfo.status, 401, "the removed client's access token is refused")
    const keeperInfo = await fetch(`${idp.issuer}/me`, {
      headers: { authorization: `Bearer ${keeperTokens.access_token}` },
    })
    t.equal(keeperInfo.status, 200, "the other client's token still works")
    const refreshed = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${doomed.clientId}:${doomed.secret ?? ''}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: doomedTokens.refresh_token }),
    })
    t.equal(refreshed.status, 401, 'the removed client cannot authenticate any more')
    t.equal(((await refreshed.json()) as { error: string }).error, 'invalid_client')
    t.equal(await removeClient(db.db, doomed.clientId), false, 'removing twice says so')
  })
})
