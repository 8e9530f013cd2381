import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { recordSignInDevice } from '../accounts/devices.ts'
import { noticeOptionsOf, setNoticeLocale } from '../accounts/notices.ts'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import { pickLocale } from '../http/locale.ts'
import { hostCookieName } from './cookie-names.ts'

/**
 * The browser's device id (src/accounts/devices.ts): random, HttpOnly, for the whole idp;
 * `__Host-` over https, so a sibling host cannot plant a known device's id.
 */
export function deviceCookieName(config: Config): string {
  return hostCookieName(config, 'sp_perangkat')
}
/** 400 days: the longest a browser keeps a cookie (RFC 6265bis sec. 5.5, Chrome's cap). */
const deviceCookieSeconds = 400 * 24 * 3600

/**
 * After a citizen's successful sign-in: remembers the language of the page (notices are
 * written in it), notes the device, notifies a new one, and (re)sets the device cookie.
 */
export async function afterCitizenSignIn(
  req: FastifyRequest,
  reply: FastifyReply,
  db: Kysely<Database>,
  config: Config,
  citizenId: string,
): Promise<void> {
  const locale = pickLocale(req)
  await setNoticeLocale(db, citizenId, locale)
  const result = await recordSignInDevice(
    db,
    { citizenId, deviceId: req.cookies[deviceCookieName(config)], userAgent: req.headers['user-agent'] },
    { ...noticeOptionsOf(config), logger: req.log },
  )
  reply.setCookie(deviceCookieName(config), result.deviceId, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: config.idp.issuer.startsWith('https://'),
    maxAge: deviceCookieSeconds,
  })
}
