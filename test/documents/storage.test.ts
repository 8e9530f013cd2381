/**
 * The conformance suite of the document storage port (STYLE.md habit 7): every
 * implementation of DocumentStorage runs the same tests. Add an implementation to
 * `implementations` (an S3-compatible store would be gated on its endpoint being set).
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { StorageKeyError, StorageNotFoundError, type DocumentStorage } from '../../src/documents/storage.ts'
import { chunked, filesUnder, generated, readAll, tempDir } from './fixtures.ts'

interface Implementation {
  readonly name: string
  /** A fresh, empty store for one test, and a way to see everything it holds (temporary leftovers included). */
  make(t: Test): Promise<{ storage: DocumentStorage; everything: () => Promise<string[]> }>
}

const implementations: Implementation[] = [
  {
    name: 'local directory',
    async make(t) {
      const root = path.join(tempDir(t), 'documents')
      return { storage: createLocalStorage(root), everything: async () => filesUnder(root) }
    },
  },
]

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function keysOf(storage: DocumentStorage): Promise<string[]> {
  const keys: string[] = []
  for await (const e of storage.list()) keys.push(e.key)
  return keys.sort()
}

/** A stream that sends `good` bytes, then fails (or is destroyed without an error). */
function failingAfter(good: Buffer, how: 'error' | 'destroy'): Readable {
  let sent = false
  const s = new Readable({
    read() {
      if (!sent) {
        sent = true
        this.push(good)
        return
      }
      setImmediate(() => (how === 'error' ? s.destroy(new Error('client went away')) : s.destroy()))
    },
  })
  return s
}

function conformance(impl: Implementation): void {
  t.test(`storage conformance: ${impl.name}`, async (t) => {
    t.test('put streams bytes in under their SHA-256 and get streams them back unchanged', async (t) => {
      const { storage } = await impl.make(t)
      const body = Buffer.from('isi dokumen '.repeat(10_000))
      const stored = await storage.put(chunked(body, 4096))
      t.equal(stored.key, sha256(body))
      t.equal(stored.sha256, sha256(body))
      t.equal(stored.size, body.length)
      t.ok(await storage.exists(stored.key))
      t.same(await readAll(await storage.get(stored.key)), body)
      t.same(await keysOf(storage), [stored.key])
    })

    t.test('the same bytes put twice are stored once under one key', async (t) => {
      const { storage, everything } = await impl.make(t)
      const body = Buffer.from('sama')
      const a = await storage.put(Readable.from([body]))
      const b = await storage.put(Readable.from([body]))
      t.equal(a.key, b.key)
      t.same(await keysOf(storage), [a.key])
      t.equal((await everything()).length, 1, 'no temporary file left')
    })

    t.test('a source that fails halfway leaves nothing behind and rejects with its error', async (t) => {
      const { storage, everything } = await impl.make(t)
      await t.rejects(storage.put(failingAfter(Buffer.alloc(100_000, 1), 'error')), /client went away/)
      t.same(await everything(), [])
      t.same(await keysOf(storage), [])
    })

    t.test('a source destroyed halfway (a client abort) leaves nothing behind', async (t) => {
      const { storage, everything } = await impl.make(t)
      await t.rejects(storage.put(failingAfter(Buffer.alloc(100_000, 2), 'destroy')))
      t.same(await everything(), [])
    })

    t.test('a large put is streamed, not buffered, and its digest is exact', async (t) => {
      const { storage } = await impl.make(t)
      const total = 20 * 1024 * 1024
      const hash = createHash('sha256')
      for await (const c of generated(total)) hash.update(c as Buffer)
      const stored = await storage.put(generated(total))
      t.equal(stored.size, total)
      t.equal(stored.sha256, hash.digest('hex'))
      const back = createHash('sha256')
      let n = 0
      for await (const c of await storage.get(stored.key)) {
        back.update(c as Buffer)
        n += (c as Buffer).length
      }
      t.equal(n, total)
      t.equal(back.digest('hex'), stored.sha256)
    })

    t.test('get of an unknown key rejects with StorageNotFoundError; delete is idempotent', async (t) => {
      const { storage } = await impl.make(t)
      const unknown = sha256(Buffer.from('tidak ada'))
      await t.rejects(storage.get(unknown), StorageNotFoundError)
      t.equal(await storage.exists(unknown), false)
      await storage.delete(unknown)
      const stored = await storage.put(Readable.from([Buffer.from('hapus saya')]))
      await storage.delete(stored.key)
      await storage.delete(stored.key)
      t.equal(await storage.exists(stored.key), false)
      await t.rejects(storage.get(stored.key), StorageNotFoundError)
      t.same(await keysOf(storage), [])
    })

    t.test('anything but a SHA-256 hex key is refused before it reaches the backend', async (t) => {
      const { storage } = await impl.make(t)
      const bad = ['../../etc/passwd', '', 'A'.repeat(64), `${'a'.repeat(63)}/`, `${'a'.repeat(64)}\0`, 'aa/bb/' + 'a'.repeat(64)]
      for (const key of bad) {
        await t.rejects(storage.get(key), StorageKeyError, JSON.stringify(key))
        await t.rejects(storage.exists(key), StorageKeyError, JSON.stringify(key))
        await t.rejects(storage.delete(key), StorageKeyError, JSON.stringify(key))
      }
    })

    t.test('list reports every stored key with when it was written', async (t) => {
      const { storage } = await impl.make(t)
      const before = Date.now() - 5000
      const a = await storage.put(Readable.from([Buffer.from('satu')]))
      const b = await storage.put(Readable.from([Buffer.from('dua')]))
      const entries: { key: string; modifiedAt: Date }[] = []
      for await (const e of storage.list()) entries.push(e)
      t.same(entries.map((e) => e.key).sort(), [a.key, b.key].sort())
      for (const e of entries) t.ok(e.modifiedAt.getTime() >= before && e.modifiedAt.getTime() <= Date.now() + 5000)
    })
  })
}

for (const impl of implementations) conformance(impl)

t.test('the local storage keeps files under aa/bb/<sha256>, readable only by the owner', async (t) => {
  const root = path.join(tempDir(t), 'documents')
  const storage = createLocalStorage(root)
  const stored = await storage.put(Readable.from([Buffer.from('berkas')]))
  const file = path.join(root, stored.key.slice(0, 2), stored.key.slice(2, 4), stored.key)
  t.same(filesUnder(root), [path.relative(root, file)])
  if (process.platform !== 'win32') t.equal(fs.statSync(file).mode & 0o777, 0o600)
})

t.test('the local storage sweeps temporary files a crashed process left, sparing recent ones', async (t) => {
  const root = path.join(tempDir(t), 'documents')
  const storage = createLocalStorage(root)
  fs.mkdirSync(root, { recursive: true })
  const old = path.join(root, '.incoming-0123456789abcdef01234567')
  const fresh = path.join(root, '.incoming-fedcba9876543210fedcba98')
  fs.writeFileSync(old, 'half')
  fs.writeFileSync(fresh, 'half')
  const past = new Date(Date.now() - 3 * 86_400_000)
  fs.utimesSync(old, past, past)
  t.equal(await storage.sweepIncomplete(new Date(Date.now() - 86_400_000)), 1)
  t.same(filesUnder(root), [path.basename(fresh)])
})
