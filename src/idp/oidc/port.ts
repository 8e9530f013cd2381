import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type Provider from 'oidc-provider'
import type { Logger } from 'pino'
import type { Database } from '../../db/database.ts'
import { notifyBackchannelLogout } from './backchannel.ts'
import { acrOfRank, effectiveRank, type LevelLifetimes, sessionLastUsedAt } from './levels.ts'

/**
 * What the other areas of the idp (the account pages, the document pages and API) may ask
 * of the OIDC layer. oidc-provider's objects stay behind it: this folder is the only
 * importer of oidc-provider (.dependency-cruiser.cjs), so an upgrade of the provider
 * touches src/idp/oidc/ alone.
 */
export interface OidcPort {
  /** The provider session this browser holds, when someone is signed in with it. */
  browserSession(req: FastifyRequest, reply: FastifyReply): Promise<BrowserSession | undefined>
  /**
   * Sends back-channel logout to the relying parties of the citizen's sessions, before the
   * caller deletes them (backchannel.ts). Returns how many deliveries were attempted.
   */
  notifyBackchannelLogout(
    db: Kysely<Database>,
    accountId: string,
    logger: Pick<Logger, 'warn'>,
    options?: { exceptSessionId?: string | undefined; onlySessionId?: string },
  ): Promise<number>
  /** The keys the provider signs its cookies with, newest first. */
  cookieKeys(): string[]
  /**
   * An opaque token the idp issued: a citizen's access token (whose grant must still
   * stand) or a client-credentials token. Undefined for anything else.
   */
  findToken(value: string, kind: 'citizen' | 'client'): Promise<IssuedToken | undefined>
  /** A registered client, as far as the other areas need to know it. */
  findClient(clientId: string): Promise<ClientView | undefined>
  /**
   * The subject of an ID token we issued to this client (signature, issuer and audience
   * checked; an expired one is still a fine hint, OIDC Core §3.1.2.1). Undefined when it
   * is not such a token.
   */
  idTokenSubject(idToken: string, clientId: string): Promise<string | undefined>
}

export interface BrowserSession {
  /** The session's stored id, which is the session cookie's value: never put it in a page. */
  id: string
  accountId: string
  /** When the citizen last entered their credentials, in seconds since the epoch. */
  authTime: number | undefined
  /**
   * The level the session stands for now (levels.ts, effectiveRank): the sign-in's level,
   * fallen back once its time or the session's idle limit has passed.
   */
  acr: string | undefined
}

export interface IssuedToken {
  kind: 'AccessToken' | 'ClientCredentials'
  clientId: string
  /** For a citizen's token: the account of the grant it came from, which still stands. */
  accountId?: string
  /** The resource server it was issued for, when it names one. */
  audience: string | string[] | undefined
  /** DPoP- or mTLS-bound: its holder must prove a key. */
  senderConstrained: boolean
}

export interface ClientView {
  clientId: string
  /** The agency the client belongs to (`urn:satupintu:agency`), when registered. */
  agencyId: string | undefined
  /** `none` for a public client (a browser or phone app without a secret). */
  tokenEndpointAuthMethod: string
}

/** The port over the provider in use now (it is swapped whole when the keys change). */
export function oidcPort(
  current: () => Provider,
  levels: { readonly lifetimes: LevelLifetimes; readonly sessionIdleSeconds: number },
): OidcPort {
  return {
    async browserSession(req, reply) {
      const provider = current()
      const session = await provider.Session.get(provider.createContext(req.raw, reply.raw))
      if (!session.accountId) return undefined
      const authTime = session.authTime()
      // `jti` is the session's stored id (oidc-provider's Session#id getter returns it).
      return {
        id: session.jti,
        accountId: session.accountId,
        authTime: typeof authTime === 'number' ? authTime : undefined,
        acr: acrOfRank(
          effectiveRank(
            {
              acr: session.acr,
              authTime: typeof authTime === 'number' ? authTime : undefined,
              lastUsedAt: sessionLastUsedAt(session.exp, levels.sessionIdleSeconds),
            },
            levels.lifetimes,
            Math.floor(Date.now() / 1000),
          ),
        ),
      }
    },

    notifyBackchannelLogout(db, accountId, logger, options) {
      return notifyBackchannelLogout(current(), db, accountId, logger, options)
    },

    cookieKeys() {
      const keys = current().keys
      if (!Array.isArray(keys) || keys.length === 0) throw new Error('the provider has no cookie keys')
      return keys.map(String)
    },

    async findToken(value, kind) {
      const provider = current()
      const token =
        kind === 'citizen' ? await provider.AccessToken.find(value) : await provider.ClientCredentials.find(value)
      if (token === undefined || token.clientId === undefined) return undefined
      const found: IssuedToken = {
        kind: token.kind === 'ClientCredentials' ? 'ClientCredentials' : 'AccessToken',
        clientId: token.clientId,
        audience: token.aud,
        senderConstrained: token.isSenderConstrained(),
      }
      if (kind === 'client') return found
      const at = token as InstanceType<Provider['AccessToken']>
      // As the userinfo endpoint does: the grant the token came from must still stand,
      // for this client and this citizen (a withdrawn consent ends the token's use).
      const grant = await provider.Grant.find(at.grantId)
      if (grant === undefined || grant.clientId !== at.clientId || grant.accountId !== at.accountId) return undefined
      return { ...found, accountId: at.accountId }
    },

    async findClient(clientId) {
      const client = await current().Client.find(clientId)
      if (client === undefined) return undefined
      const agency = client.metadata()['urn:satupintu:agency']
      return {
        clientId: client.clientId,
        agencyId: typeof agency === 'string' && agency !== '' ? agency : undefined,
        tokenEndpointAuthMethod: String(client.tokenEndpointAuthMethod),
      }
    },

    async idTokenSubject(idToken, clientId) {
      const provider = current()
      const client = await provider.Client.find(clientId)
      if (client === undefined) return undefined
      try {
        const sub = (await provider.IdToken.validate(idToken, client)).payload.sub
        return typeof sub === 'string' ? sub : undefined
      } catch {
        return undefined
      }
    },
  }
}
