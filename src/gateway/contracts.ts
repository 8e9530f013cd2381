import type { FastifyReply, FastifyRequest } from 'fastify'
import type { JSONWebKeySet } from 'jose'
import type { Agency } from './agencies.ts'
import type { Identity } from './auth/identity.ts'

/**
 * The seams between the gateway's parts, so that authentication (auth.ts), the proxy
 * (proxy.ts) and the assertion (assertion.ts) can be built and tested on their own and
 * composed in app.ts.
 */

/** What a route needs of the caller. */
export interface Requirement {
  /** Minimum level of sign-in (urn:satupintu:acr:pwd, mfa or phr; the old loa:N names too). */
  readonly acr?: string | undefined
  /** Scopes a bearer token must carry. */
  readonly scopes?: readonly string[]
  /**
   * Minimum identity level: how well the person behind the account was proven
   * (contact_verified, in_person; dukcapil ranks with in_person). Apart from `acr`: a
   * stronger sign-in never makes up for it, so a browser below it is told where to have its
   * identity checked, not sent to sign in again.
   */
  readonly identity?: string | undefined
}

export interface GatewayAuth {
  /**
   * Who is calling: a valid gateway session cookie, or a valid bearer access token
   * (JWT for the gateway's resource, with DPoP when bound). Undefined when the request
   * carries neither. A bearer token that is present but not valid throws an AppError
   * 401 whose WWW-Authenticate header says why (RFC 6750 §3).
   */
  identify(req: FastifyRequest): Promise<Identity | undefined>
  /**
   * Answers a caller who does not meet `need`: a browser is sent to sign in at the idp
   * (with acr_values for step-up, RFC 9470) and returned to the URL it asked for; an API
   * caller gets 401 (or 403 insufficient_scope) with a WWW-Authenticate error.
   */
  challenge(
    req: FastifyRequest,
    reply: FastifyReply,
    need: Requirement,
    identity: Identity | undefined,
  ): Promise<FastifyReply>
  /**
   * The portal's silent sign-in (prompt=none), tried once per browser session for a
   * browser with no session there: the redirect to the idp, or undefined when not tried.
   */
  trySilentSignIn(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>
  /** The sign-out URL the portal links to. */
  readonly logoutPath: string
  /**
   * The ID token of a browser session (to name the citizen to the idp, OIDC Core
   * §3.1.2.1 id_token_hint); undefined for bearer tokens or when none is kept.
   */
  idTokenHint(identity: Identity): Promise<string | undefined>
}

export interface AssertionSigner {
  /**
   * The X-Satupintu-Assertion JWT for one agency: ES256 with the gateway's key,
   * iss = gateway URL, aud = agency id, sub, acr, amr, the released claims, extra
   * claims (e.g. `documents`), iat/exp with exp - iat ≤ gateway.assertionSeconds.
   */
  sign(identity: Identity, agency: Agency, extra?: Record<string, unknown>): Promise<string>
  /** The public keys agencies verify the assertion with (served at /.well-known/jwks.json). */
  jwks(): JSONWebKeySet
  /** Picks up rotated gateway keys (called periodically by app.ts). */
  reload(): Promise<void>
}
