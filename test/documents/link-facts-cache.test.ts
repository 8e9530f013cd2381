// The gateway's cache of what document links are made from (src/documents/link-facts-cache.ts):
// served from memory while listening, dropped per citizen when told of a change, never kept
// when a change came during the read, trusted only briefly while not listening, and never
// past a grant's expiry.
import t from 'tap'
import type { Subscription } from '../../src/db/notifications.ts'
import { createLinkFactsCache } from '../../src/documents/link-facts-cache.ts'
import type { LinkFacts, LinkFactsInput } from '../../src/documents/links.ts'

const citizen = '0b6f1d9e-7a53-4c59-9a43-6b0f3a6f2a11'
const other = '1c7a2e0f-8b64-4d6a-8b54-7c1a4b7a3b22'
const input = (citizenId = citizen): LinkFactsInput => ({
  citizenId,
  agencyId: 'dinas-a',
  serviceId: 'izin',
  types: ['ktp'],
})
const facts = (n: number, validUntil = Infinity): LinkFacts => ({
  granted: new Set(['ktp']),
  current: new Map([['ktp', { id: `v${n}`, sha256: 'x', media_type: 'image/jpeg', verified_at: null }]]),
  validUntil,
})

function harness() {
  let clock = 1_000_000
  let version = 0
  let validUntil = Infinity
  let gate: Promise<void> | undefined
  const cache = createLinkFactsCache({
    read: async () => {
      const n = ++version
      if (gate) await gate
      return facts(n, validUntil)
    },
    ttlMs: 60_000,
    fallbackMs: 1_000,
    now: () => clock,
  })
  const sub = { up: true, close: async () => {} }
  cache.attach(sub as Subscription)
  return {
    cache,
    sub: sub as { up: boolean },
    tick: (ms: number) => (clock += ms),
    setValidUntil: (ms: number) => (validUntil = ms),
    now: () => clock,
    hold: () => {
      let release = () => {}
      gate = new Promise<void>((r) => (release = r))
      return () => {
        gate = undefined
        release()
      }
    },
  }
}

const idOf = (f: LinkFacts) => f.current.get('ktp')?.id

t.test('served from memory until the citizen is named in a change notification', async (t) => {
  const h = harness()
  t.equal(idOf(await h.cache.get(input())), 'v1')
  t.equal(idOf(await h.cache.get(input())), 'v1', 'a hit')
  t.equal(h.cache.reads, 1)
  t.equal(idOf(await h.cache.get(input(other))), 'v2', 'each citizen its own entry')
  h.cache.listener.onNotify(citizen)
  t.equal(idOf(await h.cache.get(input())), 'v3', 'read again after the change')
  t.equal(idOf(await h.cache.get(input(other))), 'v2', 'the other citizen untouched')
  h.tick(60_000)
  t.equal(idOf(await h.cache.get(input())), 'v4', 'kept at most ttlMs even while listening')
})

t.test('a read that a change overtook is answered but not kept', async (t) => {
  const h = harness()
  const release = h.hold()
  const pending = h.cache.get(input())
  h.cache.listener.onNotify(citizen) // committed while the read was on its way
  release()
  t.equal(idOf(await pending), 'v1')
  t.equal(h.cache.size, 0, 'not kept')
  t.equal(idOf(await h.cache.get(input())), 'v2', 'the next request reads again')
})

t.test('not listening: entries trusted for fallbackMs only; everything dropped on reconnection', async (t) => {
  const h = harness()
  await h.cache.get(input())
  h.sub.up = false
  h.cache.listener.onDown('connection ended')
  t.equal(h.cache.size, 0, 'dropped when the connection is lost')
  t.equal(idOf(await h.cache.get(input())), 'v2')
  h.tick(999)
  t.equal(idOf(await h.cache.get(input())), 'v2', 'within the fallback bound')
  h.tick(1)
  t.equal(idOf(await h.cache.get(input())), 'v3', 'past it: read again')
  h.sub.up = true
  h.cache.listener.onUp()
  t.equal(h.cache.size, 0, 'what was missed is unknown: start over')
  t.equal(idOf(await h.cache.get(input())), 'v4')
})

t.test('never past the earliest expiry of the grants read', async (t) => {
  const h = harness()
  h.setValidUntil(h.now() + 5_000)
  await h.cache.get(input())
  h.tick(4_999)
  t.equal(h.cache.reads, 1)
  await h.cache.get(input())
  t.equal(h.cache.reads, 1, 'before the grant lapses: a hit')
  h.tick(1)
  await h.cache.get(input())
  t.equal(h.cache.reads, 2, 'at its expiry: read again')
})
