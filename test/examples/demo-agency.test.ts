/**
 * The demo agency sets the example agencies copy (issue 19): an unknown address and a form
 * it cannot read are pages in Bahasa Indonesia, never Fastify's JSON or a stack trace.
 */
import t from 'tap'
import { buildDemoAgency } from '../../examples/demo-agency/app.ts'
import { silentLogger } from '../helpers/config.ts'

t.test('the demo agency answers an unknown address and an unreadable form with a page, not JSON', async (t) => {
  const app = await buildDemoAgency({ logger: silentLogger(), gateway: { url: 'http://localhost:8080', agencyId: 'dinas-contoh', jwksUrl: 'http://127.0.0.1:1/jwks' } })
  t.teardown(() => app.close())
  const missing = await app.inject({ method: 'GET', url: '/tidak-ada' })
  t.equal(missing.statusCode, 404)
  t.match(missing.headers['content-type'], /^text\/html/)
  t.match(missing.body, '<h1>Halaman tidak ditemukan</h1>')
  t.match(missing.body, '<html lang="id">')

  const broken = await app.inject({ method: 'POST', url: '/izin/periksa', headers: { 'content-type': 'application/json' }, payload: '{"jenis":' })
  t.equal(broken.statusCode, 400)
  t.match(broken.headers['content-type'], /^text\/html/)
  t.match(broken.body, 'Permintaan tidak dapat diproses')
  t.notMatch(broken.body, /at .*\.ts:\d+|SyntaxError|"statusCode"/, 'no stack, no raw error')
})
