import t from 'tap'
import { DocumentError } from '../../src/documents/errors.ts'
import { activeGrantFor, createGrant, listGrants, revokeGrant } from '../../src/documents/grants.ts'
import { randomId } from '../../src/documents/ids.ts'
import { eachDatabase } from '../helpers/db.ts'
import { vaultFixture } from './fixtures.ts'

const DAY = 86_400_000

t.test('a grant lets one agency fetch the listed types until it expires or is withdrawn', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    const now = new Date()
    const g = await createGrant(db, f.config, {
      citizenId: f.a.id,
      agencyId: 'dinas-contoh',
      serviceId: 'permohonan',
      documentTypes: ['ktp', 'kk', 'ktp'],
      purpose: '  Memproses permohonan surat keterangan Anda ',
      expiresAt: new Date(now.getTime() + 10 * DAY),
    })
    t.same(g.documentTypes, ['ktp', 'kk'], 'types once each')
    t.equal(g.purpose, 'Memproses permohonan surat keterangan Anda')
    t.equal(g.status, 'active')
    t.equal((await activeGrantFor(db, f.a.id, 'dinas-contoh', 'kk', { serviceId: 'permohonan' }))?.id, g.id)
    t.equal((await activeGrantFor(db, f.a.id, 'dinas-contoh', 'kk'))?.id, g.id, 'any service when none is named')
    t.equal(
      await activeGrantFor(db, f.a.id, 'dinas-contoh', 'kk', { serviceId: null }),
      undefined,
      'not an agency-wide grant',
    )
    t.equal(
      await activeGrantFor(db, f.a.id, 'dinas-contoh', 'kk', { serviceId: 'lain' }),
      undefined,
      'not another service',
    )
    t.equal(await activeGrantFor(db, f.a.id, 'dinas-contoh', 'npwp'), undefined, 'not another type')
    t.equal(await activeGrantFor(db, f.a.id, 'dinas-lain', 'ktp'), undefined, 'not another agency')
    t.equal(await activeGrantFor(db, f.b.id, 'dinas-contoh', 'ktp'), undefined, 'not another citizen')
    t.equal(
      await activeGrantFor(db, f.a.id, 'dinas-contoh', 'ktp', { now: new Date(now.getTime() + 11 * DAY) }),
      undefined,
      'not after it expires',
    )
    t.same(
      (await listGrants(db, f.a.id, new Date(now.getTime() + 11 * DAY))).map((x) => x.status),
      ['expired'],
    )
    t.equal(await revokeGrant(db, f.a.id, g.id), true)
    t.equal(await activeGrantFor(db, f.a.id, 'dinas-contoh', 'ktp'), undefined, 'not after it is withdrawn')
    t.same(
      (await listGrants(db, f.a.id)).map((x) => x.status),
      ['revoked'],
    )
    const events = await db
      .selectFrom('audit_events')
      .select(['event', 'subject_id', 'client_id'])
      .where('event', 'like', 'document.grant%')
      .orderBy('at')
      .execute()
    t.same(events, [
      { event: 'document.grant_created', subject_id: f.a.id, client_id: 'dinas-contoh' },
      { event: 'document.grant_revoked', subject_id: f.a.id, client_id: 'dinas-contoh' },
    ])
  })
})

t.test('a new consent for the same agency and service replaces the previous grant', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    const base = {
      citizenId: f.a.id,
      agencyId: 'dinas-contoh',
      serviceId: 'permohonan',
      purpose: 'Uji',
      expiresAt: new Date(Date.now() + DAY),
    }
    const first = await createGrant(db, f.config, { ...base, documentTypes: ['ktp'] })
    const agencyWide = await createGrant(db, f.config, { ...base, serviceId: null, documentTypes: ['npwp'] })
    const second = await createGrant(db, f.config, { ...base, documentTypes: ['ktp', 'kk'] })
    const grants = await listGrants(db, f.a.id)
    t.same(Object.fromEntries(grants.map((g) => [g.id, g.status])), {
      [first.id]: 'revoked',
      [agencyWide.id]: 'active',
      [second.id]: 'active',
    })
  })
})

t.test('a grant with an unknown type, no type, an empty purpose or a past expiry is refused', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const f = await vaultFixture(t, db)
    const base = {
      citizenId: f.a.id,
      agencyId: 'dinas-contoh',
      documentTypes: ['ktp'],
      purpose: 'Uji',
      expiresAt: new Date(Date.now() + DAY),
    }
    const bad: [string, Record<string, unknown>, string][] = [
      ['unknown type', { documentTypes: ['paspor'] }, 'unknown_type'],
      ['no type', { documentTypes: [] }, 'invalid_input'],
      ['empty purpose', { purpose: '   ' }, 'invalid_input'],
      ['past expiry', { expiresAt: new Date(Date.now() - 1000) }, 'invalid_input'],
      ['bad agency id', { agencyId: '../x' }, 'invalid_input'],
      ['bad citizen id', { citizenId: 'budi' }, 'invalid_input'],
    ]
    for (const [what, change, code] of bad) {
      await t.rejects(
        createGrant(db, f.config, { ...base, ...change } as typeof base),
        { name: 'DocumentError', code },
        what,
      )
    }
    t.same(await listGrants(db, f.a.id), [])
    t.equal(await revokeGrant(db, f.a.id, randomId()), false)
    t.ok(new DocumentError('invalid_input').status === 400)
  })
})
