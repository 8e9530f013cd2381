import type { Kysely } from 'kysely'
import { interactionCookieName, resumeCookieName, sessionCookieName } from '../cookie-names.ts'
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider'
import type { JWK } from 'jose'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import { findCitizenById } from '../../accounts/citizens.ts'
import { accountIdentity } from '../../accounts/identity.ts'
import { identityAssuranceMetadata, verifiedClaimsOf } from './verified-claims.ts'
import { createAdapterFactory } from './adapter.ts'
import { findGrantIdFor } from './store.ts'
import { clientSecretMatches, firstPartyKey, isFirstParty } from './clients.ts'
import {
  findKioskByClientId,
  kioskAccessTokenSeconds,
  kioskClaims,
  deviceCodeGrantType,
  kioskCodeSeconds,
  kioskIdOf,
  kioskKey,
  userCodeFailuresPerAddress,
  userCodeThrottleAction,
} from './kiosks.ts'
import { takeSourceAllowance } from '../../accounts/throttle.ts'
import { recordAudit } from '../../audit/audit.ts'
import type { ProviderPages } from './provider-pages.ts'
import { sectorOf, type Subjects } from './subjects.ts'
import { providerRequest } from './request-context.ts'
import { acrOfRank, acrRank, acrValuesSupported, effectiveRank, requiredRank, sessionLastUsedAt } from './levels.ts'
import { sessionHash, sessionHashClaim } from './session-revocation.ts'

/** Routes of the provider; the app sends exactly these paths to it (src/idp/app.ts). */
export const providerRoutes = {
  authorization: '/auth',
  token: '/token',
  userinfo: '/me',
  jwks: '/jwks',
  end_session: '/session/end',
  introspection: '/token/introspection',
  revocation: '/token/revocation',
  pushed_authorization_request: '/request',
  code_verification: '/device',
  device_authorization: '/device/auth',
  backchannel_authentication: '/backchannel',
  registration: '/reg',
} as const

export interface ProviderDeps {
  config: Config
  db: Kysely<Database>
  logger: Logger
  jwks: JWK[]
  cookieKeys: string[]
  pages: ProviderPages
  /** Pairwise subject identifiers under this deployment's secret (src/idp/oidc/subjects.ts). */
  subjects: Subjects
}

/** The resource indicator whose access tokens are JWTs the gateway verifies locally. */
export function gatewayResource(config: Config): string {
  return config.idp.gatewayResource ?? config.gateway.publicUrl
}

/**
 * The resource indicator of the idp's own documents API (src/idp/documents/api.ts): an
 * agency's backend asks for a client-credentials token for it to fetch document links.
 * Those tokens are opaque (looked up, so revocation is immediate) and good for nothing else.
 */
export function documentsResource(config: Config): string {
  return `${config.idp.issuer.replace(/\/+$/, '')}/api/dokumen`
}

/** Metadata key of the resources a client is registered for (src/idp/oidc/clients.ts). */
export const resourcesKey = 'urn:satupintu:resources'

/** The resource indicators registered on a client (`satupintu clients add --resource`). */
export function registeredResources(client: unknown): readonly string[] {
  const v = (client as Record<string, unknown> | undefined)?.[resourcesKey]
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

/**
 * Scopes even a first-party client must ask the citizen for: the NIK is released only with
 * consent (DESIGN.md, "Scopes and claims"), also through the regency's own portal, which
 * hands it on to the agency behind it (`releaseNik`, docs/agency-integration.md).
 */
const askedOfFirstParty = new Set(['nik', 'verified_claims'])

type Grant = InstanceType<Provider['Grant']>

/**
 * The consent of a first-party client (the regency's portal, Akun Saya, its own services):
 * what it asks for is granted without a consent page, and the grant is saved and audited as
 * one the citizen gave, so Akun Saya lists it and the citizen may withdraw it. Not when the
 * client itself asks for the page (`prompt=consent`, OIDC Core §3.1.2.1, which
 * `offline_access` needs), nor for `askedOfFirstParty`; a native app is still asked by
 * oidc-provider (its redirect scheme could be claimed by another app, RFC 8252 §8.6).
 */
async function firstPartyGrant(ctx: KoaContextWithOIDC, db: Kysely<Database>, grant: Grant): Promise<Grant> {
  // Asked anyway: then the page lists everything, not only what the grant lacks.
  if (ctx.oidc.prompts.has('consent') || ctx.oidc.client?.applicationType === 'native') return grant
  const askable = (s: string) => s !== '' && !askedOfFirstParty.has(s)
  const encountered = new Set(grant.getOIDCScopeEncountered().split(' '))
  const scopes = [...ctx.oidc.requestParamOIDCScopes].filter((s) => askable(s) && !encountered.has(s))
  if (scopes.length > 0) grant.addOIDCScope(scopes.join(' '))
  const resourceScopes: string[] = []
  for (const [indicator, server] of Object.entries(ctx.oidc.resourceServers ?? {})) {
    const had = new Set(grant.getResourceScopeEncountered(indicator).split(' '))
    const add = [...ctx.oidc.requestParamScopes].filter((s) => askable(s) && server.scopes.has(s) && !had.has(s))
    if (add.length > 0) grant.addResourceScope(indicator, add.join(' '))
    resourceScopes.push(...add)
  }
  if (scopes.length === 0 && resourceScopes.length === 0) return grant
  await grant.save()
  const released = [...new Set([...scopes, ...resourceScopes])]
  // `openid` alone releases nothing but the sign-in, which is audited already (auth.login).
  if (released.every((s) => s === 'openid')) return grant
  const accountId = grant.accountId as string
  await recordAudit(db, {
    event: 'consent.granted',
    actor: `citizen:${accountId}`,
    subjectId: accountId,
    clientId: grant.clientId,
    ip: ctx.ip,
    requestId: providerRequest.getStore()?.request.id,
    data: { scopes: released, firstParty: true },
  })
  return grant
}

/**
 * oidc-provider's extraClientMetadata validator. A client registered by an operator is
 * loaded from our table without a request (ctx undefined); one that describes itself
 * (dynamic registration, off today: features.registration) comes with the request, and
 * may not call itself first-party.
 */
export function firstPartyMarkValidator(
  ctx: KoaContextWithOIDC | undefined,
  key: string,
  value: unknown,
  metadata?: { grant_types?: unknown },
): void {
  // The device grant is a kiosk's only (kiosks.ts): whatever wrote the client (the CLI, the
  // clients file, a row edited by hand), a client without a kiosk id is refused when it is
  // loaded, so no other client reaches the device flow at all.
  if (key === kioskKey) {
    const grants = Array.isArray(metadata?.grant_types) ? metadata.grant_types : []
    if (grants.includes(deviceCodeGrantType) && (typeof value !== 'string' || value === ''))
      throw new errors.InvalidClientMetadata('the device grant is for kiosks only (satupintu kiosks add)')
    return
  }
  if (key !== firstPartyKey || value === undefined || value === false) return
  if (value !== true) throw new errors.InvalidClientMetadata(`${firstPartyKey} must be a boolean`)
  if (ctx !== undefined)
    throw new errors.InvalidClientMetadata(`${firstPartyKey} is set by the regency's operators only`)
}

/**
 * oidc-provider's pairwiseIdentifier hook: the sector from the client's registered
 * metadata (src/idp/oidc/subjects.ts), never from anything in the request.
 */
function pairwiseIdentifierOf(subjects: Subjects): NonNullable<Configuration['pairwiseIdentifier']> {
  return (_ctx, accountId, client) =>
    subjects.pairwise(
      sectorOf({
        subject_type: client.subjectType,
        sector_identifier_uri: client.sectorIdentifierUri,
        redirect_uris: client.redirectUris,
        application_type: client.applicationType,
      }),
      accountId,
    )
}

/**
 * Builds the oidc-provider instance. Every feature is set explicitly, each with the reason
 * (STYLE.md habit 3). Rebuilt, not mutated, when the key set changes.
 */
export function buildProvider(deps: ProviderDeps): Provider {
  const { config, db } = deps
  const ttl = config.idp.ttl
  const secure = config.idp.issuer.startsWith('https://')
  const gw = gatewayResource(config)
  const docs = documentsResource(config)
  const allowedBackchannelHosts = new Set(config.idp.backchannelLogoutHosts.map((h) => h.toLowerCase()))

  const policy = interactionPolicy.base()
  // Requested levels are enforced, not just echoed (oidc-provider treats acr_values as
  // voluntary; its essential-acr checks, for the claims parameter we keep off, would compare
  // names exactly, which the old aliases and "this level or above" defeat). A session below the level asked for is sent to sign
  // in again, which steps it up; with prompt=none the answer is
  // unmet_authentication_requirements (OIDC Core §3.1.2.6), never a silently lower level.
  const login = policy.get('login')
  if (login === undefined) throw new Error('oidc-provider base policy has no login prompt')
  login.checks.remove('essential_acrs')
  login.checks.remove('essential_acr')
  login.checks.add(
    new interactionPolicy.Check(
      'acr_unmet',
      'the requested level of sign-in could not be obtained',
      'unmet_authentication_requirements',
      (ctx) => {
        const { oidc } = ctx
        const session = oidc.session
        if (!session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT
        // An elevated level lasts a bounded time (levels.ts, effectiveRank). Every
        // authorization with a session passes here, so this is where a session past its
        // limit falls back: the code, ID token and access tokens issued from now on carry
        // the lower level, and a client asking for the higher one sends the citizen to sign
        // in again. The session is saved with the lower level (oidc-provider saves a
        // touched session at the end of the request).
        const now = Math.floor(Date.now() / 1000)
        const held = acrRank(session.acr)
        const standing = effectiveRank(
          {
            acr: session.acr,
            authTime: session.authTime(),
            lastUsedAt: sessionLastUsedAt(session.exp, ttl.sessionIdleSeconds),
          },
          config.signInLevels,
          now,
        )
        if (standing < held) {
          const lower = acrOfRank(standing)
          if (lower !== undefined) session.acr = lower
        }
        const bar = requiredRank({ acr_values: oidc.params?.acr_values })
        if (bar === 0 || standing >= bar) return interactionPolicy.Check.NO_NEED_TO_PROMPT
        // The citizen has just signed in for this request and still falls short (no
        // factor strong enough): another round would only loop.
        if (oidc.result?.login !== undefined) {
          throw new errors.UnmetAuthenticationRequirements('the requested level of sign-in could not be obtained')
        }
        return interactionPolicy.Check.REQUEST_PROMPT
      },
    ),
  )

  const configuration: Configuration = {
    adapter: createAdapterFactory(db, { refreshGraceSeconds: ttl.refreshGraceSeconds }),
    jwks: { keys: deps.jwks as Configuration['jwks'] extends { keys: infer K } | undefined ? K : never },
    cookies: {
      // Keygrip signs with the first key and verifies with all (rotation).
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure },
      // Over https the interaction cookie is `__Host-` (cookie-names.ts), which needs
      // Path=/; oidc-provider lets these options override its `/interaction/<uid>` path.
      short: { httpOnly: true, sameSite: 'lax', secure, ...(secure ? { path: '/' } : {}) },
      names: {
        session: sessionCookieName(config),
        interaction: interactionCookieName(config),
        resume: resumeCookieName(config),
      },
    },
    routes: { ...providerRoutes },
    // Only the authorization code flow (RFC 9700 §2.1.2): no implicit, no hybrid.
    responseTypes: ['code'],
    // The password grant is never registered (RFC 9700 §2.4).
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    subjectTypes: ['public', 'pairwise'],
    // Agencies get pairwise subjects (OIDC Core §8.1): HMAC under a deployment secret.
    pairwiseIdentifier: pairwiseIdentifierOf(deps.subjects),
    // A client's sector_identifier_uri is fetched and checked once, when an operator
    // registers it (src/idp/oidc/sector-identifier.ts), not at every load of the client: an
    // agency's web server being down must not stop its citizens from signing in.
    sectorIdentifierUriValidate: () => false,
    // PKCE with S256 for every client, confidential ones too (RFC 9700 §2.1.1).
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'address', 'nik', 'verified_claims'],
    claims: {
      // DESIGN.md, "Scopes and claims". acr/amr/auth_time ride with openid so every ID
      // token says how the citizen signed in; identity_level says how well the person
      // behind the account was proven (src/accounts/identity.ts), which is not who they are.
      openid: ['sub', 'acr', 'amr', 'auth_time', 'identity_level'],
      profile: ['name', 'birthdate', 'gender', 'locale'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      address: ['address'],
      // Only from an account that holds its NIK proven (identity.ts): a claimed NIK may be
      // anybody's, and is never released.
      nik: ['nik'],
      // OpenID Connect for Identity Assurance 1.0: the NIK, name and birth date as an
      // officer checked them on the KTP-el, with the evidence; only for a proven account,
      // and only with the citizen's consent (asked even by the regency's own clients).
      verified_claims: ['verified_claims'],
    },
    // The levels of sign-in and the first release's names for them (levels.ts).
    acrValues: [...acrValuesSupported],
    // acr_values that name no level of ours could only be ignored, which would hand the
    // service a lower level than it meant to ask for without a word: refused instead
    // (invalid_request, at the redirect_uri once that is known good). Unknown values beside a
    // known one are skipped, as OpenID Connect Core's voluntary acr_values allows.
    extraParams: {
      acr_values: async (_ctx, value) => {
        if (typeof value !== 'string' || value.trim() === '') return
        if (requiredRank({ acr_values: value }) === 0)
          throw new errors.InvalidRequest(
            `acr_values names no level this provider supports (acr_values_supported: ${acrValuesSupported.join(' ')})`,
          )
      },
    },
    // ID tokens carry only openid claims; the rest come from userinfo (OIDC Core §5.4).
    conformIdTokenClaims: true,
    // OpenID Connect for Identity Assurance: what verified_claims holds (verified-claims.ts).
    discovery: { ...identityAssuranceMetadata() },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      id_token_signed_response_alg: 'ES256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    extraClientMetadata: {
      properties: ['urn:satupintu:agency', 'urn:satupintu:resources', firstPartyKey, kioskKey],
      // The first-party mark is given by operators only (src/idp/oidc/clients.ts, written by the
      // CLI, the clients file and start-up): never by a client describing itself.
      validator: firstPartyMarkValidator,
    },
    enabledJWA: {
      // No HS* anywhere (client secrets are stored hashed) and no "none".
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      introspectionSigningAlgValues: ['ES256', 'RS256'],
      authorizationSigningAlgValues: ['ES256', 'RS256'],
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      requestObjectSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA'],
    },
    features: {
      // Our own pages (src/idp/oidc/interactions.ts) replace the development ones.
      devInteractions: { enabled: false },
      // Sender-constrained tokens for apps and kiosks that want them (RFC 9449).
      dPoP: { enabled: true },
      // PAR (RFC 9126): request parameters off the front channel; optional for clients.
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      // Agencies end the citizen's idp session from their site, with our own confirmation page.
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => deps.pages.logout(ctx, form),
        postLogoutSuccessSource: (ctx) => deps.pages.logoutSuccess(ctx),
      },
      // Agencies' sessions end when the citizen signs out (OIDC Back-Channel Logout 1.0).
      backchannelLogout: { enabled: true },
      // Agency back-ends call each other and the gateway with their own tokens.
      clientCredentials: { enabled: true },
      // A client learns about, and revokes, its own tokens only (RFC 7662 §4: the
      // server decides who may introspect; oidc-provider's default lets any
      // confidential client read any token's subject and scope).
      introspection: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
      // The gateway's resource gets JWT access tokens it verifies with our JWKS.
      // Access tokens only for the resources registered on the client (issue 10 §3;
      // RFC 8707 §2: "invalid_target" for any other). The gateway's resource, an agency's
      // origin behind the gateway (its app clients register just that), and the
      // documents API are the resources there are.
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => {
          if (oneOf) return oneOf.includes(gw) ? gw : oneOf[0]
          // A kiosk signs citizens in for the services behind the gateway, and for nothing else.
          const kiosk = kioskIdOf(client.metadata()) !== undefined
          if (ctx.oidc.params?.grant_type !== 'client_credentials' && !kiosk) return undefined
          // A backend asking without `resource`: the gateway's, when it has it registered.
          const registered = registeredResources(client)
          return registered.includes(gw) ? gw : registered[0]
        },
        // A kiosk's token is for the resource its code was granted for (the gateway's), not
        // for userinfo: it signs citizens in to the services behind the gateway only.
        useGrantedResource: (ctx) => kioskIdOf(ctx.oidc.client?.metadata()) !== undefined,
        getResourceServerInfo: (ctx, resource, client) => {
          if (!registeredResources(client).includes(resource))
            throw new errors.InvalidTarget('the client is not registered for this resource')
          const isClientCredentials = ctx.oidc.params?.grant_type === 'client_credentials'
          if (resource === docs) {
            if (!isClientCredentials) throw new errors.InvalidTarget('the documents API takes client credentials only')
            return {
              scope: 'dokumen',
              audience: docs,
              accessTokenTTL: ttl.clientCredentialsSeconds,
              accessTokenFormat: 'opaque',
            }
          }
          // The gateway's resource or an agency's origin: JWTs the gateway verifies locally,
          // with the resource as their only audience. A kiosk's live a few minutes at most.
          const kiosk = kioskIdOf(client.metadata()) !== undefined
          return {
            scope: isClientCredentials ? 'gateway' : 'openid profile email phone address nik gateway',
            audience: resource,
            accessTokenTTL: isClientCredentials
              ? ttl.clientCredentialsSeconds
              : kiosk
                ? Math.min(ttl.accessTokenSeconds, kioskAccessTokenSeconds)
                : ttl.accessTokenSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }
        },
      },
      claimsParameter: { enabled: false },
      // No encrypted tokens: TLS protects them in transit, and agencies' libraries vary.
      encryption: { enabled: false },
      // The device grant (RFC 8628) for the self-service kiosks (issue 16, kiosks.ts): only
      // a kiosk's client has the grant type, so any other client's device authorization is
      // `unauthorized_client`. Our own pages, on the citizen's phone: the code, then which
      // kiosk (from our kiosks table, never from the kiosk's request) and what it asks
      // for, Batal first; then the sign-in if the phone has no session yet.
      deviceFlow: {
        enabled: true,
        // 8 of 20 consonants (no vowels, so no words; RFC 8628 §6.1): 2.5·10^10 codes, each
        // alive for kioskCodeSeconds and good once.
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: async (ctx, form, _out, err) => {
          // A code that names no live request: counted against the address (app.ts refuses
          // the code page's posts once there are too many).
          if ((err as { name?: unknown } | undefined)?.name === 'NotFoundError')
            await takeSourceAllowance(db, userCodeThrottleAction, ctx.ip, userCodeFailuresPerAddress)
          await deps.pages.deviceInput(ctx, form, err)
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          const kiosk = await findKioskByClientId(db, client.clientId)
          const code = ctx.oidc.entities.DeviceCode
          const asked = String((code?.params as { scope?: unknown } | undefined)?.scope ?? '').split(' ')
          const allowed = new Set(String(client.scope ?? '').split(' '))
          await deps.pages.deviceConfirm(ctx, form, {
            kiosk: kiosk && kiosk.status === 'active' ? { name: kiosk.name, location: kiosk.location } : undefined,
            userCode,
            scopes: asked.filter((x) => x !== '' && allowed.has(x)),
          })
        },
        successSource: async (ctx) => {
          const clientId = ctx.oidc.client?.clientId
          const kiosk = clientId === undefined ? undefined : await findKioskByClientId(db, clientId)
          await deps.pages.deviceSuccess(ctx, kiosk?.name ?? '')
        },
      },
      // Clients are registered by operators, never by anyone on the internet.
      registration: { enabled: false },
      requestObjects: { enabled: false },
      jwtUserinfo: { enabled: false },
      jwtIntrospection: { enabled: false },
    },
    // The provider's own error page for what cannot be redirected to the client.
    renderError: (ctx, out, error) => deps.pages.error(ctx, out, error),
    interactions: {
      policy,
      // Absolute, from the issuer: never the host the request happened to name (docs/security.md line 34).
      url: (_ctx, interaction) => new URL(`/interaction/${interaction.uid}`, config.idp.issuer).toString(),
    },
    // A consent outlives the session it was given in (docs/security.md line 36), and the
    // regency's own (first-party) clients are not asked for one: oidc-provider's documented
    // way to skip consent for a trusted client is a grant made here (firstPartyGrant).
    loadExistingGrant: async (ctx) => {
      const client = ctx.oidc.client
      const session = ctx.oidc.session
      const grantId = ctx.oidc.result?.consent?.grantId ?? (client ? session?.grantIdFor(client.clientId) : undefined)
      let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined
      // A new session finds the consent in the database, so signing in again does not ask again.
      if (!grant && client && session?.accountId) {
        const stored = await findGrantIdFor(db, session.accountId, client.clientId)
        if (stored) grant = await ctx.oidc.provider.Grant.find(stored)
      }
      if (client && session?.accountId && isFirstParty(client.metadata())) {
        return firstPartyGrant(
          ctx,
          db,
          grant ?? new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId }),
        )
      }
      return grant
    },
    findAccount: async (_ctx, sub) => {
      const citizen = await findCitizenById(db, sub)
      if (!citizen || citizen.status !== 'active') return undefined
      const identity = await accountIdentity(db, citizen.id)
      const proven = citizen.nikStatus === 'proven'
      const verified = proven && identity?.proof ? verifiedClaimsOf(citizen, identity.proof, config) : undefined
      return {
        accountId: citizen.id,
        claims: () => ({
          sub: citizen.id,
          name: citizen.name,
          birthdate: citizen.birthDate,
          gender: citizen.gender,
          email: citizen.email ?? undefined,
          email_verified: citizen.email === null ? undefined : citizen.emailVerified,
          phone_number: citizen.phone ?? undefined,
          phone_number_verified: citizen.phone === null ? undefined : citizen.phoneVerified,
          identity_level: identity?.level,
          nik: proven ? citizen.nik : undefined,
          verified_claims: verified,
        }),
      }
    },
    // acr and amr of the sign-in travel in the access token too: the gateway enforces levels.
    // A token issued in a session also names it, hashed with the client
    // (session-revocation.ts): when the session ends, the gateways refuse the token.
    // Client-credentials tokens have no session, and get neither.
    extraTokenClaims: async (ctx, token) => {
      const src = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken ?? ctx.oidc.entities.DeviceCode
      if (!src) return undefined
      const sessionUid = (token as { sessionUid?: unknown }).sessionUid
      const clientId = token.clientId
      const bound = typeof sessionUid === 'string' && sessionUid !== '' && typeof clientId === 'string'
      // A refresh long after the sign-in gets the level the sign-in still stands for
      // (levels.ts): an access token never says more than its session could now.
      const standing = acrOfRank(
        effectiveRank({ acr: src.acr, authTime: src.authTime }, config.signInLevels, Math.floor(Date.now() / 1000)),
      )
      // The identity level as it is now, for the gateway's minIdentity (an access token lives
      // minutes; a proof or a withdrawal shows in the next one).
      const accountId = (src as { accountId?: unknown }).accountId
      const identity = typeof accountId === 'string' ? await accountIdentity(db, accountId) : undefined
      return {
        acr: standing ?? src.acr,
        ...(identity !== undefined ? { identity_level: identity.level } : {}),
        amr: src.amr,
        auth_time: src.authTime,
        ...(bound ? { [sessionHashClaim]: sessionHash(sessionUid, clientId) } : {}),
        // A kiosk's token says so (issue 16): the gateway and the agencies may refuse or
        // restrict the kiosk channel, and know which kiosk.
        ...kioskClaims(kioskIdOf(ctx.oidc.client?.metadata())),
      }
    },
    // Signing out ends the session and the tokens tied to it, never a consent (docs/security.md
    // line 36): at end_session oidc-provider revokes each client's tokens through this
    // policy, and by default destroys the grant with them. Elsewhere (a replayed code or
    // refresh token, RFC 9700 §4.5 and §4.14.2) the grant goes, as it should. Revoking an
    // access token at the revocation endpoint leaves the grant (oidc-provider's default).
    revokeGrantPolicy: (ctx) => {
      if (ctx.oidc.route === 'end_session_confirm' || ctx.oidc.route === 'end_session') {
        // oidc-provider asks this just before it revokes the grant's tokens: only those
        // of the session that ends go (adapter.ts), never another device's.
        const store = providerRequest.getStore()
        const uid = ctx.oidc.session?.uid
        if (store && typeof uid === 'string') store.endingSessionUid = uid
        return false
      }
      return !(ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken)
    },
    // Refresh tokens only when the client may use them and offline_access was granted.
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    // Every use rotates (RFC 9700 §4.14.2); reuse detection revokes the grant.
    // oidc-provider calls this before it consumes the presented refresh token, and
    // resolves `resource` only after: a refresh asking for a resource the client is not
    // registered for must be refused here, or the refused request would burn the token
    // and the client's retry would look like a replay and revoke the grant.
    rotateRefreshToken: (ctx) => {
      const asked = ctx.oidc.params?.resource
      const resources = asked === undefined ? [] : Array.isArray(asked) ? asked : [asked]
      const registered = registeredResources(ctx.oidc.client)
      if (resources.some((r) => typeof r !== 'string' || !registered.includes(r))) {
        throw new errors.InvalidTarget('the client is not registered for this resource')
      }
      // The level falls as a session's does (levels.ts): the rotated refresh token, the ID
      // token and the access token are all made from the presented token's acr, so lowering
      // it here lowers all three. The chain's last use is the presented token's issue (its
      // rotation), so a chain left unused past the idle limit falls to the password level.
      const presented = ctx.oidc.entities.RefreshToken
      if (presented !== undefined) {
        const standing = effectiveRank(
          { acr: presented.acr, authTime: presented.authTime, lastUsedAt: presented.iat },
          config.signInLevels,
          Math.floor(Date.now() / 1000),
        )
        const lower = acrOfRank(standing)
        if (lower !== undefined && standing < acrRank(presented.acr)) presented.acr = lower
      }
      return true
    },
    expiresWithSession: (_ctx, code) => !code.scopes.has('offline_access'),
    ttl: {
      AuthorizationCode: ttl.authorizationCodeSeconds,
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessTokenSeconds,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.clientCredentialsSeconds,
      IdToken: ttl.idTokenSeconds,
      Interaction: ttl.interactionSeconds,
      Grant: ttl.grantSeconds,
      // A kiosk's code is shown on a screen in a public hall: short lived (issue 16).
      DeviceCode: kioskCodeSeconds,
      BackchannelAuthenticationRequest: 600,
      // Sliding idle limit, capped by the absolute limit counted from the chain's first issue.
      RefreshToken: (_ctx, token) => {
        const started = token.iiat ?? token.iat ?? Math.floor(Date.now() / 1000)
        const left = started + ttl.refreshTokenAbsoluteSeconds - Math.floor(Date.now() / 1000)
        return Math.max(1, Math.min(ttl.refreshTokenIdleSeconds, left))
      },
      // oidc-provider re-saves the session on use with this TTL: idle, capped by absolute.
      Session: (_ctx, session) => {
        const started = session.iat ?? Math.floor(Date.now() / 1000)
        const left = started + ttl.sessionAbsoluteSeconds - Math.floor(Date.now() / 1000)
        return Math.max(1, Math.min(ttl.sessionIdleSeconds, left))
      },
    },
    // Back-channel logout goes to agencies on internal networks: allow exactly the hosts
    // operators listed; everything else keeps oidc-provider's guard against private addresses.
    fetch: (url, options) => {
      const host = new URL(url).hostname.toLowerCase()
      if (allowedBackchannelHosts.has(host)) {
        const { dispatcher: _guard, ...rest } = options as RequestInit & { dispatcher?: unknown }
        return globalThis.fetch(url, rest)
      }
      return globalThis.fetch(url, options)
    },
    clockTolerance: 5,
    allowOmittingSingleRegisteredRedirectUri: false,
  }

  const provider = new Provider(config.idp.issuer, configuration)
  // Koa reads host, protocol and address from X-Forwarded-*, which src/idp/app.ts always
  // sets from the issuer (host, protocol) and from Fastify's trusted-proxy-aware address:
  // every URL the provider builds names the issuer (docs/security.md line 34), and cookies are
  // Secure exactly when the issuer is https.
  provider.proxy = true
  // Client secrets are stored as digests (src/idp/oidc/clients.ts): compare digests.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(
    this: { clientSecret?: string },
    actual: string,
  ) {
    return clientSecretMatches(this.clientSecret, actual)
  }
  return provider
}

export type { KoaContextWithOIDC }
