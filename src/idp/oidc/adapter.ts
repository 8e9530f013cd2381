import type { Kysely } from 'kysely'
import type { Adapter, AdapterPayload } from 'oidc-provider'
import { errors } from 'oidc-provider'
import type { Database } from '../../db/database.ts'
import { findClientMetadata } from './clients.ts'
import { noteDevicePoll } from './kiosks.ts'
import { providerRequest } from './request-context.ts'

/** The token endpoint's path (provider.ts providerRoutes.token; not imported, provider.ts imports this file). */
const tokenPath = '/token'
import {
  consumePayload,
  destroyPayload,
  findPayload,
  revokePayloadsByGrantId,
  takeGraceReuse,
  upsertPayload,
} from './store.ts'

export interface AdapterOptions {
  /**
   * RFC 9700 §4.14.2: a rotated refresh token may be presented again within this many
   * seconds (a mobile app that lost the response), once. Zero turns the window off.
   */
  refreshGraceSeconds: number
}

/**
 * A replay sooner than this after the first use is a race between two requests, not a
 * retry after a lost response: it is refused (exactly one of concurrent refreshes wins).
 */
export const graceMinAgeSeconds = 1

/**
 * oidc-provider's storage contract on Kysely, one instance per model. It only forwards to
 * the query functions of oidc-store.ts; clients come from the oidc_clients table.
 *
 * Refresh-token reuse: oidc-provider revokes the whole grant when a consumed refresh token
 * comes back (its reuse detection). consume() here is atomic, so of two concurrent
 * refreshes with one token exactly one wins and the other is refused (docs/security.md
 * line 5). Inside the grace window, find() hides the consumption from a replay, and
 * consume() serves exactly one replay that comes at least graceMinAgeSeconds after the
 * first use (a client retrying after a lost response), revoking what the first rotation
 * issued so that one refresh chain stays alive. After the window a replay meets
 * oidc-provider's detection and the grant is revoked.
 */
export function createAdapterFactory(db: Kysely<Database>, options: AdapterOptions): (model: string) => Adapter {
  return (model: string) => new KyselyAdapter(db, model, options)
}

function epoch(d: Date): number {
  return Math.floor(d.getTime() / 1000)
}

class KyselyAdapter implements Adapter {
  readonly #db: Kysely<Database>
  readonly #model: string
  readonly #options: AdapterOptions

  constructor(db: Kysely<Database>, model: string, options: AdapterOptions) {
    this.#db = db
    this.#model = model
    this.#options = options
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void> {
    if (this.#model === 'Client') throw new Error('clients are managed with `satupintu clients`')
    const loaded = this.#model === 'Session' && providerRequest.getStore()?.loadedSessions?.has(id) === true
    await upsertPayload(this.#db, {
      model: this.#model,
      id,
      payload: payload as Record<string, unknown>,
      expiresInSeconds: expiresIn,
      updateOnly: loaded,
    })
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (!lookupable(id)) return undefined
    if (this.#model === 'Client') return (await findClientMetadata(this.#db, id)) as AdapterPayload | undefined
    const found = await findPayload(this.#db, this.#model, { id })
    if (!found) return undefined
    if (this.#model === 'Session') noteLoadedSession(id)
    if (this.#model === 'DeviceCode' && found.consumedAt === null)
      await slowDownTooFastPolls(this.#db, id, found.payload)
    const payload = { ...found.payload } as AdapterPayload
    delete (payload as Record<string, unknown>).graceReused
    if (found.consumedAt === null) return payload
    const state = providerRequest.getStore()
    const grace = this.#options.refreshGraceSeconds
    if (
      this.#model === 'RefreshToken' &&
      grace > 0 &&
      state !== undefined &&
      found.payload.graceReused !== true &&
      Date.now() - found.consumedAt.getTime() <= grace * 1000
    ) {
      state.graceReplays.add(id)
      return payload
    }
    return { ...payload, consumed: epoch(found.consumedAt) }
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    if (!lookupable(uid)) return undefined
    const found = await findPayload(this.#db, this.#model, { uid })
    if (found !== undefined && this.#model === 'Session') {
      const id = (found.payload as { jti?: unknown }).jti
      if (typeof id === 'string') noteLoadedSession(id)
    }
    return found?.payload as AdapterPayload | undefined
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    if (!lookupable(userCode)) return undefined
    const found = await findPayload(this.#db, this.#model, { userCode })
    if (!found) return undefined
    const payload = found.payload as AdapterPayload
    return found.consumedAt === null ? payload : { ...payload, consumed: epoch(found.consumedAt) }
  }

  async consume(id: string): Promise<void> {
    if (!lookupable(id)) throw new errors.InvalidGrant('grant not found')
    if (await consumePayload(this.#db, this.#model, id)) return
    const state = providerRequest.getStore()
    if (
      this.#model === 'RefreshToken' &&
      state?.graceReplays.has(id) === true &&
      (await takeGraceReuse(this.#db, this.#model, id, {
        graceSeconds: this.#options.refreshGraceSeconds,
        minAgeSeconds: graceMinAgeSeconds,
      }))
    ) {
      return
    }
    // Someone else redeemed it between our find() and now: this request loses.
    throw new errors.InvalidGrant(`${this.#model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`)
  }

  async destroy(id: string): Promise<void> {
    if (!lookupable(id)) return
    await destroyPayload(this.#db, this.#model, id)
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    if (!lookupable(grantId)) return
    // A sign-out ends that session's tokens only; the grant is the citizen's consent and
    // serves their other devices too (request-context.ts, endingSessionUid).
    const ending = providerRequest.getStore()?.endingSessionUid
    await revokePayloadsByGrantId(this.#db, this.#model, grantId, ending)
  }
}

/**
 * RFC 8628 §3.5: a kiosk polling the token endpoint with its device code sooner than the
 * interval is answered `slow_down` (oidc-provider has the error but never sends it). Here,
 * because the token endpoint's device grant finds the code through this adapter before it
 * does anything else with it; the code pages' look-ups (by user code, or at
 * `/device/<uid>`) are not polls.
 */
async function slowDownTooFastPolls(db: Kysely<Database>, id: string, payload: Record<string, unknown>): Promise<void> {
  if (providerRequest.getStore()?.providerPath !== tokenPath) return
  const exp = typeof payload.exp === 'number' ? new Date(payload.exp * 1000) : new Date(Date.now() + 600_000)
  if ((await noteDevicePoll(db, id, exp)) === 'slow_down') throw new errors.SlowDown()
}

/** Remembers, for this request, that the Session row `id` existed when it was read. */
function noteLoadedSession(id: string): void {
  const state = providerRequest.getStore()
  if (state === undefined) return
  state.loadedSessions ??= new Set()
  state.loadedSessions.add(id)
}

/**
 * Whether `value` can name a stored row at all. Identifiers come straight from requests
 * (client_id, code, refresh_token, token at introspection and revocation); PostgreSQL's
 * text cannot hold a NUL byte and refuses the whole statement ("invalid byte sequence"),
 * which would turn an attacker's `client_id=a%00` into a 500 (SECURITY 11, 31). Such a
 * value names nothing, so the lookup finds nothing and oidc-provider answers with its
 * ordinary error (invalid_client, invalid_grant, active: false). Ours are at most a few
 * hundred characters; a longer one names nothing either.
 */
function lookupable(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 1024 && !value.includes('\u0000')
}
