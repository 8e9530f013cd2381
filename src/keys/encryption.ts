import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { Config } from '../config/schema.ts'

/**
 * Encryption of private keys at rest: AES-256-GCM under a key derived (HKDF-SHA256) from
 * the configured key-encryption secret. The stored form is `v1.<iv>.<tag>.<ciphertext>`
 * in base64url; the purpose and kid are bound in as associated data, so a ciphertext
 * cannot be moved to another row.
 */
export interface KeyEncryption {
  encrypt(plaintext: string, aad: string): string
  decrypt(sealed: string, aad: string): string
  /**
   * A 32-byte key for another purpose (e.g. 'one-time codes'), derived from the same
   * secret with HKDF under its own label: one secret to manage, independent keys.
   */
  derive(label: string): Buffer
}

export class KeyEncryptionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'KeyEncryptionError'
  }
}

export function createKeyEncryption(secret: string): KeyEncryption {
  const key = Buffer.from(
    hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), 'satupintu key encryption v1', 32),
  )
  return {
    derive(label) {
      return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), `satupintu ${label} v1`, 32))
    },
    encrypt(plaintext, aad) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(aad, 'utf8'))
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join(
        '.',
      )
    },
    decrypt(sealed, aad) {
      const [v, iv, tag, ct] = sealed.split('.')
      if (v !== 'v1' || iv === undefined || tag === undefined || ct === undefined) {
        throw new KeyEncryptionError('a stored key is not in a known format')
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
        decipher.setAAD(Buffer.from(aad, 'utf8'))
        decipher.setAuthTag(Buffer.from(tag, 'base64url'))
        return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8')
      } catch (err) {
        throw new KeyEncryptionError(
          'a stored key cannot be decrypted: the key-encryption secret (SATUPINTU_KEY_ENCRYPTION_SECRET) is not the one it was encrypted with',
          { cause: err },
        )
      }
    },
  }
}

/**
 * The key-encryption secret: from configuration, or (outside production) one generated on
 * first start and kept in `<dataDir>/key-encryption-secret` with a warning, so that the
 * quick start needs no setup. Production refuses to start without one (config schema).
 */
export function resolveKeyEncryptionSecret(config: Config, warn: (msg: string) => void): string {
  if (config.secrets.keyEncryptionKey !== undefined) return config.secrets.keyEncryptionKey
  if (config.env === 'production') throw new KeyEncryptionError('secrets.keyEncryptionKey is required in production')
  const file = path.resolve(config.dataDir, 'key-encryption-secret')
  try {
    const existing = fs.readFileSync(file, 'utf8').trim()
    if (existing.length >= 32) return existing
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  try {
    fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8').trim()
    throw err
  }
  warn(`generated a development key-encryption secret in ${file}; set SATUPINTU_KEY_ENCRYPTION_SECRET in production`)
  return secret
}
