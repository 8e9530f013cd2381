// The gateway's memory of what document links are made from (links.ts, LinkFacts), so that
// a request to a service that attaches documents costs no database round trip in the
// steady state (issue 18). Revocation stays immediate across instances: every change to a
// grant or a document notifies the citizen's id at commit (the trigger of
// migrations/20261203T1450-document-change-notify.ts), and every gateway drops that
// citizen's entries when told.
//
// What bounds a stale answer:
//  - listening: the notification's delivery (milliseconds); an entry is kept at most
//    `ttlMs` all the same, and never past the earliest expiry of the grants it was read
//    from;
//  - not listening (the notification connection is down, or coming back): entries are
//    trusted for `fallbackMs` only, and everything is dropped when listening resumes, since
//    what was missed is unknown.
// A read that started before a change and ends after its notification is not kept (the
// citizen's generation moved), so a late answer can never overwrite a newer truth.
//
// Link *fetches* never use this: resolveLink reads the grant and the document each time.

import type { NotificationListener, Subscription } from '../db/notifications.ts'
import type { LinkFacts, LinkFactsInput, LinkFactsSource } from './links.ts'

/** The channel the trigger notifies (migrations/20261203T1450-document-change-notify.ts). */
export const documentChangesChannel = 'satupintu_documents'

export interface LinkFactsCacheOptions {
  /** Reads from the database (links.ts readLinkFacts). */
  readonly read: LinkFactsSource
  /** The longest an entry is kept while listening. */
  readonly ttlMs?: number
  /** The longest an entry is trusted while not listening. */
  readonly fallbackMs?: number
  /** Entries kept at most (the oldest go first). */
  readonly maxEntries?: number
  readonly now?: () => number
}

interface Entry {
  readonly facts: LinkFacts
  readonly citizenId: string
  readonly at: number
}

export interface LinkFactsCache {
  /** The facts, from memory when still good, else read (and kept when nothing changed meanwhile). */
  readonly get: LinkFactsSource
  /** The notification listener to subscribe with (DatabaseHandle.listen). */
  readonly listener: NotificationListener
  /** Attach the subscription, whose `up` decides between ttlMs and fallbackMs. */
  attach(subscription: Subscription): void
  readonly size: number
  /** Reads that went to the database (for tests and metrics). */
  readonly reads: number
}

export function createLinkFactsCache(options: LinkFactsCacheOptions): LinkFactsCache {
  const ttlMs = options.ttlMs ?? 60_000
  const fallbackMs = options.fallbackMs ?? 1_000
  const maxEntries = options.maxEntries ?? 50_000
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()
  const keysOf = new Map<string, Set<string>>()
  const generation = new Map<string, number>()
  let epoch = 0
  let subscription: Subscription | undefined
  let reads = 0

  const keyOf = (i: LinkFactsInput) =>
    JSON.stringify([i.citizenId, i.agencyId, i.serviceId, [...new Set(i.types)].sort()])
  const generationOf = (citizenId: string) => `${epoch}:${generation.get(citizenId) ?? 0}`

  function drop(key: string): void {
    const entry = entries.get(key)
    if (entry === undefined) return
    entries.delete(key)
    const keys = keysOf.get(entry.citizenId)
    keys?.delete(key)
    if (keys?.size === 0) keysOf.delete(entry.citizenId)
  }

  function forgetCitizen(citizenId: string): void {
    // The generations only need to outlive the reads in flight: past a bound, start over.
    if (generation.size >= maxEntries) {
      forgetAll()
      return
    }
    generation.set(citizenId, (generation.get(citizenId) ?? 0) + 1)
    for (const key of keysOf.get(citizenId) ?? []) entries.delete(key)
    keysOf.delete(citizenId)
  }

  function forgetAll(): void {
    epoch++
    entries.clear()
    keysOf.clear()
    generation.clear()
  }

  function fresh(entry: Entry, at: number): boolean {
    const limit = subscription?.up === true ? ttlMs : fallbackMs
    return at - entry.at < limit && at < entry.facts.validUntil
  }

  return {
    async get(input) {
      const key = keyOf(input)
      const at = now()
      const hit = entries.get(key)
      if (hit !== undefined && fresh(hit, at)) return hit.facts
      const before = generationOf(input.citizenId)
      reads++
      const facts = await options.read(input)
      // Keep it only if nothing about this citizen changed while it was being read.
      if (generationOf(input.citizenId) === before) {
        drop(key)
        if (entries.size >= maxEntries) {
          const oldest = entries.keys().next().value
          if (oldest !== undefined) drop(oldest)
        }
        entries.set(key, { facts, citizenId: input.citizenId, at })
        let keys = keysOf.get(input.citizenId)
        if (keys === undefined) {
          keys = new Set()
          keysOf.set(input.citizenId, keys)
        }
        keys.add(key)
      }
      return facts
    },
    listener: {
      onNotify: (payload) => forgetCitizen(payload),
      // What happened while not listening is unknown: start over.
      onUp: () => forgetAll(),
      onDown: () => forgetAll(),
    },
    attach(s) {
      subscription = s
    },
    get size() {
      return entries.size
    },
    get reads() {
      return reads
    },
  }
}
