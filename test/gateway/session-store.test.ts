import t from 'tap'
import { createSessionStore } from '../../src/gateway/auth/session-store.ts'
import type { GatewaySessionRow } from '../../src/gateway/auth/sessions.ts'

function row(idHash: string, over: Partial<GatewaySessionRow> = {}): GatewaySessionRow {
  const now = new Date('2026-12-01T00:00:00Z')
  return {
    id_hash: idHash,
    site: 'portal.localhost',
    sub: `sub-${idHash}`,
    idp_sid: `sid-${idHash}`,
    acr: 'urn:satupintu:loa:1',
    auth_time: now,
    amr: ['pwd'],
    scopes: ['openid'],
    claims: { name: 'Warga' },
    id_token_enc: null,
    requested_acr: null,
    requested_scopes: ['openid'],
    created_at: now,
    last_seen_at: now,
    expires_at: new Date(now.getTime() + 3600_000),
    ...over,
  }
}

/** A store over a fake table that counts its queries, with a clock the test moves. */
function harness(options: { cacheMax?: number } = {}) {
  const table = new Map<string, GatewaySessionRow>()
  const queries: string[] = []
  let clock = 1_000_000
  let gate: Promise<void> | undefined
  const store = createSessionStore({
    find: async (idHash) => {
      queries.push(idHash)
      if (gate !== undefined) await gate
      return table.get(idHash)
    },
    cacheMs: 250,
    cacheMax: options.cacheMax ?? 10,
    now: () => clock,
  })
  return {
    store,
    table,
    queries,
    advance: (ms: number) => {
      clock += ms
    },
    hold: () => {
      let open!: () => void
      gate = new Promise((resolve) => {
        open = resolve
      })
      return () => {
        gate = undefined
        open()
      }
    },
  }
}

t.test('a row is remembered for cacheMs, then read again: an ending elsewhere shows within the bound', async (t) => {
  const h = harness()
  h.table.set('a', row('a'))
  t.equal((await h.store.row('a'))?.sub, 'sub-a')
  h.advance(249)
  t.equal((await h.store.row('a'))?.sub, 'sub-a')
  t.same(h.queries, ['a'], 'served from memory inside the bound')
  h.table.delete('a') // signed out on another instance
  h.advance(1)
  t.equal(await h.store.row('a'), undefined, 'gone once the bound has passed')
  t.same(h.queries, ['a', 'a'])
})

t.test('an unknown session is remembered as unknown too, for the same bound', async (t) => {
  const h = harness()
  t.equal(await h.store.row('x'), undefined)
  t.equal(await h.store.row('x'), undefined)
  t.same(h.queries, ['x'])
})

t.test('requests that miss together share one query', async (t) => {
  const h = harness()
  h.table.set('a', row('a'))
  const release = h.hold()
  const all = Promise.all([h.store.row('a'), h.store.row('a'), h.store.row('a')])
  release()
  const rows = await all
  t.same(h.queries, ['a'], 'one query for three requests')
  t.ok(rows.every((r) => r === rows[0]))
})

t.test('forget and forgetWhere make the next use read the database', async (t) => {
  const h = harness()
  h.table.set('a', row('a'))
  h.table.set('b', row('b', { sub: 'same' }))
  h.table.set('c', row('c', { sub: 'same' }))
  await Promise.all(['a', 'b', 'c'].map((k) => h.store.row(k)))
  h.store.forget(['a'])
  h.store.forgetWhere((r) => r.sub === 'same')
  h.queries.length = 0
  await Promise.all(['a', 'b', 'c'].map((k) => h.store.row(k)))
  t.same(h.queries.sort(), ['a', 'b', 'c'])
})

t.test('the memory is bounded: the oldest entry makes room', async (t) => {
  const h = harness({ cacheMax: 2 })
  for (const k of ['a', 'b', 'c']) h.table.set(k, row(k))
  await h.store.row('a')
  await h.store.row('b')
  await h.store.row('c')
  h.queries.length = 0
  await h.store.row('c')
  await h.store.row('b')
  t.same(h.queries, [], 'the newest two are still remembered')
  await h.store.row('a')
  t.same(h.queries, ['a'], 'the oldest was dropped')
})

t.test('a touched row replaces the remembered one, and a new session is remembered at once', async (t) => {
  const h = harness()
  h.table.set('a', row('a'))
  const first = await h.store.row('a')
  const touched = { ...(first as GatewaySessionRow), last_seen_at: new Date('2026-12-01T00:05:00Z') }
  h.store.replace('a', touched)
  t.equal(await h.store.row('a'), touched)
  h.store.replace('zz', touched)
  t.equal(await h.store.row('zz'), undefined, 'replace never invents an entry')
  const made = row('n')
  h.store.remember('n', made)
  t.equal(await h.store.row('n'), made)
  t.same(h.queries, ['a', 'zz'])
})

t.test('one Identity per row object, frozen, carrying nothing the row does not', async (t) => {
  const h = harness()
  const r = row('a')
  const id = h.store.identity(r)
  t.equal(h.store.identity(r), id, 'the same object for the same row')
  t.not(h.store.identity({ ...r }), id, 'a new row object gets its own')
  t.ok(Object.isFrozen(id) && Object.isFrozen(id.scopes) && Object.isFrozen(id.claims))
  t.match(id, { via: 'session', sub: 'sub-a', sessionId: 'a', clientId: undefined })
})

t.test('a connection’s session cookie is checked once per value and key set', async (t) => {
  const h = harness()
  const socket = {}
  const keysA = {}
  const keysB = {}
  let checks = 0
  const check = async () => {
    checks++
    return { id: 'session-id' }
  }
  const first = await h.store.checkedCookie(socket, 'cookie-1', keysA, check)
  t.equal(await h.store.checkedCookie(socket, 'cookie-1', keysA, check), first)
  t.equal(checks, 1, 'the same cookie on the same connection is not checked again')
  await h.store.checkedCookie(socket, 'cookie-2', keysA, check)
  await h.store.checkedCookie(socket, 'cookie-2', keysB, check)
  await h.store.checkedCookie({}, 'cookie-2', keysB, check)
  t.equal(checks, 4, 'another value, another key set or another connection is checked afresh')
  let refused = 0
  const refuse = async () => {
    refused++
    return undefined
  }
  t.equal(await h.store.checkedCookie(socket, 'forged', keysB, refuse), undefined)
  t.equal(await h.store.checkedCookie(socket, 'forged', keysB, refuse), undefined)
  t.equal(refused, 2, 'a cookie that failed is never remembered as good')
})
