import { Readable } from 'node:stream'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import { ConfigError } from '../../src/config/load.ts'
import type { Database } from '../../src/db/database.ts'
import { createGrant, revokeGrant } from '../../src/documents/grants.ts'
import {
  createLink,
  createLinkKeyring,
  documentLinksFor,
  LINK_PATH_PREFIX,
  linkRefusalStatus,
  resolveLink,
} from '../../src/documents/links.ts'
import { linkSecondsOf } from '../../src/documents/types.ts'
import { deleteDocument, getDocumentForOwner, purgeDocuments, uploadDocument } from '../../src/documents/vault.ts'
import { testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { countRows, jpeg, pdf, vaultFixture } from './fixtures.ts'

const DAY = 86_400_000
const SECRET = 'k'.repeat(40)
const keyring = createLinkKeyring([SECRET])
const AGENCY = 'dinas-contoh'
const SERVICE = 'permohonan'

/** Budi's KTP, granted to dinas-contoh for its permohonan service, and a link to it. */
async function granted(t: Test, db: Kysely<Database>) {
  const f = await vaultFixture(t, db)
  const up = await uploadDocument(
    db,
    f.storage,
    { citizenId: f.a.id, type: 'ktp', stream: Readable.from([jpeg()]), originalName: 'ktp.jpg' },
    f.config,
  )
  const grant = await createGrant(db, f.config, {
    citizenId: f.a.id,
    agencyId: AGENCY,
    serviceId: SERVICE,
    documentTypes: ['ktp', 'kk'],
    purpose: 'Memproses permohonan surat keterangan Anda',
    expiresAt: new Date(Date.now() + 30 * DAY),
  })
  const link = createLink(keyring, f.config, { versionId: up.version.id, agencyId: AGENCY, serviceId: SERVICE })
  return { ...f, up, grant, link }
}

t.test(
  'a link resolves for its agency, records who fetched it, when and for which service, and says what to stream',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const g = await granted(t, db)
      t.ok(g.link.path.startsWith(LINK_PATH_PREFIX))
      t.equal(g.link.path, `/dokumen/${g.link.token}`)
      const res = await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY, requestId: 'req-1' })
      t.equal(res.ok, true)
      if (!res.ok) return
      t.equal(res.content.versionId, g.up.version.id)
      t.equal(res.content.storageKey, g.up.version.sha256)
      t.equal(res.content.mediaType, 'image/jpeg')
      t.equal(res.content.sha256, g.up.version.sha256)
      t.equal(res.content.contentDisposition, 'attachment; filename=ktp.jpg')
      t.equal(res.grantId, g.grant.id)
      t.equal(res.linkId, g.link.id)
      const detail = await getDocumentForOwner(db, g.a.id, g.up.document.id)
      t.same(
        detail?.accesses.map((a) => [a.agencyId, a.serviceId, a.versionId]),
        [[AGENCY, SERVICE, g.up.version.id]],
        'the citizen sees the access on the document',
      )
      const audit = await db.selectFrom('audit_events').selectAll().where('event', '=', 'document.fetched').execute()
      t.equal(audit.length, 1)
      t.equal(audit[0]?.subject_id, g.a.id)
      t.equal(audit[0]?.client_id, AGENCY)
      t.equal(audit[0]?.request_id, 'req-1')
      t.notOk(JSON.stringify(audit[0]?.data).includes(g.link.token), 'never the token itself')
      // A second fetch is a second access.
      t.equal((await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY })).ok, true)
      t.equal((await countRows(db)).accesses, 2)
    })
  },
)

t.test('SECURITY 24: a link with any one character changed is refused', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    const token = g.link.token
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
    let refused = 0
    for (let i = 0; i < token.length; i++) {
      // Two substitutes per position: the next character, and one that differs only in the
      // low bits (what a lenient base64url decoder would ignore in the last character).
      for (const c of [
        alphabet[(alphabet.indexOf(token[i] as string) + 1) % alphabet.length],
        token[i] === 'A' ? 'B' : 'A',
      ]) {
        if (c === token[i]) continue
        const tampered = token.slice(0, i) + c + token.slice(i + 1)
        const res = await resolveLink(db, keyring, tampered, { agencyId: AGENCY })
        if (!res.ok && res.reason === 'invalid') refused++
        else t.fail(`position ${i} changed to ${c} was not refused`)
      }
    }
    t.ok(refused >= token.length, `${refused} tampered tokens refused`)
    for (const bad of [
      '',
      'v1',
      `${token}x`,
      token.slice(0, -1),
      `${token}.`,
      token.replace('v1.', 'v2.'),
      'x'.repeat(5000),
    ]) {
      t.same(await resolveLink(db, keyring, bad, { agencyId: AGENCY }), { ok: false, reason: 'invalid' })
    }
    t.equal((await countRows(db)).accesses, 0, 'nothing was served')
    t.equal(linkRefusalStatus.invalid, 404)
  })
})

t.test('SECURITY 24: an expired link is refused, and no link lives longer than 15 minutes', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    t.ok(g.link.expiresAt.getTime() - Date.now() <= 900_000)
    t.equal(g.link.expiresAt.getTime() - Date.now() > 290_000, true, 'the configured 5 minutes')
    t.same(await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY, now: g.link.expiresAt }), {
      ok: false,
      reason: 'expired',
    })
    t.same(
      await resolveLink(db, keyring, g.link.token, {
        agencyId: AGENCY,
        now: new Date(g.link.expiresAt.getTime() + 1000),
      }),
      { ok: false, reason: 'expired' },
    )
    t.equal(
      (
        await resolveLink(db, keyring, g.link.token, {
          agencyId: AGENCY,
          now: new Date(g.link.expiresAt.getTime() - 1000),
        })
      ).ok,
      true,
    )
    t.equal(linkRefusalStatus.expired, 410)
  })
  t.throws(
    () => testConfig({ documents: { linkSeconds: 901 } }),
    ConfigError,
    'configuration refuses more than 15 minutes',
  )
  t.equal(linkSecondsOf({ ...testConfig().documents, linkSeconds: 3600 }), 900, 'and the code caps it anyway')
})

t.test(
  'SECURITY 24: a link used by another agency is refused and the attempt is in the citizen’s audit trail',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const g = await granted(t, db)
      // Even when the other agency has a grant of its own.
      await createGrant(db, g.config, {
        citizenId: g.a.id,
        agencyId: 'dinas-lain',
        documentTypes: ['ktp'],
        purpose: 'Lain',
        expiresAt: new Date(Date.now() + DAY),
      })
      t.same(await resolveLink(db, keyring, g.link.token, { agencyId: 'dinas-lain' }), {
        ok: false,
        reason: 'wrong_agency',
      })
      t.equal((await countRows(db)).accesses, 0)
      const refused = await db
        .selectFrom('audit_events')
        .selectAll()
        .where('event', '=', 'document.fetch_refused')
        .executeTakeFirstOrThrow()
      t.equal(refused.subject_id, g.a.id)
      t.equal(refused.client_id, 'dinas-lain')
      t.match(refused.data, { reason: 'wrong_agency', linkAgencyId: AGENCY })
      t.equal(linkRefusalStatus.wrong_agency, 403)
    })
  },
)

t.test('SECURITY 24: a link used after the grant was withdrawn is refused at once', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    t.equal((await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY })).ok, true)
    t.equal(await revokeGrant(db, g.b.id, g.grant.id), false, 'another citizen cannot withdraw it')
    t.equal(await revokeGrant(db, g.a.id, g.grant.id), true)
    t.same(await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY }), { ok: false, reason: 'revoked' })
    t.equal(await revokeGrant(db, g.a.id, g.grant.id), false, 'withdrawing twice finds nothing')
    t.equal((await countRows(db)).accesses, 1, 'only the fetch before the withdrawal')
  })
})

t.test('SECURITY 24: a link is refused once its grant has expired', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    const later = new Date(Date.now() + 31 * DAY)
    const link = createLink(keyring, g.config, {
      versionId: g.up.version.id,
      agencyId: AGENCY,
      serviceId: SERVICE,
      now: later,
    })
    t.same(await resolveLink(db, keyring, link.token, { agencyId: AGENCY, now: later }), {
      ok: false,
      reason: 'revoked',
    })
  })
})

t.test('SECURITY 23: an agency without a grant gets no link, and a link for it is refused', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    const none = await documentLinksFor(db, keyring, g.config, {
      citizenId: g.a.id,
      agencyId: 'dinas-lain',
      serviceId: null,
      types: ['ktp'],
      baseUrl: 'https://gerbang.example',
    })
    t.same(none, { links: [], notGranted: ['ktp'], missing: [] })
    const link = createLink(keyring, g.config, { versionId: g.up.version.id, agencyId: 'dinas-lain' })
    t.same(await resolveLink(db, keyring, link.token, { agencyId: 'dinas-lain' }), { ok: false, reason: 'revoked' })
    // A grant for one service does not cover another service of the same agency.
    const other = createLink(keyring, g.config, {
      versionId: g.up.version.id,
      agencyId: AGENCY,
      serviceId: 'izin-lain',
    })
    t.same(await resolveLink(db, keyring, other.token, { agencyId: AGENCY }), { ok: false, reason: 'revoked' })
    t.equal(linkRefusalStatus.revoked, 403)
  })
})

t.test('SECURITY 24: a link to a deleted document is refused at once, and after the purge too', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    t.equal(await deleteDocument(db, g.a.id, g.up.document.id), true)
    t.same(await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY }), { ok: false, reason: 'deleted' })
    await purgeDocuments(db, g.storage, g.config, new Date(Date.now() + 31 * DAY))
    t.same(await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY }), { ok: false, reason: 'deleted' })
    t.equal(linkRefusalStatus.deleted, 410)
  })
})

t.test('a link to a replaced version keeps working until it expires; a purged version is refused', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    await uploadDocument(
      db,
      g.storage,
      { citizenId: g.a.id, type: 'ktp', stream: Readable.from([pdf()]), originalName: 'ktp.pdf' },
      g.config,
    )
    t.equal(
      (await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY })).ok,
      true,
      'the bytes it was made for are still kept',
    )
    await purgeDocuments(db, g.storage, g.config, new Date(Date.now() + 31 * DAY))
    t.same(await resolveLink(db, keyring, g.link.token, { agencyId: AGENCY }), { ok: false, reason: 'deleted' })
  })
})

t.test('documentLinksFor gives the claim entries for granted, uploaded types and names what is missing', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const g = await granted(t, db)
    const res = await documentLinksFor(db, keyring, g.config, {
      citizenId: g.a.id,
      agencyId: AGENCY,
      serviceId: SERVICE,
      types: ['ktp', 'kk', 'npwp'],
      baseUrl: 'https://gerbang.sukamaju.go.id',
    })
    t.same(res.notGranted, ['npwp'])
    t.same(res.missing, ['kk'])
    t.equal(res.links.length, 1)
    const claim = res.links[0]
    t.equal(claim?.type, 'ktp')
    t.equal(claim?.sha256, g.up.version.sha256)
    t.equal(claim?.media_type, 'image/jpeg')
    t.equal(claim?.verified, false)
    t.match(claim?.url, /^https:\/\/gerbang\.sukamaju\.go\.id\/dokumen\/v1\./)
    t.ok((claim?.expires_at ?? 0) * 1000 <= Date.now() + 900_000)
    const token = (claim?.url ?? '').slice('https://gerbang.sukamaju.go.id/dokumen/'.length)
    t.equal((await resolveLink(db, keyring, token, { agencyId: AGENCY })).ok, true)
  })
})

t.test(
  'links signed with a retired secret verify while it is kept; links of another deployment never do',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const g = await granted(t, db)
      const rotated = createLinkKeyring(['n'.repeat(40), SECRET])
      t.not(rotated.signingKid, keyring.signingKid)
      t.equal(
        (await resolveLink(db, rotated, g.link.token, { agencyId: AGENCY })).ok,
        true,
        'old link, old key still listed',
      )
      const fresh = createLink(rotated, g.config, { versionId: g.up.version.id, agencyId: AGENCY, serviceId: SERVICE })
      t.same(
        await resolveLink(db, keyring, fresh.token, { agencyId: AGENCY }),
        { ok: false, reason: 'invalid' },
        'an instance without the new key refuses',
      )
      const elsewhere = createLinkKeyring(['z'.repeat(40)])
      t.same(await resolveLink(db, elsewhere, g.link.token, { agencyId: AGENCY }), { ok: false, reason: 'invalid' })
      t.throws(() => createLinkKeyring(['short']))
    })
  },
)
