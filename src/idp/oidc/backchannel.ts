import type { Kysely } from 'kysely'
import type Provider from 'oidc-provider'
import type { Logger } from 'pino'
import type { Database } from '../../db/database.ts'
import { listPayloadsForAccount } from './store.ts'

/**
 * Sends OIDC Back-Channel Logout to every relying party of the given sessions, as
 * oidc-provider does at /session/end, for the sessions we end ourselves (sign out
 * everywhere, a password change or reset). Call it before deleting the sessions.
 * Delivery failures are logged, never fatal: the citizen's action goes through.
 */
export async function notifyBackchannelLogout(
  provider: Provider,
  db: Kysely<Database>,
  accountId: string,
  logger: Pick<Logger, 'warn'>,
  options: { exceptSessionId?: string | undefined; onlySessionId?: string } = {},
): Promise<number> {
  const sessions = await listPayloadsForAccount(db, 'Session', accountId)
  const deliveries: Promise<void>[] = []
  for (const s of sessions) {
    if (s.id === options.exceptSessionId) continue
    if (options.onlySessionId !== undefined && s.id !== options.onlySessionId) continue
    const authorizations = (s.payload.authorizations ?? {}) as Record<string, { sid?: string }>
    for (const [clientId, auth] of Object.entries(authorizations)) {
      deliveries.push(
        (async () => {
          const client = await provider.Client.find(clientId)
          if (!client?.backchannelLogoutUri) return
          // Client#backchannelLogout(sub, sid) is oidc-provider's own delivery (lib/models/
          // client.js), the one /session/end uses; @types/oidc-provider does not declare it.
          await (client as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> }).backchannelLogout(
            accountId,
            auth.sid ?? '',
          )
        })().catch((err: unknown) => {
          logger.warn({ clientId, err: { message: (err as Error).message } }, 'back-channel logout failed')
        }),
      )
    }
  }
  await Promise.all(deliveries)
  return deliveries.length
}
