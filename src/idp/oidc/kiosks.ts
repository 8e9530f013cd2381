import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../../db/database.ts'
import type { KioskRow } from '../../db/tables/kiosks.ts'
import {
  ClientError,
  disabledClientKey,
  findClient,
  insertClient,
  prepareClient,
  type ClientPolicy,
} from './clients.ts'
import { recordRevokedSessions } from './session-revocation.ts'

/**
 * Self-service kiosks (issue 16): machines in the service halls on which citizens sign in
 * with their phone (the device grant, RFC 8628). Each kiosk is its own confidential client:
 * it proves itself with a private key only it holds (private_key_jwt, RFC 7523), may use the
 * device grant and nothing else (no refresh token: a shared machine keeps nothing), and its
 * access tokens are bound to that key (DPoP, RFC 9449). What the citizen's phone shows of
 * the kiosk, its name and where it stands, is this table's, never the kiosk's request.
 */

/** The device grant's type (RFC 8628 §3.4), the only one a kiosk's client has. */
export const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code'

/** Client metadata key naming the kiosk a client belongs to (its row in `kiosks`). */
export const kioskKey = 'urn:satupintu:kiosk'

/** Client metadata key of a client that may no longer be used (a disabled kiosk's). */
export const disabledKey = disabledClientKey

/** How long a kiosk's user code lives (RFC 8628 §3.2 expires_in; the cross-device BCP's short codes). */
export const kioskCodeSeconds = 120

/**
 * Wrong user codes one address may type in an hour on the phone's code page (`kiosk-code`
 * counters, src/accounts/throttle.ts): a typo now and then in a hall whose phones share one
 * address is far below it, guessing a live code among 2.5·10^10 is far above it.
 */
export const userCodeFailuresPerAddress = { maxFailures: 30, windowSeconds: 3600 } as const
export const userCodeThrottleAction = 'kiosk-code'

/** The longest a kiosk's access token lives, whatever idp.ttl.accessTokenSeconds says. */
export const kioskAccessTokenSeconds = 600

/** The access-token claims of a kiosk's token: the channel and which kiosk. */
export function kioskClaims(kioskId: string | undefined): Record<string, string> {
  return kioskId === undefined ? {} : { channel: 'kiosk', kiosk_id: kioskId }
}

/** The agency id kiosks' clients are listed under (`satupintu clients list`). */
export const kioskAgencyId = 'kiosk'

/** The kiosk id of a client's metadata, if it is a kiosk's. */
export function kioskIdOf(metadata: Record<string, unknown> | undefined): string | undefined {
  const v = metadata?.[kioskKey]
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** Whether a stored client may no longer be used (the adapter then finds no such client). */
export function isDisabledClient(metadata: Record<string, unknown>): boolean {
  return metadata[disabledKey] === true
}

export class KioskError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'KioskError'
  }
}

export interface KioskInput {
  name: string
  location: string
}

/** A private key for the kiosk's set-up: given to the operator once, never stored by us. */
export interface KioskKey {
  /** The private JWK (ES256), with its kid and alg: what the kiosk signs its client assertions with. */
  privateJwk: JWK
  publicJwk: JWK
}

export interface AddedKiosk {
  kiosk: KioskRow
  key: KioskKey
}

/** One line of text, as the phone shows it. */
function line(field: string, value: string, min: number, max: number): string {
  const v = value.trim().replace(/\s+/g, ' ')
  if (v.length < min || v.length > max || /[\u0000-\u001f\u007f]/.test(v))
    throw new KioskError(`${field} must be ${min} to ${max} characters on one line`)
  return v
}

/** A new ES256 key pair for a kiosk, its kid the public key's thumbprint (RFC 7638). */
export async function generateKioskKey(): Promise<KioskKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
  const pub = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(pub)
  const publicJwk: JWK = { ...pub, kid, alg: 'ES256', use: 'sig' }
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' }
  return { privateJwk, publicJwk }
}

/**
 * The client metadata of a kiosk: confidential (private_key_jwt with the kiosk's public
 * key), the device grant only, DPoP-bound access tokens, tokens for the gateway's
 * resource. It is the regency's own machine (first-party: the citizen's approval on the
 * phone, which names the kiosk and what it asks for, is the consent), with public subjects
 * like the portal it stands in for.
 */
export function kioskClientMetadata(
  input: { kioskId: string; clientId: string; name: string; publicJwk: JWK; gatewayResource: string },
  policy: ClientPolicy,
): Record<string, unknown> {
  let prepared: ReturnType<typeof prepareClient>
  try {
    prepared = prepareClient(
      {
        clientId: input.clientId,
        name: input.name,
        agencyId: kioskAgencyId,
        redirectUris: [],
        authMethod: 'private_key_jwt',
        scopes: ['openid', 'profile'],
        firstParty: true,
        dpopBound: true,
        grantTypes: [deviceCodeGrantType],
        jwks: { keys: [input.publicJwk as Record<string, unknown>] },
        resources: [input.gatewayResource],
      },
      policy,
    )
  } catch (err) {
    if (err instanceof ClientError) throw new KioskError(`kiosk client ${err.message}`)
    throw err
  }
  return { ...prepared.metadata, token_endpoint_auth_signing_alg: 'ES256', [kioskKey]: input.kioskId }
}

/** Registers a kiosk: its client and its row, in one transaction. */
export async function addKiosk(
  db: Kysely<Database>,
  input: KioskInput,
  options: { gatewayResource: string; policy: ClientPolicy; key?: KioskKey },
): Promise<AddedKiosk> {
  const name = line('--name', input.name, 2, 100)
  const location = line('--location', input.location, 2, 200)
  const kioskId = randomUUID()
  const clientId = `kiosk-${randomBytes(6).toString('hex')}`
  const key = options.key ?? (await generateKioskKey())
  const metadata = kioskClientMetadata(
    { kioskId, clientId, name, publicJwk: key.publicJwk, gatewayResource: options.gatewayResource },
    options.policy,
  )
  const kiosk = await db.transaction().execute(async (trx) => {
    await insertClient(trx, { clientId, agencyId: kioskAgencyId, name, metadata, secret: undefined })
    return trx
      .insertInto('kiosks')
      .values({ id: kioskId, client_id: clientId, name, location })
      .returningAll()
      .executeTakeFirstOrThrow()
  })
  return { kiosk, key }
}

export async function listKiosks(db: Kysely<Database>): Promise<KioskRow[]> {
  return db.selectFrom('kiosks').selectAll().orderBy('created_at').orderBy('id').execute()
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export async function findKiosk(db: Kysely<Database>, id: string): Promise<KioskRow | undefined> {
  if (!uuidPattern.test(id)) return undefined
  return db.selectFrom('kiosks').selectAll().where('id', '=', id).executeTakeFirst()
}

/** The kiosk a client belongs to, by the client id (what the phone's pages name). */
export async function findKioskByClientId(db: Kysely<Database>, clientId: string): Promise<KioskRow | undefined> {
  return db.selectFrom('kiosks').selectAll().where('client_id', '=', clientId).executeTakeFirst()
}

export interface DisabledKiosk {
  kiosk: KioskRow
  /** Whether it was active until now (false: it was disabled already, nothing changed). */
  changed: boolean
  /** Sessions whose tokens for the kiosk the gateways now refuse. */
  revokedSessions: number
}

/**
 * Disables a kiosk, at once: its client is no longer found (no device authorization, no
 * token, no introspection), every code, grant and token of its client is deleted, and the
 * sessions its tokens came from are written to revoked_sessions for the client, so that the
 * gateways refuse the JWT access tokens it already holds (session-revocation.ts). The
 * citizen's own session on the phone goes on: only the kiosk's part of it ends.
 */
export async function disableKiosk(db: Kysely<Database>, id: string): Promise<DisabledKiosk | undefined> {
  const found = await findKiosk(db, id)
  if (!found) return undefined
  return db.transaction().execute(async (trx) => {
    const kiosk = await trx
      .updateTable('kiosks')
      .set({ status: 'disabled', disabled_at: sql<Date>`coalesce(disabled_at, now())` })
      .where('id', '=', found.id)
      .returningAll()
      .executeTakeFirstOrThrow()
    const client = await findClient(trx, kiosk.client_id)
    if (client && !isDisabledClient(client.metadata)) {
      await trx
        .updateTable('oidc_clients')
        .set({ metadata: JSON.stringify({ ...client.metadata, [disabledKey]: true }), updated_at: new Date() })
        .where('client_id', '=', kiosk.client_id)
        .execute()
    }
    // The sessions the kiosk signed in from: the citizens' sessions (on their phones) that
    // authorised it, and any its codes and tokens still name. Expired rows too.
    const rows = await trx
      .selectFrom('oidc_payloads')
      .select(
        sql<string | null>`case when model = 'Session' then payload->>'uid' else payload->>'sessionUid' end`.as(
          'session_uid',
        ),
      )
      .where((eb) =>
        eb.or([
          eb(sql<string>`payload->>'clientId'`, '=', kiosk.client_id),
          eb.and([
            eb('model', '=', 'Session'),
            sql<boolean>`jsonb_exists(coalesce(payload->'authorizations', '{}'::jsonb), ${kiosk.client_id})`,
          ]),
        ]),
      )
      .execute()
    const uids = [...new Set(rows.flatMap((r) => (r.session_uid ? [r.session_uid] : [])))]
    const revokedSessions = await recordRevokedSessions(
      trx,
      uids.map((uid) => ({ uid, clientIds: [kiosk.client_id] })),
    )
    await trx
      .deleteFrom('oidc_payloads')
      .where((eb) => eb(eb.ref('payload', '->>').key('clientId' as never), '=', kiosk.client_id))
      .execute()
    return { kiosk, changed: found.status === 'active', revokedSessions }
  })
}

/**
 * A new key pair for a kiosk: its client's public key is replaced, so the old private key
 * stops working at once (a kiosk whose key may have leaked, or a replaced machine).
 */
export async function rotateKioskKey(
  db: Kysely<Database>,
  id: string,
  given?: KioskKey,
): Promise<{ kiosk: KioskRow; key: KioskKey } | undefined> {
  const kiosk = await findKiosk(db, id)
  if (!kiosk) return undefined
  if (kiosk.status !== 'active') throw new KioskError(`kiosk ${id} is disabled: register a new kiosk instead`)
  const key = given ?? (await generateKioskKey())
  await db.transaction().execute(async (trx) => {
    const client = await findClient(trx, kiosk.client_id)
    if (!client) throw new KioskError(`kiosk ${id} has no client ${kiosk.client_id}`)
    await trx
      .updateTable('oidc_clients')
      .set({
        metadata: JSON.stringify({ ...client.metadata, jwks: { keys: [key.publicJwk] } }),
        updated_at: new Date(),
      })
      .where('client_id', '=', kiosk.client_id)
      .execute()
  })
  return { kiosk, key }
}

/** RFC 8628 §3.2: the polling interval a client must keep when none is given (5 s). */
export const pollIntervalSeconds = 5

/**
 * Notes a kiosk's poll of the token endpoint with a device code and says whether it came
 * too soon (RFC 8628 §3.5): sooner than the interval after the previous poll is
 * `slow_down`, and the interval that code's polls must keep grows by 5 s. One statement,
 * so two polls at once cannot both pass. The row is kept by a hash of the code (never the
 * code) until the code's own expiry, then purged with the expired OIDC rows.
 */
export async function pruneDevicePolls(db: Kysely<Database>): Promise<number> {
  const res = await db.deleteFrom('device_code_polls').where('expires_at', '<', sql<Date>`now()`).executeTakeFirst()
  return Number(res.numDeletedRows)
}

export async function noteDevicePoll(
  db: Kysely<Database>,
  deviceCode: string,
  expiresAt: Date,
): Promise<'ok' | 'slow_down'> {
  const hash = createHash('sha256').update(deviceCode, 'utf8').digest('base64url')
  // The CTE `prev` reads the row as it was before this statement's own change.
  const res = await sql<{ too_soon: boolean | null }>`
    with prev as (
      select polled_at + make_interval(secs => interval_seconds) > now() as too_soon
      from device_code_polls where code_hash = ${hash}
    ), noted as (
      insert into device_code_polls as p (code_hash, polled_at, interval_seconds, expires_at)
      values (${hash}, now(), ${pollIntervalSeconds}, ${expiresAt})
      on conflict (code_hash) do update set
        interval_seconds = case
          when p.polled_at + make_interval(secs => p.interval_seconds) > excluded.polled_at then p.interval_seconds + 5
          else p.interval_seconds end,
        polled_at = excluded.polled_at
      returning 1
    )
    select (select too_soon from prev) as too_soon, (select count(*) from noted) as noted`.execute(db)
  return res.rows[0]?.too_soon === true ? 'slow_down' : 'ok'
}
