// Devices a citizen signs in from, to tell them of a sign-in from a new one (NIST SP
// 800-63B-4 sec. 4.6; OWASP ASVS 5.0 V6.3.5 "users are notified of suspicious
// authentication attempts"). A device is a browser holding a random id in a long-lived
// cookie; only the id's SHA-256 is stored, so a copy of the table cannot be replayed as
// cookies. The first device of an account is not notified (it is the registration).

import { createHash, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import { queueNotice, type QueueNoticeOptions } from './notices.ts'

const DEVICE_ID = /^[A-Za-z0-9_-]{43}$/

/** A new device id: 32 random bytes, base64url. */
export function newDeviceId(): string {
  return randomBytes(32).toString('base64url')
}

export function hashDeviceId(deviceId: string): string {
  return createHash('sha256').update(deviceId).digest('hex')
}

/** "Chrome di Android", "Firefox on Windows": what the notice names, from the User-Agent. */
export function deviceLabel(userAgent: string | undefined, locale: 'id' | 'en' = 'id'): string {
  const ua = (userAgent ?? '').slice(0, 1000)
  const browser = /SamsungBrowser\//.test(ua)
    ? 'Samsung Internet'
    : /Edg(A|iOS)?\//.test(ua)
      ? 'Edge'
      : /OPR\/|Opera/.test(ua)
        ? 'Opera'
        : /Firefox\/|FxiOS\//.test(ua)
          ? 'Firefox'
          : /Chrome\/|CriOS\//.test(ua)
            ? 'Chrome'
            : /Safari\//.test(ua)
              ? 'Safari'
              : undefined
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad|iPod/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /CrOS/.test(ua)
            ? 'ChromeOS'
            : /Linux/.test(ua)
              ? 'Linux'
              : undefined
  const unknown = locale === 'id' ? 'peramban tak dikenal' : 'unknown browser'
  if (browser === undefined && os === undefined) return unknown
  if (os === undefined) return browser as string
  return `${browser ?? unknown} ${locale === 'id' ? 'di' : 'on'} ${os}`
}

export interface SignInDeviceResult {
  /** The id for the cookie: the one presented when it was valid, else a new one. */
  readonly deviceId: string
  /** A device not seen before on this account (a notice was queued unless it was the first). */
  readonly isNew: boolean
  readonly notified: boolean
}

/**
 * Records a successful sign-in of `citizenId` from the browser that presented `deviceId`
 * (undefined: no cookie). Queues a new_device_sign_in notice when the device is new and
 * the account had signed in from another device before. Pass a transaction or the
 * database; the notice and the device row are written together.
 */
export async function recordSignInDevice(
  db: Kysely<Database>,
  input: {
    readonly citizenId: string
    readonly deviceId: string | undefined
    readonly userAgent: string | undefined
    readonly now?: Date
  },
  options: QueueNoticeOptions = {},
): Promise<SignInDeviceResult> {
  const now = input.now ?? new Date()
  const deviceId = input.deviceId !== undefined && DEVICE_ID.test(input.deviceId) ? input.deviceId : newDeviceId()
  const hash = hashDeviceId(deviceId)
  return db.transaction().execute(async (trx) => {
    const seen = await trx
      .updateTable('known_devices')
      .set({ last_seen_at: now })
      .where('citizen_id', '=', input.citizenId)
      .where('device_hash', '=', hash)
      .executeTakeFirst()
    if (seen.numUpdatedRows > 0n) return { deviceId, isNew: false, notified: false }
    const others = await trx
      .selectFrom('known_devices')
      .select('device_hash')
      .where('citizen_id', '=', input.citizenId)
      .limit(1)
      .execute()
    const inserted = await trx
      .insertInto('known_devices')
      .values({
        citizen_id: input.citizenId,
        device_hash: hash,
        label: deviceLabel(input.userAgent, 'en'),
        first_seen_at: now,
        last_seen_at: now,
      })
      .onConflict((oc) => oc.columns(['citizen_id', 'device_hash']).doNothing())
      .returning('device_hash')
      .executeTakeFirst()
    // Two sign-ins at once from one new device: only the one that inserted notifies.
    if (inserted === undefined || others.length === 0) return { deviceId, isNew: true, notified: false }
    const prefs = await trx
      .selectFrom('notice_preferences')
      .select('locale')
      .where('citizen_id', '=', input.citizenId)
      .executeTakeFirst()
    const locale = options.locale ?? prefs?.locale ?? 'id'
    const n = await queueNotice(
      trx,
      {
        citizenId: input.citizenId,
        kind: 'new_device_sign_in',
        data: { at: now, device: deviceLabel(input.userAgent, locale) },
      },
      { ...options, locale },
    )
    return { deviceId, isNew: true, notified: n > 0 }
  })
}
