import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  assertStorageKey,
  isStorageKey,
  StorageNotFoundError,
  type DocumentStorage,
  type StoredEntry,
  type StoredObject,
} from './storage.ts'

const TEMP_PREFIX = '.incoming-'

/**
 * Document storage in a local directory (the default, under `<dataDir>/documents`).
 * Layout: `<root>/aa/bb/<sha256>`, where aa and bb are the first two bytes of the digest,
 * so no directory grows past 65 536 entries.
 *
 * A put writes to `<root>/.incoming-<random>` (same file system, so the final rename is
 * atomic), hashes while streaming, fsyncs the file, renames it into place and fsyncs the
 * directory: after a crash a key is either absent or complete. Files are created 0600.
 */
export function createLocalStorage(root: string): DocumentStorage {
  const absRoot = path.resolve(root)
  const pathOf = (key: string) => path.join(absRoot, key.slice(0, 2), key.slice(2, 4), key)

  async function fsyncDir(dir: string): Promise<void> {
    // Makes the rename durable (POSIX); not supported for directories on some platforms.
    let fh: fsp.FileHandle | undefined
    try {
      fh = await fsp.open(dir, 'r')
      await fh.sync()
    } catch {
      // Best effort: Windows cannot open a directory for fsync.
    } finally {
      await fh?.close()
    }
  }

  return {
    async put(source: Readable): Promise<StoredObject> {
      await fsp.mkdir(absRoot, { recursive: true, mode: 0o700 })
      const temp = path.join(absRoot, `${TEMP_PREFIX}${randomBytes(12).toString('hex')}`)
      const hash = createHash('sha256')
      let size = 0
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk)
          size += chunk.length
          cb(null, chunk)
        },
      })
      try {
        // `flush: true` fsyncs the file before it is closed (Node ≥ 21).
        await pipeline(source, counter, fs.createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }))
        const key = hash.digest('hex')
        const final = pathOf(key)
        await fsp.mkdir(path.dirname(final), { recursive: true, mode: 0o700 })
        if (await fileExists(final)) {
          // Same bytes already stored (content addressing): keep those, and mark them
          // fresh so an orphan sweep spares them while this upload commits its row.
          await fsp.rm(temp, { force: true })
          const now = new Date()
          await fsp.utimes(final, now, now).catch(() => {})
        } else {
          await fsp.rename(temp, final)
          await fsyncDir(path.dirname(final))
        }
        return { key, sha256: key, size }
      } catch (err) {
        await fsp.rm(temp, { force: true })
        throw err
      }
    },

    async get(key: string): Promise<Readable> {
      assertStorageKey(key)
      let fh: fsp.FileHandle
      try {
        fh = await fsp.open(pathOf(key), 'r')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StorageNotFoundError()
        throw err
      }
      // The stream closes the handle when it ends or is destroyed.
      return fh.createReadStream({ autoClose: true })
    },

    async delete(key: string): Promise<void> {
      assertStorageKey(key)
      await fsp.rm(pathOf(key), { force: true })
    },

    async exists(key: string): Promise<boolean> {
      assertStorageKey(key)
      return fileExists(pathOf(key))
    },

    async *list(): AsyncIterable<StoredEntry> {
      for (const a of await dirNames(absRoot)) {
        if (!/^[0-9a-f]{2}$/.test(a)) continue
        for (const b of await dirNames(path.join(absRoot, a))) {
          if (!/^[0-9a-f]{2}$/.test(b)) continue
          for (const name of await dirNames(path.join(absRoot, a, b))) {
            if (!isStorageKey(name) || !name.startsWith(a + b)) continue
            const st = await fsp.stat(path.join(absRoot, a, b, name)).catch(() => undefined)
            if (st?.isFile()) yield { key: name, modifiedAt: st.mtime }
          }
        }
      }
    },

    async sweepIncomplete(olderThan: Date): Promise<number> {
      let removed = 0
      for (const name of await dirNames(absRoot)) {
        if (!name.startsWith(TEMP_PREFIX)) continue
        const file = path.join(absRoot, name)
        const st = await fsp.stat(file).catch(() => undefined)
        if (st !== undefined && st.mtime < olderThan) {
          await fsp.rm(file, { force: true })
          removed++
        }
      }
      return removed
    },
  }
}

async function fileExists(file: string): Promise<boolean> {
  try {
    return (await fsp.stat(file)).isFile()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

async function dirNames(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}
