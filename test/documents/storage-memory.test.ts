/**
 * The shared document storages stream: 300 MB put and read back through the
 * PostgreSQL tables (on a PostgreSQL server: PGlite keeps its database in this process's
 * memory, which would measure the database, not the storage) and through an S3-compatible
 * server (100 MB), while this process grows by under half the document and 50 MB.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import t, { type Test } from 'tap'
import { createPostgresStorage } from '../../src/documents/postgres-storage.ts'
import { createS3Storage } from '../../src/documents/s3-storage.ts'
import type { DocumentStorage } from '../../src/documents/storage.ts'
import { freshDatabase, testDatabaseUrl } from '../helpers/db.ts'
import { inMeasuringChild, rssSampler } from '../helpers/memory.ts'
import { generated } from './fixtures.ts'

const MiB = 1024 * 1024
const TOTAL = 100 * MiB

/** Puts and reads back `total` bytes, measuring how much the process grows in each phase. */
async function roundTrip(t: Test, storage: DocumentStorage, total: number, boundMB: number): Promise<void> {
  const expected = createHash('sha256')
  for await (const c of generated(total)) expected.update(c as Buffer)
  const digest = expected.digest('hex')
  let before = process.memoryUsage().rss
  let sampler = rssSampler()
  const stored = await storage.put(generated(total))
  const putGrew = (sampler.stop() - before) / MiB
  before = process.memoryUsage().rss
  sampler = rssSampler()
  const back = createHash('sha256')
  let n = 0
  for await (const c of await storage.get(stored.key)) {
    back.update(c as Buffer)
    n += (c as Buffer).length
  }
  const getGrew = (sampler.stop() - before) / MiB
  t.equal(stored.sha256, digest)
  t.equal(n, total)
  t.equal(back.digest('hex'), digest, 'read back unchanged')
  t.ok(putGrew < boundMB, `putting ${total / MiB} MB grew the process by ${putGrew.toFixed(1)} MB (under ${boundMB})`)
  t.ok(
    getGrew < boundMB,
    `reading ${total / MiB} MB back grew the process by ${getGrew.toFixed(1)} MB (under ${boundMB})`,
  )
}

// Measured in a child with a 1 MB semi-space (test/helpers/memory.ts).
if (inMeasuringChild(import.meta.url)) {
  t.test(
    '300 MB through the PostgreSQL storage without ever holding it whole',
    { skip: testDatabaseUrl === undefined ? 'needs TEST_DATABASE_URL (a PostgreSQL server)' : false },
    async (t) => {
      const db = await freshDatabase(t, 'postgres')
      // node-postgres decodes bytea from its hex text form: each 256 KiB chunk read leaves a
      // 512 KiB string for the collector, which reclaims them at its own pace, so the peak
      // is the collector's, not ours (alone on this machine: +41 MB reading 100 MB, +51 MB
      // reading 300 MB). 300 MB under a 150 MB bound shows it is never held whole.
      await roundTrip(t, createPostgresStorage(db.db), 3 * TOTAL, 150)
    },
  )

  t.test('100 MB through the S3 storage (multipart, one part in memory) in constant memory', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-s3rver-mem-'))
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
    const endpoint = `http://127.0.0.1:${port}`
    const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials })
    const storage = createS3Storage(
      {
        bucket: 'dokumen-uji',
        region: 'us-east-1',
        endpoint,
        prefix: `mem-${randomBytes(4).toString('hex')}/`,
        forcePathStyle: true,
        serverSideEncryption: 'AES256',
        partSizeBytes: 8 * MiB,
        ...credentials,
      },
      { client },
    )
    await roundTrip(t, storage, TOTAL, 50)
  })
}
