// The service counters (loket) of the Mal Pelayanan Publik (issue 15), registered by an
// administrator (`satupintu counters add`): name, location and the unit serving there.
// An officer's console session sits at one of the active counters (officer-sessions.ts,
// chooseCounter), and everything the officer does there is recorded with it and told to
// the citizen in its words ("Loket 3, MPP Kabupaten Sukamaju"). Disabling a counter keeps
// its row, for the trail, and closes the counter functions of every session seated there
// at their next request: each request reads the counter's status.

import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import type { CounterRow } from '../db/tables/counters.ts'

export type { CounterRow, CounterStatus } from '../db/tables/counters.ts'

export class CounterError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'CounterError'
  }
}

const MAX_TEXT = 120
// Letters, marks, digits, spaces and the punctuation of place names; no control or format characters.
const TEXT = /^[\p{L}\p{M}\p{N} .,'()/&-]+$/u

/** A counter's name, location or unit as typed: NFKC, spaces folded, 1–120 plain characters. */
export function normalizeCounterText(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_TEXT * 4) return undefined
  const text = input.normalize('NFKC').replace(/\s+/g, ' ').trim()
  const length = [...text].length
  if (length < 1 || length > MAX_TEXT || !TEXT.test(text) || !/\p{L}|\p{N}/u.test(text)) return undefined
  return text
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export interface NewCounter {
  readonly name: string
  readonly location: string
  readonly unit: string
}

/** Registers a counter; refuses an empty or odd name, location or unit, naming the field. */
export async function addCounter(db: Kysely<Database>, input: NewCounter): Promise<CounterRow> {
  const values: Record<keyof NewCounter, string> = { name: '', location: '', unit: '' }
  for (const field of ['name', 'location', 'unit'] as const) {
    const v = normalizeCounterText(input[field])
    if (v === undefined)
      throw new CounterError(
        `--${field}: 1 to ${MAX_TEXT} letters, digits, spaces and . , ' ( ) / & - (e.g. ${field === 'name' ? '"Loket 3"' : field === 'location' ? '"MPP Kabupaten Sukamaju"' : '"Disdukcapil"'})`,
      )
    values[field] = v
  }
  return db.insertInto('counters').values(values).returningAll().executeTakeFirstOrThrow()
}

export async function findCounter(db: Kysely<Database>, id: string): Promise<CounterRow | undefined> {
  if (typeof id !== 'string' || !UUID.test(id)) return undefined
  return db.selectFrom('counters').selectAll().where('id', '=', id).executeTakeFirst()
}

/** Every counter, active first, by location and name (`counters list`). */
export async function listCounters(db: Kysely<Database>): Promise<CounterRow[]> {
  return db.selectFrom('counters').selectAll().orderBy('status').orderBy('location').orderBy('name').execute()
}

/** The counters an officer may sit at: the active ones, by location and name. */
export async function listActiveCounters(db: Kysely<Database>): Promise<CounterRow[]> {
  return db
    .selectFrom('counters')
    .selectAll()
    .where('status', '=', 'active')
    .orderBy('location')
    .orderBy('name')
    .execute()
}

/**
 * Disables a counter at once; undefined if there is none. `seatedSessions`: the live
 * officer sessions seated there, which lose the counter functions at their next request.
 */
export async function disableCounter(
  db: Kysely<Database>,
  id: string,
  now = new Date(),
): Promise<{ counter: CounterRow; changed: boolean; seatedSessions: number } | undefined> {
  if (!UUID.test(id)) return undefined
  return db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('counters').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
    if (current === undefined) return undefined
    const seated = await trx
      .selectFrom('officer_sessions')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('counter_id', '=', id)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow()
    if (current.status === 'disabled') return { counter: current, changed: false, seatedSessions: 0 }
    const counter = await trx
      .updateTable('counters')
      .set({ status: 'disabled', disabled_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
    return { counter, changed: true, seatedSessions: Number(seated.n) }
  })
}
