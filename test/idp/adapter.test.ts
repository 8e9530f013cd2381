/**
 * Conformance suite of the oidc-provider adapter (STYLE.md habit 7): the storage contract
 * oidc-provider relies on, run against PGlite and PostgreSQL alike. Written against the
 * Adapter interface only; time is moved in the database, never waited for.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sql } from 'kysely'
import type { Adapter, AdapterPayload } from 'oidc-provider'
import { errors } from 'oidc-provider'
import t from 'tap'
import type { Test } from 'tap'
import { createAdapterFactory } from '../../src/idp/oidc/adapter.ts'
import { insertClient, prepareClient } from '../../src/idp/oidc/clients.ts'
import { purgeExpiredPayloads } from '../../src/idp/oidc/store.ts'
import { providerRequest } from '../../src/idp/oidc/request-context.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'

/** Every model oidc-provider 9 stores through an adapter, except Client (read-only here). */
const models = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'BackchannelAuthenticationRequest',
] as const

const grace = 10

function adapters(db: TestDatabase, refreshGraceSeconds = grace): (model: string) => Adapter {
  return createAdapterFactory(db.db, { refreshGraceSeconds })
}

let serial = 0
function newId(prefix = 'id'): string {
  serial++
  return `${prefix}-${serial}-${Math.random().toString(36).slice(2, 10)}`
}

/** A payload shaped like oidc-provider's for `model`, with the indexed fields filled in. */
function payloadFor(model: string, id: string, extra: Partial<AdapterPayload> = {}): AdapterPayload {
  const now = Math.floor(Date.now() / 1000)
  const base: AdapterPayload = {
    jti: id,
    kind: model,
    iat: now,
    exp: now + 300,
    clientId: 'dinas-uji',
    accountId: 'acc-1',
    grantId: 'grant-1',
  }
  if (model === 'Session') Object.assign(base, { uid: `uid-${id}`, loginTs: now })
  if (model === 'DeviceCode') Object.assign(base, { userCode: `UC-${id}` })
  if (model === 'Interaction') Object.assign(base, { uid: id })
  return { ...base, ...extra }
}

async function expireInDatabase(db: TestDatabase, model: string, id: string, secondsAgo = 1): Promise<void> {
  await db.db
    .updateTable('oidc_payloads')
    .set({ expires_at: sql<Date>`now() - make_interval(secs => ${secondsAgo})` })
    .where('model', '=', model)
    .where('id', '=', id)
    .execute()
}

async function consumedSecondsAgo(db: TestDatabase, model: string, id: string, seconds: number): Promise<void> {
  await db.db
    .updateTable('oidc_payloads')
    .set({ consumed_at: sql<Date>`now() - make_interval(secs => ${seconds})` })
    .where('model', '=', model)
    .where('id', '=', id)
    .execute()
}

/** Runs `fn` as if inside one HTTP request handed to oidc-provider (src/idp/app.ts). */
function inRequest<T>(fn: () => Promise<T>): Promise<T> {
  const state = {
    request: {} as unknown as FastifyRequest,
    reply: {} as unknown as FastifyReply,
    graceReplays: new Set<string>(),
    audits: [],
  }
  return providerRequest.run(state, fn)
}

async function settle(promises: Promise<unknown>[]): Promise<{ won: number; lost: unknown[] }> {
  const results = await Promise.allSettled(promises)
  return {
    won: results.filter((r) => r.status === 'fulfilled').length,
    lost: results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown),
  }
}

function allInvalidGrant(t: Test, lost: unknown[]): void {
  t.ok(
    lost.every((e) => e instanceof errors.InvalidGrant),
    `every loser is refused with invalid_grant (${lost.map((e) => (e as Error).message).join('; ')})`,
  )
}

async function rowCount(db: TestDatabase): Promise<number> {
  const r = await db.db.selectFrom('oidc_payloads').select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow()
  return Number(r.n)
}

// ---------------------------------------------------------------------------------------

t.test('upsert then find returns the same payload, for every model, kept apart by model', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    const id = newId('shared')
    // Built once: payloadFor stamps the current time, which may tick between two calls.
    const written = new Map(
      models.map((m) => [m, payloadFor(m, id, { note: `for ${m}`, nested: { list: [1, 'two', { three: true }] } })]),
    )
    for (const model of models) await adapter(model).upsert(id, written.get(model) as AdapterPayload, 300)
    for (const model of models) {
      const found = await adapter(model).find(id)
      t.same(found, written.get(model), model)
      t.notOk(found && 'consumed' in found, `${model}: not consumed`)
    }
    t.equal(await adapter('AccessToken').find(newId('unknown')), undefined, 'an unknown id is undefined')
    t.equal(await rowCount(db), models.length, 'one row per model for the same id')
  })
})

t.test('upsert of an existing id replaces the payload and the expiry', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)('Session')
    const id = newId()
    await adapter.upsert(id, payloadFor('Session', id, { accountId: 'first' }), 1)
    await expireInDatabase(db, 'Session', id)
    t.equal(await adapter.find(id), undefined, 'expired')
    // oidc-provider re-saves a session on use with a new TTL: it must come back to life.
    await adapter.upsert(id, payloadFor('Session', id, { accountId: 'second' }), 600)
    t.equal((await adapter.find(id))?.accountId, 'second')
    const row = await db.db.selectFrom('oidc_payloads').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
    t.equal(row.account_id, 'second', 'the indexed column follows the payload')
    t.ok(row.expires_at !== null && row.expires_at.getTime() > Date.now() + 500_000, 'the new expiry')
    await adapter.upsert(id, payloadFor('Session', id), undefined)
    const forever = await db.db
      .selectFrom('oidc_payloads')
      .select('expires_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    t.equal(forever.expires_at, null, 'no expiresIn: no expiry')
  })
})

t.test('findByUid finds a session by its uid, findByUserCode a device code by its user code', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    const sid = newId()
    const did = newId()
    await adapter('Session').upsert(sid, payloadFor('Session', sid), 300)
    await adapter('DeviceCode').upsert(did, payloadFor('DeviceCode', did), 300)
    t.equal((await adapter('Session').findByUid(`uid-${sid}`))?.jti, sid)
    t.equal((await adapter('DeviceCode').findByUserCode(`UC-${did}`))?.jti, did)
    t.equal(await adapter('Session').findByUid('uid-nobody'), undefined)
    t.equal(await adapter('DeviceCode').findByUserCode('UC-nobody'), undefined)
    t.equal(await adapter('AccessToken').findByUid(`uid-${sid}`), undefined, 'scoped to the model')
    t.equal(await adapter('Session').findByUserCode(`UC-${did}`), undefined, 'scoped to the model')
  })
})

t.test('find, findByUid and findByUserCode never return an expired row', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    for (const model of models) {
      const id = newId()
      await adapter(model).upsert(id, payloadFor(model, id), 300)
      t.ok(await adapter(model).find(id), `${model}: found while live`)
      await expireInDatabase(db, model, id)
      t.equal(await adapter(model).find(id), undefined, `${model}: not found once expired`)
    }
    const sid = newId()
    await adapter('Session').upsert(sid, payloadFor('Session', sid), 300)
    await expireInDatabase(db, 'Session', sid)
    t.equal(await adapter('Session').findByUid(`uid-${sid}`), undefined, 'findByUid')
    const did = newId()
    await adapter('DeviceCode').upsert(did, payloadFor('DeviceCode', did), 300)
    await expireInDatabase(db, 'DeviceCode', did)
    t.equal(await adapter('DeviceCode').findByUserCode(`UC-${did}`), undefined, 'findByUserCode')
    // The boundary: an expiry of exactly now is expired.
    const edge = newId()
    await adapter('AccessToken').upsert(edge, payloadFor('AccessToken', edge), 300)
    await expireInDatabase(db, 'AccessToken', edge, 0)
    t.equal(await adapter('AccessToken').find(edge), undefined, 'expiring now counts as expired')
  })
})

t.test('consume marks a row consumed, and find and findByUserCode report when', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    for (const model of [
      'AuthorizationCode',
      'RefreshToken',
      'DeviceCode',
      'BackchannelAuthenticationRequest',
    ] as const) {
      const id = newId()
      await adapter(model).upsert(id, payloadFor(model, id), 300)
      const before = Math.floor(Date.now() / 1000)
      await adapter(model).consume(id)
      const found = await adapter(model).find(id)
      const consumed = found?.consumed
      t.ok(
        typeof consumed === 'number' && consumed >= before - 5 && consumed <= before + 5,
        `${model}: consumed at about now (${String(consumed)})`,
      )
      t.equal(found?.jti, id, `${model}: the rest of the payload is intact`)
    }
    const did = newId()
    await adapter('DeviceCode').upsert(did, payloadFor('DeviceCode', did), 300)
    await adapter('DeviceCode').consume(did)
    t.type((await adapter('DeviceCode').findByUserCode(`UC-${did}`))?.consumed, 'number')
    // A re-save (oidc-provider saves a device code as it goes) keeps it consumed.
    await adapter('DeviceCode').upsert(did, payloadFor('DeviceCode', did, { note: 'saved again' }), 300)
    t.type((await adapter('DeviceCode').find(did))?.consumed, 'number', 'upsert does not undo a consumption')
  })
})

t.test('consume is atomic: of many concurrent consumes of one code or token exactly one wins', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    for (const model of ['AuthorizationCode', 'RefreshToken', 'DeviceCode'] as const) {
      const id = newId()
      await adapter(model).upsert(id, payloadFor(model, id), 300)
      // Separate adapter instances, as separate requests (and instances) would have.
      const { won, lost } = await settle(Array.from({ length: 20 }, () => adapters(db)(model).consume(id)))
      t.equal(won, 1, `${model}: one winner`)
      t.equal(lost.length, 19)
      allInvalidGrant(t, lost)
    }
    // The same inside provider requests (where a refresh token has its grace window) when
    // nobody has seen it consumed yet: still one winner.
    const id = newId()
    await adapter('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 300)
    const inside = await settle(
      Array.from({ length: 10 }, () =>
        inRequest(async () => {
          const a = adapters(db)('RefreshToken')
          const found = await a.find(id)
          if (found?.consumed !== undefined) throw new errors.InvalidGrant('seen consumed')
          await a.consume(id)
        }),
      ),
    )
    t.ok(inside.won >= 1 && inside.won <= 2, `at most the first consume and one grace replay win (${inside.won})`)
  })
})

t.test('consume of an id that does not exist is refused', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await t.rejects(adapters(db)('AuthorizationCode').consume(newId('nothing')), errors.InvalidGrant)
  })
})

t.test('destroy removes that row only', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    const [a, b] = [newId(), newId()]
    await adapter('AccessToken').upsert(a, payloadFor('AccessToken', a), 300)
    await adapter('AccessToken').upsert(b, payloadFor('AccessToken', b), 300)
    await adapter('RefreshToken').upsert(a, payloadFor('RefreshToken', a), 300)
    await adapter('AccessToken').destroy(a)
    t.equal(await adapter('AccessToken').find(a), undefined)
    t.ok(await adapter('AccessToken').find(b), 'another row of the model stays')
    t.ok(await adapter('RefreshToken').find(a), 'the same id in another model stays')
    await t.resolves(adapter('AccessToken').destroy(a), 'destroying twice is harmless')
  })
})

t.test("revokeByGrantId removes that grant's rows of that model, and nothing else", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    const ids = { mine: [newId(), newId()], other: newId(), refresh: newId() }
    for (const id of ids.mine)
      await adapter('AccessToken').upsert(id, payloadFor('AccessToken', id, { grantId: 'g-revoke' }), 300)
    await adapter('AccessToken').upsert(ids.other, payloadFor('AccessToken', ids.other, { grantId: 'g-keep' }), 300)
    await adapter('RefreshToken').upsert(
      ids.refresh,
      payloadFor('RefreshToken', ids.refresh, { grantId: 'g-revoke' }),
      300,
    )
    await adapter('AccessToken').revokeByGrantId('g-revoke')
    for (const id of ids.mine) t.equal(await adapter('AccessToken').find(id), undefined, 'revoked')
    t.ok(await adapter('AccessToken').find(ids.other), "another grant's token stays")
    t.ok(await adapter('RefreshToken').find(ids.refresh), 'oidc-provider revokes each model through its own adapter')
    await adapter('RefreshToken').revokeByGrantId('g-revoke')
    t.equal(await adapter('RefreshToken').find(ids.refresh), undefined)
    // Consumed rows go too (a replayed code revokes what its first redemption issued).
    const c = newId()
    await adapter('AuthorizationCode').upsert(c, payloadFor('AuthorizationCode', c, { grantId: 'g-code' }), 300)
    await adapter('AuthorizationCode').consume(c)
    await adapter('AuthorizationCode').revokeByGrantId('g-code')
    t.equal(await adapter('AuthorizationCode').find(c), undefined)
  })
})

// ---------------------------------------------------------------------------------------
// The refresh-token grace window (RFC 9700 §4.14.2; src/idp/oidc/adapter.ts)

t.test('inside the grace window a rotated refresh token is served to exactly one replay', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const id = newId()
    await adapters(db)('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 300)
    await inRequest(() => adapters(db)('RefreshToken').consume(id))
    // A replay within a second of the first use is a race, not a retry: refused.
    await consumedSecondsAgo(db, 'RefreshToken', id, 0)
    const racing = await settle([
      inRequest(async () => {
        const a = adapters(db)('RefreshToken')
        await a.find(id)
        await a.consume(id)
      }),
    ])
    t.equal(racing.won, 0, 'a replay racing the first use is refused')
    await consumedSecondsAgo(db, 'RefreshToken', id, 2)

    // The app lost the response and retries: find hides the consumption, consume lets it through.
    const retry = await inRequest(async () => {
      const a = adapters(db)('RefreshToken')
      const found = await a.find(id)
      await a.consume(id)
      return found
    })
    t.equal(retry?.consumed, undefined, 'the replay sees it unconsumed')
    t.notOk(retry && 'graceReused' in retry, 'our bookkeeping never reaches oidc-provider')

    // Any later request, still inside the window, sees it consumed (reuse detection applies).
    const later = await inRequest(() => adapters(db)('RefreshToken').find(id))
    t.type(later?.consumed, 'number', 'a second replay sees it consumed')
    t.notOk(later && 'graceReused' in later)
  })
})

t.test('concurrent replays inside the grace window: exactly one is let through', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const id = newId()
    await adapters(db)('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 300)
    await adapters(db)('RefreshToken').consume(id)
    await consumedSecondsAgo(db, 'RefreshToken', id, 2)
    const { won, lost } = await settle(
      Array.from({ length: 10 }, () =>
        inRequest(async () => {
          const a = adapters(db)('RefreshToken')
          const found = await a.find(id)
          if (found?.consumed !== undefined) throw new errors.InvalidGrant('seen consumed')
          await a.consume(id)
        }),
      ),
    )
    t.equal(won, 1)
    allInvalidGrant(t, lost)
  })
})

t.test('after the grace window, or with a grace of 0, a consumed refresh token is reported consumed', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const late = newId()
    await adapters(db)('RefreshToken').upsert(late, payloadFor('RefreshToken', late), 300)
    await adapters(db)('RefreshToken').consume(late)
    await consumedSecondsAgo(db, 'RefreshToken', late, grace + 1)
    t.type((await inRequest(() => adapters(db)('RefreshToken').find(late)))?.consumed, 'number', 'after the window')
    await t.rejects(
      inRequest(() => adapters(db)('RefreshToken').consume(late)),
      errors.InvalidGrant,
      'and cannot be consumed again',
    )

    const off = newId()
    const noGrace = adapters(db, 0)
    await noGrace('RefreshToken').upsert(off, payloadFor('RefreshToken', off), 300)
    await noGrace('RefreshToken').consume(off)
    t.type((await inRequest(() => adapters(db, 0)('RefreshToken').find(off)))?.consumed, 'number', 'grace 0: at once')
  })
})

t.test('only refresh tokens, and only inside a provider request, have a grace window', async (t) => {
  await eachDatabase(t, async (t, db) => {
    for (const model of ['AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const) {
      const id = newId()
      await adapters(db)(model).upsert(id, payloadFor(model, id), 300)
      await adapters(db)(model).consume(id)
      t.type((await inRequest(() => adapters(db)(model).find(id)))?.consumed, 'number', `${model}: consumed at once`)
      await t.rejects(
        inRequest(() => adapters(db)(model).consume(id)),
        errors.InvalidGrant,
        `${model}: a second consume is refused`,
      )
    }
    const id = newId()
    await adapters(db)('RefreshToken').upsert(id, payloadFor('RefreshToken', id), 300)
    await adapters(db)('RefreshToken').consume(id)
    t.type((await adapters(db)('RefreshToken').find(id))?.consumed, 'number', 'outside a request: consumed')
  })
})

// ---------------------------------------------------------------------------------------

t.test('the Client model reads registered clients and refuses writes', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const prepared = prepareClient(
      {
        name: 'Aplikasi Uji',
        agencyId: 'dinas-uji',
        redirectUris: ['https://rp.example.go.id/cb'],
        authMethod: 'client_secret_basic',
      },
      { allowLoopbackHttp: false },
    )
    await insertClient(db.db, prepared)
    const client = adapters(db)('Client')
    const found = await client.find(prepared.clientId)
    t.equal(found?.client_id, prepared.clientId)
    t.same(found?.redirect_uris, ['https://rp.example.go.id/cb'])
    t.equal(await client.find('no-such-client'), undefined)
    await t.rejects(client.upsert(prepared.clientId, { client_id: prepared.clientId }, undefined), /satupintu clients/)
  })
})

t.test('purgeExpiredPayloads deletes rows expired longer ago than the grace, and nothing else', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const adapter = adapters(db)
    const ids = { old: newId(), recent: newId(), live: newId(), forever: newId() }
    await adapter('AccessToken').upsert(ids.old, payloadFor('AccessToken', ids.old), 300)
    await adapter('AccessToken').upsert(ids.recent, payloadFor('AccessToken', ids.recent), 300)
    await adapter('AccessToken').upsert(ids.live, payloadFor('AccessToken', ids.live), 300)
    await adapter('Grant').upsert(ids.forever, payloadFor('Grant', ids.forever), undefined)
    await expireInDatabase(db, 'AccessToken', ids.old, 120)
    await expireInDatabase(db, 'AccessToken', ids.recent, 10)
    t.equal(await purgeExpiredPayloads(db.db), 1, 'one row purged with the default 60 s grace')
    const left = (await db.db.selectFrom('oidc_payloads').select('id').execute()).map((r) => r.id).sort()
    t.same(left, [ids.recent, ids.live, ids.forever].sort())
    t.equal(await purgeExpiredPayloads(db.db, 0), 1, 'with no grace, the recently expired one goes too')
    t.equal(await purgeExpiredPayloads(db.db, 0), 0, 'nothing left to purge')
    t.equal(await rowCount(db), 2)
  })
})
