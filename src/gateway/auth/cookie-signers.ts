import { hkdfSync } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { Database } from '../../db/database.ts'
import type { KeyEncryption } from '../../keys/encryption.ts'
import { ensureKeys, loadKeys } from '../../keys/keys.ts'

/** The signers of the gateway's own cookies, one per cookie, all from one key set. */
export interface Signers {
  session: ReturnType<typeof fastifyCookie.signerFactory>
  transaction: ReturnType<typeof fastifyCookie.signerFactory>
  /** Names the key set: a different fingerprint is a different set. */
  fingerprint: string
}

export interface CookieSigners {
  /** The signers of the key set this instance holds now (replaced whole when it changes). */
  current(): Signers
  /**
   * Checks a cookie's signature. When it fails, another instance may already sign with a
   * key activated since this one last loaded: the keys are loaded again (at most once a
   * second, whatever clients send) and the cookie checked once more. `renew` when it was
   * signed with a key that is retiring.
   */
  unsign(kind: 'session' | 'transaction', raw: string): Promise<{ value: string; renew: boolean } | undefined>
  /** Loads the key set again now (the key-reload job). */
  reload(): Promise<void>
}

/**
 * The cookie-signing keys (purpose 'cookie', rotated like every key) are shared with the
 * idp's own cookies. Each of our cookies signs with a key derived for it (HKDF, RFC 5869),
 * so a value signed for one cookie is never accepted as another's.
 */
export function signersFrom(
  keys: readonly string[],
  fingerprint: string,
  labels: { session: string; transaction: string },
): Signers {
  // Keys as strings: Node's HMAC with a Buffer key costs ~25 µs a call against ~4 µs
  // with a string (measured for the benchmark, docs/performance.md).
  const derive = (label: string) =>
    fastifyCookie.signerFactory(
      keys.map((k) =>
        Buffer.from(
          hkdfSync('sha256', Buffer.from(k, 'utf8'), Buffer.alloc(0), `satupintu gateway cookie ${label}`, 32),
        ).toString('base64url'),
      ),
    )
  return { session: derive(labels.session), transaction: derive(labels.transaction), fingerprint }
}

/** Loads the cookie keys from the database (making them on first use) and keeps them current. */
export async function createCookieSigners(deps: {
  db: Kysely<Database>
  kek: KeyEncryption
  logger: Pick<Logger, 'warn'>
  /** The HKDF label of each cookie (its name), so each has keys of its own. */
  labels: { session: string; transaction: string }
}): Promise<CookieSigners> {
  const { db, kek, logger, labels } = deps
  await ensureKeys(db, kek, 'cookie')
  const first = await loadKeys(db, kek, 'cookie')
  let signers = signersFrom(first.cookieKeys, first.fingerprint, labels)
  let lastLoad = Date.now()

  async function reload(): Promise<void> {
    lastLoad = Date.now()
    const loaded = await loadKeys(db, kek, 'cookie')
    if (loaded.fingerprint !== signers.fingerprint && loaded.cookieKeys.length > 0)
      signers = signersFrom(loaded.cookieKeys, loaded.fingerprint, labels)
  }

  return {
    current: () => signers,
    reload,
    async unsign(kind, raw) {
      let r = signers[kind].unsign(raw)
      if (!r.valid && Date.now() - lastLoad >= 1000) {
        try {
          await reload()
        } catch (err) {
          logger.warn({ err }, 'cookie key reload failed')
        }
        r = signers[kind].unsign(raw)
      }
      return r.valid && r.value !== null ? { value: r.value, renew: r.renew } : undefined
    },
  }
}
