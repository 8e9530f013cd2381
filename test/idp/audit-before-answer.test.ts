/**
 * A token response is sent only once its `token.issued` audit row is committed: a crash
 * right after an answered request cannot lose the row. On PostgreSQL, a second session
 * holds the audit table locked for a while; the token endpoint must wait for it.
 */
import pg from 'pg'
import t from 'tap'
import { freshDatabase } from '../helpers/db.ts'
import { registerClient, startIdp } from '../helpers/idp.ts'

t.test(
  'the token endpoint answers only after its audit row is written',
  { skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (PostgreSQL)' },
  async (t) => {
    const db = await freshDatabase(t, 'postgres')
    const idp = await startIdp(t, db)
    const machine = await registerClient(db, {
      agencyId: 'dinas-uji',
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['openid'],
    })
    const grant = () =>
      fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${machine.clientId}:${machine.secret ?? ''}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      })
    t.equal((await grant()).status, 200, 'warm')

    const blocker = new pg.Client({ connectionString: db.url })
    await blocker.connect()
    t.teardown(() => blocker.end())
    await blocker.query('begin')
    await blocker.query('lock table audit_events in exclusive mode')
    const started = Date.now()
    const answer = grant().then((res) => ({ status: res.status, at: Date.now() - started }))
    await new Promise((r) => setTimeout(r, 700))
    const releasedAt = Date.now() - started
    await blocker.query('commit')
    const { status, at } = await answer
    t.equal(status, 200)
    t.ok(at >= releasedAt, `answered at ${at} ms, after the audit table was released at ${releasedAt} ms`)
    const rows = await db.db.selectFrom('audit_events').select('event').where('event', '=', 'token.issued').execute()
    t.equal(rows.length, 2, 'both grants are in the audit trail')
  },
)
