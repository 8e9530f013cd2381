import type { Readable } from 'node:stream'

/**
 * Where document bytes live: content-addressed by SHA-256, streamed in and out, never
 * held whole in memory. The local directory (local-storage.ts) is the default; an
 * S3-compatible object store is the scale-out option. Every implementation passes the
 * one conformance suite in test/documents/storage.test.ts (STYLE.md habit 7).
 *
 * Storage knows nothing about citizens or rows: the vault (vault.ts) decides when bytes
 * may be removed (no unpurged version refers to them any more).
 */
export interface StoredObject {
  /** The key to get or delete the bytes with: their SHA-256 in lowercase hex. */
  readonly key: string
  /** SHA-256 of the bytes, lowercase hex, computed while they streamed in. */
  readonly sha256: string
  /** Number of bytes. */
  readonly size: number
}

export interface StoredEntry {
  readonly key: string
  /** When the bytes were written (an orphan sweep spares recent ones: an upload may be committing). */
  readonly modifiedAt: Date
}

export interface DocumentStorage {
  /**
   * Streams `source` into storage under its SHA-256. The bytes become visible under the
   * key only once complete and durable; identical bytes already stored are kept as they
   * are. When `source` fails or is destroyed (a client abort), nothing is left behind
   * and the promise rejects with that error.
   */
  put(source: Readable): Promise<StoredObject>
  /** A stream of the stored bytes. Rejects with StorageNotFoundError for an unknown key. */
  get(key: string): Promise<Readable>
  /** Removes the bytes; removing a key that is not there is not an error. */
  delete(key: string): Promise<void>
  exists(key: string): Promise<boolean>
  /** Every stored key (for orphan sweeps and tests); no order promised. */
  list(): AsyncIterable<StoredEntry>
  /**
   * Removes what interrupted writes left (temporary files of a crashed process,
   * incomplete multipart uploads) older than `olderThan`. Returns how many.
   */
  sweepIncomplete(olderThan: Date): Promise<number>
}

export class StorageNotFoundError extends Error {
  constructor() {
    super('no stored object with this key')
    this.name = 'StorageNotFoundError'
  }
}

export class StorageKeyError extends Error {
  constructor() {
    super('not a storage key (64 lowercase hex digits)')
    this.name = 'StorageKeyError'
  }
}

const KEY = /^[0-9a-f]{64}$/

/** Keys are SHA-256 hex digests: nothing else (no path, no `..`) ever reaches a backend. */
export function isStorageKey(key: unknown): key is string {
  return typeof key === 'string' && KEY.test(key)
}

export function assertStorageKey(key: unknown): asserts key is string {
  if (!isStorageKey(key)) throw new StorageKeyError()
}
