/**
 * The conformance suite of the document storage port (STYLE.md habit 7): every
 * implementation of DocumentStorage runs the same tests. Add an implementation to
 * `implementations`: the local directory, PostgreSQL tables on each backend, and an
 * S3-compatible object store (s3rver, a real S3 server over HTTP from the npm registry).
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import t, { type Test } from 'tap'
import { createDocumentStorage } from '../../src/documents/create-storage.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { createPostgresStorage } from '../../src/documents/postgres-storage.ts'
import { createS3Storage, type S3StorageConfig } from '../../src/documents/s3-storage.ts'
import { StorageKeyError, StorageNotFoundError, type DocumentStorage } from '../../src/documents/storage.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'
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
  // In the database itself, on each backend (the 20 MiB test crosses 80 chunks).
  ...databaseKinds().map(
    (kind): Implementation => ({
      name: `PostgreSQL tables (on ${kind})`,
      async make(t) {
        const db = await freshDatabase(t, kind)
        const storage = createPostgresStorage(db.db, { chunkBytes: 256 * 1024, chunksPerRead: 2 })
        return {
          storage,
          everything: async () =>
            (await db.db.selectFrom('document_blob_uploads').select('id').execute()).map((r) => r.id),
        }
      },
    }),
  ),
  // An S3-compatible server over HTTP (s3rver, from the npm registry), through the AWS SDK.
  {
    name: 'S3-compatible object store (s3rver over HTTP)',
    async make(t) {
      const { client, config } = await s3Server()
      const prefix = `t-${randomBytes(6).toString('hex')}/`
      const storage = createS3Storage({ ...config, prefix }, { client })
      return { storage, everything: async () => objectKeys(client, prefix) }
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
      const bad = [
        '../../etc/passwd',
        '',
        'A'.repeat(64),
        `${'a'.repeat(63)}/`,
        `${'a'.repeat(64)}\0`,
        'aa/bb/' + 'a'.repeat(64),
      ]
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

/** One s3rver for the whole file, on 127.0.0.1, with a bucket of its own. */
let s3: Promise<{ client: S3Client; config: S3StorageConfig; port: number }> | undefined
function s3Server() {
  s3 ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-s3rver-'))
    const server = new S3rver({
      address: '127.0.0.1',
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: 'dokumen-uji', configs: [] }],
    })
    const { port } = await server.run()
    t.teardown(async () => {
      await server.close()
      fs.rmSync(dir, { recursive: true, force: true })
    })
    const config: S3StorageConfig = {
      bucket: 'dokumen-uji',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      prefix: 'documents/',
      forcePathStyle: true,
      serverSideEncryption: 'AES256',
      // The smallest part S3 allows: the 20 MiB conformance test crosses four parts.
      partSizeBytes: 5 * 1024 * 1024,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
    }
    const client = new S3Client({
      region: config.region,
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    })
    return { client, config, port }
  })()
  return s3
}

async function objectKeys(client: S3Client, prefix: string): Promise<string[]> {
  const res = await client.send(new ListObjectsV2Command({ Bucket: 'dokumen-uji', Prefix: prefix }))
  return (res.Contents ?? []).map((o) => o.Key ?? '').sort()
}

/** A client that records the headers of every request it sends, by operation. */
function recordingClient(config: S3StorageConfig): {
  client: S3Client
  sent: { operation: string; headers: Record<string, string> }[]
} {
  const client = new S3Client({
    region: config.region,
    endpoint: config.endpoint ?? '',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  })
  const sent: { operation: string; headers: Record<string, string> }[] = []
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string> }
      sent.push({ operation: String(context.commandName), headers: { ...(request.headers ?? {}) } })
      return next(args)
    },
    { step: 'finalizeRequest', name: 'recordHeaders' },
  )
  return { client, sent }
}

t.test('the S3 storage asks for the configured server-side encryption on every object it writes', async (t) => {
  const { config } = await s3Server()
  const cases = [
    { sse: { serverSideEncryption: 'AES256' as const }, header: 'AES256', kms: undefined },
    {
      sse: { serverSideEncryption: 'aws:kms' as const, kmsKeyId: 'arn:aws:kms:ap-southeast-3:111122223333:key/uji' },
      header: 'aws:kms',
      kms: 'arn:aws:kms:ap-southeast-3:111122223333:key/uji',
    },
    { sse: { serverSideEncryption: 'none' as const }, header: undefined, kms: undefined },
  ]
  for (const c of cases) {
    const { client, sent } = recordingClient(config)
    const prefix = `sse-${randomBytes(6).toString('hex')}/`
    const storage = createS3Storage({ ...config, ...c.sse, prefix }, { client })
    await storage.put(Readable.from([Buffer.from(`kecil ${c.sse.serverSideEncryption}`)]))
    await storage.put(generated(6 * 1024 * 1024))
    const writes = sent.filter((s) =>
      ['PutObjectCommand', 'CreateMultipartUploadCommand', 'CopyObjectCommand'].includes(s.operation),
    )
    t.same(
      [...new Set(writes.map((w) => w.operation))].sort(),
      ['CopyObjectCommand', 'CreateMultipartUploadCommand', 'PutObjectCommand'],
      'a small put, a multipart put and their copies',
    )
    for (const w of writes) {
      t.equal(w.headers['x-amz-server-side-encryption'], c.header, `${c.sse.serverSideEncryption}: ${w.operation}`)
      t.equal(
        w.headers['x-amz-server-side-encryption-aws-kms-key-id'],
        c.kms,
        `${c.sse.serverSideEncryption}: ${w.operation} key id`,
      )
    }
    t.ok(
      sent.some((s) => s.operation === 'UploadPartCommand'),
      'the large one went in parts',
    )
  }
})

t.test('the S3 storage sweeps incoming objects a crashed process left, sparing recent ones', async (t) => {
  const { client, config } = await s3Server()
  const prefix = `sweep-${randomBytes(6).toString('hex')}/`
  const storage = createS3Storage({ ...config, prefix }, { client })
  const stored = await storage.put(Readable.from([Buffer.from('utuh')]))
  await client.send(
    new PutObjectCommand({ Bucket: 'dokumen-uji', Key: `${prefix}incoming/setengah`, Body: Buffer.from('half') }),
  )
  t.equal(await storage.sweepIncomplete(new Date(Date.now() - 86_400_000)), 0, 'a recent one may still be streaming')
  t.equal(await storage.sweepIncomplete(new Date(Date.now() + 60_000)), 1, 'an old one is removed')
  t.same(await objectKeys(client, prefix), [`${prefix}${stored.key}`], 'complete objects are never swept')
})

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

t.test(
  'the PostgreSQL storage keeps chunks in order, reads them a few at a time, and sweeps abandoned uploads',
  async (t) => {
    for (const kind of databaseKinds()) {
      await t.test(`on ${kind}`, async (t) => {
        const db = await freshDatabase(t, kind)
        const storage = createPostgresStorage(db.db, { chunkBytes: 1000, chunksPerRead: 2 })
        const body = Buffer.from(Array.from({ length: 4500 }, (_, i) => i % 251))
        const stored = await storage.put(chunked(body, 333))
        const chunks = await db.db.selectFrom('document_blob_chunks').select(['seq', 'data']).orderBy('seq').execute()
        t.same(
          chunks.map((c) => c.data.length),
          [1000, 1000, 1000, 1000, 500],
          'fixed-size chunks, the last one shorter',
        )
        t.same(await readAll(await storage.get(stored.key)), body)
        // An upload a crashed process left: chunks, no blob row.
        const abandoned = '00000000-0000-4000-8000-000000000001'
        await db.db
          .insertInto('document_blob_uploads')
          .values({ id: abandoned, created_at: new Date(Date.now() - 3 * 86_400_000) })
          .execute()
        await db.db
          .insertInto('document_blob_chunks')
          .values({ upload_id: abandoned, seq: 0, data: Buffer.from('half') })
          .execute()
        const fresh = '00000000-0000-4000-8000-000000000002'
        await db.db.insertInto('document_blob_uploads').values({ id: fresh }).execute()
        t.equal(await storage.sweepIncomplete(new Date(Date.now() - 86_400_000)), 1, 'only the old, unfinished one')
        const left = (await db.db.selectFrom('document_blob_uploads').select('id').execute()).map((r) => r.id)
        t.equal(left.length, 2)
        t.ok(left.includes(fresh), 'a recent upload may still be streaming')
        t.notOk(left.includes(abandoned))
        t.ok(await storage.exists(stored.key), 'complete bytes are never swept')
      })
    }
  },
)

t.test('documents.storage chooses the backend every service uses, and a bad S3 setting stops the start', async (t) => {
  const bytes = Buffer.from('dokumen bersama')
  await t.test('local: a file under the data directory', async (t) => {
    const dir = tempDir(t)
    const db = await freshDatabase(t, 'pglite')
    const storage = createDocumentStorage(testConfig({ dataDir: dir, documents: { storage: 'local' } }), db.db)
    const stored = await storage.put(Readable.from([bytes]))
    t.same(filesUnder(path.join(dir, 'documents')), [
      path.join(stored.key.slice(0, 2), stored.key.slice(2, 4), stored.key),
    ])
  })
  for (const kind of databaseKinds()) {
    await t.test(`postgres: rows in the database (on ${kind})`, async (t) => {
      const dir = tempDir(t)
      const db = await freshDatabase(t, kind)
      const storage = createDocumentStorage(testConfig({ dataDir: dir, documents: { storage: 'postgres' } }), db.db)
      const stored = await storage.put(Readable.from([bytes]))
      t.same(await db.db.selectFrom('document_blobs').select('key').execute(), [{ key: stored.key }])
      t.same(filesUnder(dir), [], 'nothing on the local disk')
    })
  }
  await t.test('s3: an object in the bucket', async (t) => {
    const { client, config } = await s3Server()
    const db = await freshDatabase(t, 'pglite')
    const prefix = `factory-${randomBytes(6).toString('hex')}/`
    const storage = createDocumentStorage(
      testConfig({ documents: { storage: 's3', s3: { ...config, prefix } } }),
      db.db,
    )
    const stored = await storage.put(Readable.from([bytes]))
    t.same(await objectKeys(client, prefix), [`${prefix}${stored.key}`])
  })
  t.throws(
    () => testConfig({ documents: { storage: 's3' } }),
    /documents\.s3\.bucket.*required when documents\.storage is s3/,
  )
  t.throws(
    () => testConfig({ documents: { s3: { bucket: 'dokumen', serverSideEncryption: 'aws:kms' } } }),
    /documents\.s3\.kmsKeyId/,
  )
  t.throws(
    () => testConfig({ documents: { s3: { bucket: 'dokumen', partSizeBytes: 1024 } } }),
    /documents\.s3\.partSizeBytes/,
  )
  t.throws(() => testConfig({ documents: { storage: 'nas' } }), /documents\.storage/)
})
