import { createHash, randomUUID } from 'node:crypto'
import path from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { DocumentError, type DocumentErrorCode } from '../../src/documents/errors.ts'
import { exportDocumentsData } from '../../src/documents/export.ts'
import { MAX_DISPLAY_NAME_CHARS } from '../../src/documents/filenames.ts'
import { createGrant } from '../../src/documents/grants.ts'
import { randomId } from '../../src/documents/ids.ts'
import type { DocumentStorage } from '../../src/documents/storage.ts'
import {
  deleteDocument,
  documentResponseHeaders,
  getDocumentForOwner,
  getVersionForOwner,
  listDocuments,
  purgeDocuments,
  uploadDocument,
  verifyDocumentVersion,
} from '../../src/documents/vault.ts'
import { eachDatabase } from '../helpers/db.ts'
import { countRows, generated, jpeg, pdf, png, readAll, vaultFixture, zip } from './fixtures.ts'

const DAY = 86_400_000
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const pathOf = (key: string) => path.join(key.slice(0, 2), key.slice(2, 4), key)

async function codeOf(p: Promise<unknown>): Promise<DocumentErrorCode | string> {
  try {
    await p
    return 'accepted'
  } catch (err) {
    return err instanceof DocumentError ? err.code : `other: ${String(err)}`
  }
}

t.test(
  'uploads a KTP photo: the row holds the type from the magic bytes, size, digest and encoded name; the bytes sit under their digest',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      const body = jpeg()
      const up = await uploadDocument(
        db,
        f.storage,
        {
          citizenId: f.a.id,
          type: 'ktp',
          stream: Readable.from([body]),
          originalName: 'KTP Budi.jpg',
          declaredMediaType: 'image/jpeg',
        },
        f.config,
      )
      t.equal(up.created, true)
      t.equal(up.version.version, 1)
      t.equal(up.version.mediaType, 'image/jpeg')
      t.equal(up.version.size, body.length)
      t.equal(up.version.sha256, sha256(body))
      t.equal(up.version.fileName, 'KTP Budi.jpg')
      t.equal(up.version.verified, false)
      t.same(f.files(), [pathOf(sha256(body))])
      const row = await db.selectFrom('document_versions').selectAll().executeTakeFirstOrThrow()
      t.equal(row.original_name_encoded, 'KTP%20Budi.jpg')
      t.equal(row.storage_key, sha256(body))
      const listed = await listDocuments(db, f.a.id)
      t.equal(listed.length, 1)
      t.equal(listed[0]?.type, 'ktp')
      t.equal(listed[0]?.current.id, up.version.id)
      const audit = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('event', '=', 'document.uploaded')
        .executeTakeFirstOrThrow()
      t.equal(audit.subject_id, f.a.id)
      t.notMatch(JSON.stringify(audit.data), /KTP Budi/, 'no file name in the audit trail')
      const content = await getVersionForOwner(db, f.a.id, up.version.id)
      t.ok(content)
      t.same(await readAll(await f.storage.get(content?.storageKey ?? '')), body)
    })
  },
)

t.test('SECURITY 23: document, version, grant and link ids carry 128 random bits', async (t) => {
  const ids = new Set(Array.from({ length: 2000 }, () => randomId()))
  t.equal(ids.size, 2000, 'no repeats')
  for (const id of [...ids].slice(0, 20)) t.equal(Buffer.from(id, 'base64url').length, 16, '16 bytes')
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    const up = await uploadDocument(
      db,
      f.storage,
      { citizenId: f.a.id, type: 'kk', stream: Readable.from([pdf()]), originalName: 'kk.pdf' },
      f.config,
    )
    const grant = await createGrant(db, f.config, {
      citizenId: f.a.id,
      agencyId: 'dinas-contoh',
      documentTypes: ['kk'],
      purpose: 'Uji',
      expiresAt: new Date(Date.now() + DAY),
    })
    for (const id of [up.document.id, up.version.id, grant.id]) {
      t.match(id, /^[A-Za-z0-9_-]{22}$/)
      t.equal(Buffer.from(id, 'base64url').length, 16)
    }
    t.not(up.document.id, up.version.id)
  })
})

t.test(
  "SECURITY 23: citizen A asking for citizen B's document gets the same nothing as for an id that does not exist",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      const up = await uploadDocument(
        db,
        f.storage,
        { citizenId: f.b.id, type: 'ktp', stream: Readable.from([png()]), originalName: 'ktp-siti.png' },
        f.config,
      )
      t.ok(await getDocumentForOwner(db, f.b.id, up.document.id), 'B sees it')
      t.equal(await getDocumentForOwner(db, f.a.id, up.document.id), undefined, "A does not see B's document")
      t.equal(await getDocumentForOwner(db, f.a.id, randomId()), undefined, 'an unknown id looks the same')
      t.equal(await getDocumentForOwner(db, f.a.id, "' or 1=1 --"), undefined)
      t.equal(await getVersionForOwner(db, f.a.id, up.version.id), undefined, "nor B's version")
      t.equal(await deleteDocument(db, f.a.id, up.document.id), false, "nor can A delete B's document")
      t.same(await listDocuments(db, f.a.id), [])
      t.ok(await getDocumentForOwner(db, f.b.id, up.document.id), 'it is still there for B')
    })
  },
)

t.test(
  'SECURITY 25: refused files leave no row and no file: HTML named .jpg, SVG, a PNG with a PDF appended, a polyglot, zero bytes, one byte over the limit',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      // pas-foto: JPEG or PNG only, limit lowered so "one byte over" stays small.
      const f = await vaultFixture(t, db, {
        types: [
          {
            id: 'pas-foto',
            name: { id: 'Pas foto', en: 'Photo' },
            formats: ['jpeg', 'png'],
            maxBytes: 4096,
            verificationExpected: false,
          },
          {
            id: 'ktp',
            name: { id: 'KTP', en: 'ID card' },
            formats: ['jpeg', 'png', 'pdf'],
            maxBytes: 4096,
            verificationExpected: true,
          },
        ],
      })
      const fits = png({ text: 'x'.repeat(4096 - png().length - 20) }) // 12 bytes of chunk, 8 of keyword
      t.equal(fits.length, 4096)
      const over = png({ text: 'x'.repeat(4096 - png().length - 19) })
      t.equal(over.length, 4097)
      const cases: [string, Buffer, DocumentErrorCode, string?][] = [
        [
          'HTML named .jpg',
          Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script>'),
          'unsupported_type',
        ],
        [
          'SVG named .jpg',
          Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
          'unsupported_type',
        ],
        ['a PNG with a PDF appended', Buffer.concat([png(), pdf()]), 'polyglot'],
        ['a JPEG with a ZIP appended', Buffer.concat([jpeg(), zip()]), 'polyglot'],
        ['a JPEG with a script in a comment', jpeg({ comment: '<script>alert(1)</script>' }), 'polyglot'],
        ['zero bytes', Buffer.alloc(0), 'empty'],
        ['one byte over the limit', over, 'too_large'],
        ['a PDF as pas-foto', pdf(), 'type_not_allowed'],
        ['declared as text/html', png(), 'declared_type_refused', 'text/html'],
      ]
      for (const [what, body, code, declared] of cases) {
        const result = await codeOf(
          uploadDocument(
            db,
            f.storage,
            {
              citizenId: f.a.id,
              type: 'pas-foto',
              stream: Readable.from([body]),
              originalName: 'foto.jpg',
              declaredMediaType: declared ?? 'image/jpeg',
            },
            f.config,
          ),
        )
        t.equal(result, code, `${what}: refused as ${code}`)
        t.same(await countRows(db), { documents: 0, versions: 0, accesses: 0 }, `${what}: no row`)
        t.same(f.files(), [], `${what}: no file`)
      }
      t.equal(
        await codeOf(
          uploadDocument(
            db,
            f.storage,
            { citizenId: f.a.id, type: 'akta-kelahiran', stream: Readable.from([png()]), originalName: 'x.png' },
            f.config,
          ),
        ),
        'unknown_type',
      )
      const ok = await uploadDocument(
        db,
        f.storage,
        { citizenId: f.a.id, type: 'pas-foto', stream: Readable.from([fits]), originalName: 'foto.png' },
        f.config,
      )
      t.equal(ok.version.size, 4096, 'exactly the limit is accepted')
    })
  },
)

t.test(
  'SECURITY 26: names such as ../../x, a.jpg.php, %00, U+202E, CRLF and 300 characters are stored under the generated key and shown safely',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      const cases: [string, string][] = [
        ['../../x', 'x.png'],
        ['a.jpg.php', 'a.jpg.png'],
        ['ktp%00.php', 'ktp%00.png'],
        ['ktp\u0000.php', 'ktp.png'],
        ['foto\u202Egnp.exe', 'fotognp.png'],
        ['ktp\r\nX-Injected: 1\r\n.png', 'ktpX-Injected_ 1.png'],
        [`${'b'.repeat(296)}.png`, `${'b'.repeat(MAX_DISPLAY_NAME_CHARS - 4)}.png`],
      ]
      for (const [i, [raw, shown]] of cases.entries()) {
        // Different bytes each time (a tEXt chunk), so each is its own file.
        const body = png({ text: `case ${i}` })
        const type = ['ktp', 'kk', 'akta-kelahiran', 'npwp', 'ijazah', 'pas-foto', 'buku-nikah'][i] as string
        const up = await uploadDocument(
          db,
          f.storage,
          { citizenId: f.a.id, type, stream: Readable.from([body]), originalName: raw },
          f.config,
        )
        t.equal(up.version.fileName, shown, `${JSON.stringify(raw)} is shown as ${JSON.stringify(shown)}`)
        const row = await db
          .selectFrom('document_versions')
          .selectAll()
          .where('id', '=', up.version.id)
          .executeTakeFirstOrThrow()
        t.equal(row.storage_key, sha256(body), 'stored under the digest, never the name')
        t.match(row.original_name_encoded, /^[A-Za-z0-9%._~-]*$/, 'the original is kept only percent-encoded')
        t.equal(decodeURIComponent(row.original_name_encoded), raw.slice(0, 255))
        const content = await getVersionForOwner(db, f.a.id, up.version.id)
        const headers = documentResponseHeaders(content as NonNullable<typeof content>)
        t.notMatch(headers['content-disposition'] ?? '', /[\r\n\u0000\u202e]/u)
        t.match(
          headers['content-disposition'] ?? '',
          /^attachment; filename=("[\x20-\x7e]*"|[!#$%&'*+.^_`|~0-9A-Za-z-]+)(; filename\*=UTF-8''[A-Za-z0-9!#$&+.^_`|~%-]+)?$/,
        )
        t.equal(headers['x-content-type-options'], 'nosniff')
        t.match(headers['content-security-policy'] ?? '', /sandbox/)
        t.equal(headers['content-type'], 'image/png')
      }
      const files = f.files()
      t.equal(files.length, cases.length)
      for (const file of files)
        t.match(file, /^[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/, 'only generated names on disk')
    })
  },
)

t.test('an upload stream destroyed halfway, or failing, leaves no row and no orphan file', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    for (const how of ['destroy', 'error'] as const) {
      const head = Buffer.from('%PDF-1.7\n')
      const src = generated(3 * 1024 * 1024, head, Buffer.from('\n%%EOF\n'))
      let seen = 0
      src.on('data', (c: Buffer) => {
        seen += c.length
        if (seen > 1024 * 1024 && !src.destroyed) {
          if (how === 'destroy') src.destroy()
          else src.destroy(new Error('connection reset'))
        }
      })
      const result = await codeOf(
        uploadDocument(
          db,
          f.storage,
          { citizenId: f.a.id, type: 'ijazah', stream: src, originalName: 'ijazah.pdf' },
          f.config,
        ),
      )
      t.not(result, 'accepted', `${how}: the upload fails (${result})`)
      t.same(await countRows(db), { documents: 0, versions: 0, accesses: 0 }, `${how}: no row`)
      t.same(f.files(), [], `${how}: no file, not even a temporary one`)
    }
  })
})

t.test(
  'a database failure after the bytes were stored removes them, unless another version uses the same bytes',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      const ghost = randomUUID() // a citizen id that does not exist: the insert fails on its foreign key
      const body = png()
      t.match(
        await codeOf(
          uploadDocument(
            db,
            f.storage,
            { citizenId: ghost, type: 'ktp', stream: Readable.from([body]), originalName: 'x.png' },
            f.config,
          ),
        ),
        /^other/,
      )
      t.same(f.files(), [], 'the stored bytes were removed')
      await uploadDocument(
        db,
        f.storage,
        { citizenId: f.a.id, type: 'ktp', stream: Readable.from([body]), originalName: 'x.png' },
        f.config,
      )
      t.match(
        await codeOf(
          uploadDocument(
            db,
            f.storage,
            { citizenId: ghost, type: 'ktp', stream: Readable.from([body]), originalName: 'x.png' },
            f.config,
          ),
        ),
        /^other/,
      )
      t.same(f.files(), [pathOf(sha256(body))], "A's bytes (the same content) are kept")
      t.same(await countRows(db), { documents: 1, versions: 1, accesses: 0 })
    })
  },
)

t.test(
  'replacing a document adds a version, supersedes the old one, and the new version is unverified until an officer checks it',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      const v1 = await uploadDocument(
        db,
        f.storage,
        {
          citizenId: f.a.id,
          type: 'ktp',
          stream: Readable.from([png({ text: 'lama' })]),
          originalName: 'ktp-lama.png',
        },
        f.config,
      )
      const verified = await verifyDocumentVersion(db, v1.version.id, f.officerId)
      t.equal(verified.ok, true)
      t.equal(verified.ok && verified.version.verifiedBy, f.officerId)
      const v2 = await uploadDocument(
        db,
        f.storage,
        {
          citizenId: f.a.id,
          type: 'ktp',
          stream: Readable.from([png({ text: 'baru' })]),
          originalName: 'ktp-baru.png',
        },
        f.config,
      )
      t.equal(v2.created, false)
      t.equal(v2.document.id, v1.document.id, 'the same document')
      t.equal(v2.version.version, 2)
      t.equal(v2.version.verified, false, 'a new version is unverified again')
      const detail = await getDocumentForOwner(db, f.a.id, v1.document.id)
      t.same(
        detail?.versions.map((v) => [v.version, v.current, v.verified]),
        [
          [2, true, false],
          [1, false, true],
        ],
      )
      t.same(await verifyDocumentVersion(db, v1.version.id, f.officerId), { ok: false, reason: 'superseded' })
      t.equal((await verifyDocumentVersion(db, v2.version.id, f.officerId)).ok, true)
      t.same(await verifyDocumentVersion(db, v2.version.id, f.officerId), { ok: false, reason: 'already_verified' })
      t.same(await verifyDocumentVersion(db, v2.version.id, randomUUID()), { ok: false, reason: 'officer_not_found' })
      t.same(await verifyDocumentVersion(db, randomId(), f.officerId), { ok: false, reason: 'not_found' })
      const audit = await db
        .selectFrom('audit_events')
        .select(['actor', 'subject_id'])
        .where('event', '=', 'document.verified')
        .execute()
      t.same(audit, [
        { actor: `officer:${f.officerId}`, subject_id: f.a.id },
        { actor: `officer:${f.officerId}`, subject_id: f.a.id },
      ])
    })
  },
)

t.test('two uploads of one type at the same time become versions 1 and 2, with one current', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    const results = await Promise.all(
      ['satu', 'dua'].map((s) =>
        uploadDocument(
          db,
          f.storage,
          { citizenId: f.a.id, type: 'kk', stream: Readable.from([png({ text: s })]), originalName: `${s}.png` },
          f.config,
        ),
      ),
    )
    t.same(results.map((r) => r.version.version).sort(), [1, 2])
    t.equal(results[0]?.document.id, results[1]?.document.id)
    const current = await db
      .selectFrom('document_versions')
      .select('version')
      .where('superseded_at', 'is', null)
      .execute()
    t.same(current, [{ version: 2 }])
  })
})

t.test(
  'deleting a document hides it from listings at once and removes its bytes only after the retention period',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db, { retentionDays: 30 })
      const body = pdf()
      const up = await uploadDocument(
        db,
        f.storage,
        { citizenId: f.a.id, type: 'npwp', stream: Readable.from([body]), originalName: 'npwp.pdf' },
        f.config,
      )
      const deletedAt = new Date()
      t.equal(await deleteDocument(db, f.a.id, up.document.id, { now: deletedAt }), true)
      t.equal(await deleteDocument(db, f.a.id, up.document.id), false, 'deleting twice finds nothing')
      t.same(await listDocuments(db, f.a.id), [])
      t.equal(await getDocumentForOwner(db, f.a.id, up.document.id), undefined)
      t.equal(await getVersionForOwner(db, f.a.id, up.version.id), undefined)
      t.same(f.files(), [pathOf(sha256(body))], 'bytes kept during retention')

      const early = await purgeDocuments(db, f.storage, f.config, new Date(deletedAt.getTime() + 29 * DAY))
      t.same(early, {
        versionsPurged: 0,
        filesDeleted: 0,
        documentsRemoved: 0,
        orphansDeleted: 0,
        incompleteRemoved: 0,
      })
      t.same(f.files(), [pathOf(sha256(body))])

      const late = await purgeDocuments(db, f.storage, f.config, new Date(deletedAt.getTime() + 31 * DAY))
      t.same(late, { versionsPurged: 1, filesDeleted: 1, documentsRemoved: 1, orphansDeleted: 0, incompleteRemoved: 0 })
      t.same(f.files(), [])
      t.same(await countRows(db), { documents: 0, versions: 0, accesses: 0 })
      const purged = await db
        .selectFrom('audit_events')
        .select(['subject_id', 'actor'])
        .where('event', '=', 'document.purged')
        .execute()
      t.same(purged, [{ subject_id: f.a.id, actor: 'system' }])
    })
  },
)

t.test(
  'after the retention period a replaced version loses its bytes but stays in the history; shared bytes stay while used',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db, { retentionDays: 7 })
      const old = png({ text: 'versi 1' })
      const shared = png({ text: 'versi 2' })
      const t0 = new Date()
      await uploadDocument(
        db,
        f.storage,
        { citizenId: f.a.id, type: 'ktp', stream: Readable.from([old]), originalName: 'v1.png' },
        f.config,
        { now: t0 },
      )
      const v2 = await uploadDocument(
        db,
        f.storage,
        { citizenId: f.a.id, type: 'ktp', stream: Readable.from([shared]), originalName: 'v2.png' },
        f.config,
        { now: t0 },
      )
      // The same bytes as B's own document: they must outlive A's version.
      await uploadDocument(
        db,
        f.storage,
        { citizenId: f.b.id, type: 'ktp', stream: Readable.from([old]), originalName: 'mine.png' },
        f.config,
        { now: t0 },
      )
      const report = await purgeDocuments(db, f.storage, f.config, new Date(t0.getTime() + 8 * DAY))
      t.equal(report.versionsPurged, 1)
      t.equal(report.filesDeleted, 0, "the old bytes are B's current version too")
      t.same(f.files(), [pathOf(sha256(old)), pathOf(sha256(shared))].sort())
      const rows = await db
        .selectFrom('document_versions')
        .select(['version', 'purged_at'])
        .where('document_id', '=', v2.document.id)
        .orderBy('version')
        .execute()
      t.equal(rows.length, 2, 'the purged version stays in the history')
      t.ok(rows[0]?.purged_at)
      t.equal(rows[1]?.purged_at, null)
      t.same(
        (await listDocuments(db, f.a.id))[0]?.versions.map((v) => v.version),
        [2],
        'listings show only versions whose bytes are kept',
      )
      // Now B replaces theirs: once that version is past retention the shared bytes go.
      await uploadDocument(
        db,
        f.storage,
        { citizenId: f.b.id, type: 'ktp', stream: Readable.from([jpeg()]), originalName: 'new.jpg' },
        f.config,
        { now: t0 },
      )
      const again = await purgeDocuments(db, f.storage, f.config, new Date(t0.getTime() + 8 * DAY))
      t.equal(again.filesDeleted, 1)
      t.same(f.files(), [pathOf(sha256(shared)), pathOf(sha256(jpeg()))].sort())
    })
  },
)

t.test('the purge job removes stored files no row refers to once they are a day old', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    const orphan = await f.storage.put(Readable.from([Buffer.from('left by a crash between storing and committing')]))
    t.equal((await purgeDocuments(db, f.storage, f.config)).orphansDeleted, 0, 'a fresh file may still be committing')
    const report = await purgeDocuments(db, f.storage, f.config, new Date(Date.now() + 2 * DAY))
    t.equal(report.orphansDeleted, 1)
    t.equal(await f.storage.exists(orphan.key), false)
  })
})

t.test(
  'the documents part of the data export lists documents, versions with original names, grants and accesses, without bytes',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      const up = await uploadDocument(
        db,
        f.storage,
        { citizenId: f.a.id, type: 'ktp', stream: Readable.from([png()]), originalName: 'KTP ../Budi\u202E.png' },
        f.config,
      )
      const grant = await createGrant(db, f.config, {
        citizenId: f.a.id,
        agencyId: 'dinas-contoh',
        serviceId: 'permohonan',
        documentTypes: ['ktp'],
        purpose: 'Memproses permohonan',
        expiresAt: new Date(Date.now() + DAY),
      })
      await db
        .insertInto('document_accesses')
        .values({
          document_id: up.document.id,
          version_id: up.version.id,
          citizen_id: f.a.id,
          agency_id: 'dinas-contoh',
          service_id: 'permohonan',
          grant_id: grant.id,
          link_id: randomId(),
        })
        .execute()
      await uploadDocument(
        db,
        f.storage,
        { citizenId: f.b.id, type: 'ktp', stream: Readable.from([jpeg()]), originalName: 'siti.jpg' },
        f.config,
      )
      const data = await exportDocumentsData(db, f.a.id)
      t.equal(data.documents.length, 1, "only A's documents")
      t.equal(data.documents[0]?.versions[0]?.originalName, 'KTP ../Budi\u202E.png', 'the original name, as sent')
      t.equal(data.documents[0]?.versions[0]?.sha256, sha256(png()))
      t.same(
        data.grants.map((g) => [g.agencyId, g.serviceId, g.documentTypes, g.status]),
        [['dinas-contoh', 'permohonan', ['ktp'], 'active']],
      )
      t.same(
        data.accesses.map((a) => [a.documentId, a.agencyId, a.serviceId]),
        [[up.document.id, 'dinas-contoh', 'permohonan']],
      )
      t.notOk(JSON.stringify(data).includes('storage'), 'no storage keys or bytes')
      t.same(await exportDocumentsData(db, 'not-a-uuid'), { documents: [], grants: [], accesses: [] })
    })
  },
)

t.test(
  'bytes purged between storing and committing fail the upload with retry, and a failing storage stops reading the client',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const f = await vaultFixture(t, db)
      // As if a purge removed identical bytes while this upload was about to commit.
      const racing: DocumentStorage = { ...f.storage, exists: async () => false }
      t.equal(
        await codeOf(
          uploadDocument(
            db,
            racing,
            { citizenId: f.a.id, type: 'ktp', stream: Readable.from([png()]), originalName: 'x.png' },
            f.config,
          ),
        ),
        'retry',
      )
      t.same(await countRows(db), { documents: 0, versions: 0, accesses: 0 })
      t.same(f.files(), [])
      const full: DocumentStorage = {
        ...f.storage,
        put: async () => {
          throw new Error('ENOSPC: no space left on device')
        },
      }
      const client = generated(10 * 1024 * 1024, Buffer.from('%PDF-1.7\n'), Buffer.from('\n%%EOF\n'))
      t.match(
        await codeOf(
          uploadDocument(db, full, { citizenId: f.a.id, type: 'ktp', stream: client, originalName: 'x.pdf' }, f.config),
        ),
        /ENOSPC/,
      )
      await new Promise((resolve) => setImmediate(resolve))
      t.ok(client.destroyed, 'the client stream is no longer read')
      t.same(await countRows(db), { documents: 0, versions: 0, accesses: 0 })
    })
  },
)
