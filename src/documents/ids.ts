import { randomBytes } from 'node:crypto'

/**
 * Identifiers of documents, versions, grants and links: 16 random bytes (128 bits) in
 * base64url, 22 characters. docs/security.md line 23: they reach URLs and agencies, so they
 * must not be guessable or enumerable (a UUID v4 has only 122 random bits).
 */
export const RANDOM_ID_BYTES = 16

export function randomId(): string {
  return randomBytes(RANDOM_ID_BYTES).toString('base64url')
}

const RANDOM_ID = /^[A-Za-z0-9_-]{22}$/

/** Whether `s` has the shape of a randomId() (checked before a look-up, so junk never reaches SQL). */
export function isRandomId(s: unknown): s is string {
  return typeof s === 'string' && RANDOM_ID.test(s)
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Whether `s` is a UUID (citizen and officer ids), checked before it reaches a uuid column. */
export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID.test(s)
}
