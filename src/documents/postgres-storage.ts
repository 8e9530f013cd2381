import { createHash, randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import {
  assertStorageKey,
  StorageNotFoundError,
  type DocumentStorage,
  type StoredEntry,
  type StoredObject,
} from './storage.ts'

export interface PostgresStorageOptions {
  /** Bytes per stored chunk (one row each). Default 256 KiB. */
  chunkBytes?: number
  /** Chunks fetched per query while reading. Default 4 (1 MiB in memory at most). */
  chunksPerRead?: number
}

/**
 * Document bytes in PostgreSQL itself, for regencies that want one system to run and back
 * up (docs/operations.md, "Where document bytes live"). Every instance sees every document.
 *
 * A put streams the source into chunk rows of `chunkBytes` under a fresh upload id,
 * hashing as it goes, with one chunk in memory at a time; each chunk is its own INSERT,
 * so the source's pace is the pace of the writes (backpressure through `for await`). Only
 * when the source has ended and the digest is known does one statement insert the
 * `document_blobs` row that makes the bytes visible under their key; when the key is
 * already there (same bytes), the new chunks are deleted and the old row is marked fresh.
 * A source that fails leaves nothing: its chunks are deleted before the error is passed on,
 * and a crash between chunks leaves an upload without a blob, which sweepIncomplete removes.
 *
 * A get reads `chunksPerRead` chunks per query, in order, as the consumer pulls: memory
 * stays bounded whatever the document's size.
 */
export function createPostgresStorage(db: Kysely<Database>, options: PostgresStorageOptions = {}): DocumentStorage {
  const chunkBytes = options.chunkBytes ?? 256 * 1024
  const chunksPerRead = options.chunksPerRead ?? 4

  async function discard(uploadId: string): Promise<void> {
    // Cascades to the chunks (and to a blob row, which an unfinished upload has not).
    await db.deleteFrom('document_blob_uploads').where('id', '=', uploadId).execute()
  }

  return {
    async put(source: Readable): Promise<StoredObject> {
      const uploadId = randomUUID()
      const hash = createHash('sha256')
      let size = 0
      let seq = 0
      let pending: Buffer[] = []
      let pendingBytes = 0
      const flush = async (final: boolean) => {
        while (pendingBytes >= chunkBytes || (final && pendingBytes > 0)) {
          const all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending)
          const data = all.subarray(0, chunkBytes)
          const rest = all.subarray(data.length)
          pending = rest.length > 0 ? [rest] : []
          pendingBytes = rest.length
          await db
            .insertInto('document_blob_chunks')
            .values({ upload_id: uploadId, seq: seq++, data: Buffer.from(data) })
            .execute()
        }
      }
      await db.insertInto('document_blob_uploads').values({ id: uploadId }).execute()
      try {
        for await (const chunk of source) {
          const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array)
          hash.update(b)
          size += b.length
          pending.push(b)
          pendingBytes += b.length
          if (pendingBytes >= chunkBytes) await flush(false)
        }
        // A destroyed source ends the loop without an error: that is an abort, not an end.
        if (source.destroyed && !source.readableEnded) throw new Error('the upload was aborted before it ended')
        await flush(true)
        const key = hash.digest('hex')
        const inserted = await db
          .insertInto('document_blobs')
          .values({ key, upload_id: uploadId, size })
          .onConflict((oc) => oc.column('key').doNothing())
          .returning('key')
          .executeTakeFirst()
        if (inserted === undefined) {
          // Same bytes already stored (content addressing): keep those, mark them fresh so
          // an orphan sweep spares them while this upload commits its row.
          await discard(uploadId)
          await db.updateTable('document_blobs').set({ modified_at: new Date() }).where('key', '=', key).execute()
        }
        return { key, sha256: key, size }
      } catch (err) {
        await discard(uploadId).catch(() => {})
        throw err
      }
    },

    async get(key: string): Promise<Readable> {
      assertStorageKey(key)
      const blob = await db.selectFrom('document_blobs').select('upload_id').where('key', '=', key).executeTakeFirst()
      if (blob === undefined) throw new StorageNotFoundError()
      const uploadId = blob.upload_id
      async function* chunks(): AsyncGenerator<Buffer> {
        let next = 0
        for (;;) {
          const rows = await db
            .selectFrom('document_blob_chunks')
            .select(['seq', 'data'])
            .where('upload_id', '=', uploadId)
            .where('seq', '>=', next)
            .orderBy('seq')
            .limit(chunksPerRead)
            .execute()
          for (const r of rows) {
            if (r.seq !== next) throw new Error(`document bytes ${key} are missing chunk ${next}`)
            next++
            // pg gives a Buffer; PGlite a Uint8Array, wrapped here without a copy.
            const data = r.data as Uint8Array
            yield Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
          }
          if (rows.length < chunksPerRead) return
        }
      }
      return Readable.from(chunks(), { objectMode: false })
    },

    async delete(key: string): Promise<void> {
      assertStorageKey(key)
      await db
        .deleteFrom('document_blob_uploads')
        .where('id', 'in', (eb) => eb.selectFrom('document_blobs').select('upload_id').where('key', '=', key))
        .execute()
    },

    async exists(key: string): Promise<boolean> {
      assertStorageKey(key)
      const row = await db.selectFrom('document_blobs').select('key').where('key', '=', key).executeTakeFirst()
      return row !== undefined
    },

    async *list(): AsyncIterable<StoredEntry> {
      // Keyset pages: constant memory however many documents there are.
      let after = ''
      for (;;) {
        const rows = await db
          .selectFrom('document_blobs')
          .select(['key', 'modified_at'])
          .where('key', '>', after)
          .orderBy('key')
          .limit(1000)
          .execute()
        for (const r of rows) yield { key: r.key, modifiedAt: r.modified_at }
        if (rows.length < 1000) return
        after = (rows.at(-1) as { key: string }).key
      }
    },

    async sweepIncomplete(olderThan: Date): Promise<number> {
      const res = await db
        .deleteFrom('document_blob_uploads')
        .where('created_at', '<', olderThan)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('document_blobs')
                .select('key')
                .whereRef('document_blobs.upload_id', '=', 'document_blob_uploads.id'),
            ),
          ),
        )
        .executeTakeFirst()
      return Number(res.numDeletedRows)
    },
  }
}
