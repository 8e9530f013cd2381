import { createRemoteJWKSet } from 'jose'
import * as oidc from 'openid-client'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema.ts'
import { AppError } from '../../errors/app-error.ts'
import type { IdpKeys } from './bearer.ts'

/** What the gateway knows of the idp once discovered. */
export interface Discovered {
  client: oidc.Configuration
  keys: IdpKeys
  scopesSupported: readonly string[]
}

/** Thrown when the idp's discovery document cannot be had (yet): the gateway answers 503, and tries again. */
export class IdpUnavailableError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('the identity provider is not reachable', options)
    this.name = 'IdpUnavailableError'
  }
}

export interface IdpDiscovery {
  /** The discovered idp; rejects while it cannot be reached (retried at most every 2 s). */
  discovered(): Promise<Discovered>
  /** The same, for a request: an unreachable idp is a 503 `not_ready`. */
  idp(): Promise<Discovered>
}

/**
 * The idp, discovered lazily and again after a failure, so the gateway starts while the
 * idp is down. Discovery begins at once, so the first request does not wait for it.
 */
export function createIdpDiscovery(deps: {
  config: Config
  clientSecret: string | undefined
  logger: Pick<Logger, 'warn'>
}): IdpDiscovery {
  const { config, clientSecret, logger } = deps
  const issuerUrl = new URL(config.idp.issuer)
  let discovery: Promise<Discovered> | undefined
  let retryAt = 0

  function discovered(): Promise<Discovered> {
    if (discovery !== undefined) return discovery
    if (Date.now() < retryAt) return Promise.reject(new IdpUnavailableError())
    const attempt = (async (): Promise<Discovered> => {
      const client = await oidc.discovery(
        issuerUrl,
        config.gateway.clientId,
        undefined,
        clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(clientSecret),
        {
          // Plain http only where the issuer itself is http (development, tests).
          ...(issuerUrl.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
          timeout: 10,
        },
      )
      const meta = client.serverMetadata()
      if (meta.jwks_uri === undefined) throw new Error('the idp discovery document has no jwks_uri')
      // jose refetches the JWKS on an unknown kid (after a cooldown), so a rotated key is
      // picked up at its first use; cached otherwise.
      const jwks = createRemoteJWKSet(new URL(meta.jwks_uri), {
        timeoutDuration: 5000,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
      })
      return { client, keys: { issuer: meta.issuer, jwks }, scopesSupported: meta.scopes_supported ?? [] }
    })()
    discovery = attempt
    attempt.catch((err: unknown) => {
      discovery = undefined
      retryAt = Date.now() + 2000
      logger.warn({ err: { message: (err as Error).message } }, 'idp discovery failed; will retry')
    })
    return attempt
  }
  discovered().catch(() => undefined)

  return {
    discovered,
    async idp() {
      try {
        return await discovered()
      } catch (err) {
        throw new AppError('not_ready', undefined, { cause: err })
      }
    },
  }
}
