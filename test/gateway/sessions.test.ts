import t from 'tap'
import {
  createSession,
  deleteSession,
  deleteSessionsForLogout,
  findSession,
  hashSessionId,
  newSessionId,
  purgeExpiredJtis,
  purgeExpiredSessions,
  rememberJti,
  sessionIsLive,
  touchSession,
  type NewSession,
} from '../../src/gateway/auth/sessions.ts'
import { eachDatabase } from '../helpers/db.ts'

const limits = { idleSeconds: 1800, absoluteSeconds: 43200 }

function session(over: Partial<NewSession> = {}): NewSession {
  return {
    site: 'dinas-a.layanan.sukamaju.go.id',
    sub: 'citizen-1',
    idpSid: 'sid-1',
    acr: 'urn:satupintu:loa:1',
    authTime: 1_800_000_000,
    amr: ['pwd'],
    scopes: ['openid', 'profile'],
    claims: { name: 'Budi Santoso' },
    idTokenEnc: 'v1.sealed',
    requestedAcr: undefined,
    requestedScopes: ['openid', 'profile'],
    ...over,
  }
}

t.test('session ids: 256 random bits, stored only as a SHA-256', async (t) => {
  const id = newSessionId()
  t.match(id, /^[A-Za-z0-9_-]{43}$/)
  t.not(newSessionId(), id)
  t.match(hashSessionId(id), /^[A-Za-z0-9_-]{43}$/)
  t.not(hashSessionId(id), id)
  t.equal(hashSessionId(id), hashSessionId(id))
})

t.test('sessionIsLive: idle and absolute limits, to the millisecond', async (t) => {
  const created = new Date('2026-11-27T08:00:00Z')
  const row = { last_seen_at: created, expires_at: new Date(created.getTime() + limits.absoluteSeconds * 1000) }
  t.ok(sessionIsLive(row, limits, new Date(created.getTime() + 1799_999)))
  t.notOk(sessionIsLive(row, limits, new Date(created.getTime() + 1800_000)), 'idle for exactly the limit: ended')
  const used = { ...row, last_seen_at: new Date(row.expires_at.getTime() - 1000) }
  t.ok(sessionIsLive(used, limits, new Date(row.expires_at.getTime() - 1)))
  t.notOk(sessionIsLive(used, limits, row.expires_at), 'at the absolute end: ended, however recently used')
})

t.test('session rows', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await t.test('created with the absolute end, read back as stored', async (t) => {
      const now = new Date('2026-11-27T08:00:00Z')
      const row = await createSession(db, 'h1', session(), limits, { now })
      t.equal(row.expires_at.getTime(), now.getTime() + 43200_000)
      t.equal(row.last_seen_at.getTime(), now.getTime())
      const found = await findSession(db, 'h1')
      t.same(found?.amr, ['pwd'])
      t.same(found?.scopes, ['openid', 'profile'])
      t.same(found?.claims, { name: 'Budi Santoso' })
      t.equal(found?.idp_sid, 'sid-1')
      t.equal(found?.requested_acr, null)
      t.equal(await findSession(db, 'nope'), undefined)
    })

    await t.test("a new sign-in replaces the browser's previous session in one transaction", async (t) => {
      await createSession(db, 'h2', session({ requestedAcr: 'urn:satupintu:loa:2' }), limits, { replaces: 'h1' })
      t.equal(await findSession(db, 'h1'), undefined, 'the old id is dead')
      t.equal((await findSession(db, 'h2'))?.requested_acr, 'urn:satupintu:loa:2')
      // When the new row cannot be written, the old session is not lost either.
      await createSession(db, 'hx', session(), limits)
      await t.rejects(createSession(db, 'h2', session(), limits, { replaces: 'hx' }), 'h2 exists already')
      t.ok(await findSession(db, 'hx'), 'the delete was rolled back')
      await deleteSession(db, 'hx')
    })

    await t.test('touch moves the idle clock; delete returns the row', async (t) => {
      const at = new Date(Date.now() + 5000)
      await touchSession(db, 'h2', at)
      t.equal((await findSession(db, 'h2'))?.last_seen_at.getTime(), at.getTime())
      const gone = await deleteSession(db, 'h2')
      t.equal(gone?.id_token_enc, 'v1.sealed')
      t.equal(await deleteSession(db, 'h2'), undefined)
    })

    await t.test('back-channel logout deletes by sid, by sub, or by both', async (t) => {
      await createSession(db, 'a1', session({ sub: 'alice', idpSid: 's-a1' }), limits)
      await createSession(db, 'a2', session({ sub: 'alice', idpSid: 's-a2' }), limits)
      await createSession(db, 'b1', session({ sub: 'bob', idpSid: 's-b1' }), limits)
      await createSession(db, 'b2', session({ sub: 'bob', idpSid: 's-b2' }), limits)
      t.same(await deleteSessionsForLogout(db, { sid: 's-a1' }), ['a1'])
      t.same(await deleteSessionsForLogout(db, { sub: 'bob', sid: 's-a2' }), [], 'sid and sub must both match')
      t.same((await deleteSessionsForLogout(db, { sub: 'bob' })).sort(), ['b1', 'b2'], 'every session of the subject')
      t.same(await deleteSessionsForLogout(db, {}), [], 'nothing named, nothing deleted')
      t.same(await deleteSessionsForLogout(db, { sub: 'alice', sid: 's-a2' }), ['a2'])
      t.equal((await db.selectFrom('gateway_sessions').selectAll().execute()).length, 0)
    })

    await t.test('purge removes idle and past-their-end sessions only', async (t) => {
      const now = new Date()
      await createSession(db, 'live', session(), limits, { now })
      await createSession(db, 'idle', session(), limits, { now: new Date(now.getTime() - 1801_000) })
      await createSession(db, 'old', session(), limits, { now: new Date(now.getTime() - 43201_000) })
      await touchSession(db, 'old', now)
      t.equal(await purgeExpiredSessions(db, limits, now), 2)
      t.same(
        (await db.selectFrom('gateway_sessions').select('id_hash').execute()).map((r) => r.id_hash),
        ['live'],
      )
      await db.deleteFrom('gateway_sessions').execute()
    })
  })
})

t.test('the replay cache of one-time token ids', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const later = new Date(Date.now() + 60_000)
    t.equal(await rememberJti(db, 'dpop', 'j1', later), true, 'new')
    t.equal(await rememberJti(db, 'dpop', 'j1', later), false, 'seen')
    t.equal(await rememberJti(db, 'logout', 'j1', later), true, 'kinds are separate')
    const racing = await Promise.all(Array.from({ length: 5 }, () => rememberJti(db, 'dpop', 'j2', later)))
    t.equal(racing.filter(Boolean).length, 1, 'five at once: exactly one wins')
    await rememberJti(db, 'dpop', 'j-old', new Date(Date.now() - 1000))
    t.equal(await purgeExpiredJtis(db), 1)
    t.same(
      (await db.selectFrom('gateway_jtis').select('jti').orderBy('kind').orderBy('jti').execute()).map((r) => r.jti),
      ['j1', 'j2', 'j1'],
    )
  })
})
