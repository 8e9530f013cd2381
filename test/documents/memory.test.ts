import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { getVersionForOwner, uploadDocument } from '../../src/documents/vault.ts'
import { eachDatabase } from '../helpers/db.ts'
import { generated, pdf, vaultFixture } from './fixtures.ts'
import { inMeasuringChild, rssSampler } from '../helpers/memory.ts'

const MiB = 1024 * 1024
const TOTAL = 100 * MiB

// Measured in a child with a 1 MB semi-space (test/helpers/memory.ts).
if (inMeasuringChild(import.meta.url))
  t.test(
    'a 100 MB document goes into the vault and back out streamed, with the process growing by under 50 MB',
    async (t) => {
      await eachDatabase(t, async (t, { db }) => {
        const f = await vaultFixture(t, db, {
          maxUploadBytes: TOTAL,
          types: [
            {
              id: 'arsip',
              name: { id: 'Arsip', en: 'Archive' },
              formats: ['pdf'],
              maxBytes: TOTAL,
              verificationExpected: false,
            },
          ],
        })
        // Warm up every code path once, so what is measured is the streaming, not loading code.
        await uploadDocument(
          db,
          f.storage,
          { citizenId: f.b.id, type: 'arsip', stream: Readable.from([pdf()]), originalName: 'kecil.pdf' },
          f.config,
        )

        const head = Buffer.from('%PDF-1.7\n')
        const tail = Buffer.from('\n%%EOF\n')
        const expected = createHash('sha256')
        for await (const c of generated(TOTAL, head, tail)) expected.update(c as Buffer)
        const digest = expected.digest('hex')

        const before = process.memoryUsage().rss
        const sampler = rssSampler()
        const up = await uploadDocument(
          db,
          f.storage,
          { citizenId: f.a.id, type: 'arsip', stream: generated(TOTAL, head, tail), originalName: 'arsip-besar.pdf' },
          f.config,
        )
        const content = await getVersionForOwner(db, f.a.id, up.version.id)
        const back = createHash('sha256')
        let bytes = 0
        for await (const c of await f.storage.get(content?.storageKey ?? '')) {
          back.update(c as Buffer)
          bytes += (c as Buffer).length
        }
        const peak = sampler.stop()

        t.equal(up.version.size, TOTAL)
        t.equal(up.version.sha256, digest, 'the stored digest is that of the bytes sent')
        t.equal(bytes, TOTAL)
        t.equal(back.digest('hex'), digest, 'the bytes read back are the bytes sent')
        const growth = peak - before
        t.ok(growth < 50 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB at its peak (limit 50)`)
      })
    },
  )
