/**
 * /dev/kotak-surat: in development, mail goes over real SMTP to the mailbox inside the
 * process and SMS land beside it; in production the page does not exist.
 */
import t from 'tap'
import { markEmailVerified, markPhoneVerified, setCitizenPassword } from '../../src/accounts/citizens.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'
import { startIdp, testKek } from '../helpers/idp.ts'
import { chromiumMissing, phonePage } from '../helpers/stack.ts'

const development = {
  env: 'development',
  demo: false,
  delivery: {
    worker: { enabled: true, pollMs: 100 },
    email: { transport: 'dev-mailbox' },
    sms: { provider: 'dev-mailbox' },
  },
}

t.test('in development, the mailbox page shows the mail and SMS the worker delivered', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db, development)
    const c = await addCitizen(db.db)
    await markEmailVerified(db.db, c.id, budi.email)
    await markPhoneVerified(db.db, c.id, budi.phone)
    await setCitizenPassword(db.db, c.id, 'teh manis di warung sore', {
      regencyName: 'Sukamaju',
      noticeOptions: { issuer: idp.issuer },
    })
    const deadline = Date.now() + 15_000
    let rows: Array<{ status: string; provider: string | null; channel: string }> = []
    while (Date.now() < deadline) {
      rows = await db.db.selectFrom('outbox').select(['status', 'provider', 'channel']).execute()
      if (rows.length === 2 && rows.every((r) => r.status === 'sent')) break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.strictSame(rows.map((r) => `${r.channel}:${r.status}:${r.provider}`).sort(), [
      'email:sent:dev-mailbox',
      'sms:sent:dev-mailbox',
    ])

    const res = await fetch(`${idp.issuer}/dev/kotak-surat`)
    t.equal(res.status, 200)
    t.match(res.headers.get('content-security-policy'), /default-src 'none'/)
    const html = await res.text()
    t.match(html, /Kotak surat pengembangan/)
    t.match(html, /budi@contoh\.id/)
    t.match(html, /Kata sandi Satu Pintu Anda diganti/)
    t.match(html, /\+6281234567890/)
    t.match(html, /Satu Pintu: kata sandi Anda diganti/)
    // The e-mail's entry is the one whose detail page offers an HTML part.
    let detail = ''
    for (const m of html.matchAll(/href="(\/dev\/kotak-surat\/\d+)"/g)) {
      const page = await (await fetch(`${idp.issuer}${m[1]}`)).text()
      if (page.includes('Lihat bagian HTML')) detail = page
    }
    t.match(detail, /Message-ID/)
    t.match(detail, /&lt;[0-9a-f-]{36}@localhost&gt;/, 'the Message-ID comes from the outbox row')
    const part = await fetch(`${idp.issuer}${/href="(\/dev\/kotak-surat\/\d+\/html)"/.exec(detail)?.[1]}`)
    t.equal(part.status, 200)
    t.match(
      part.headers.get('content-security-policy'),
      /^sandbox; default-src 'none'/,
      'the HTML part is shown sandboxed',
    )
    t.match(await part.text(), /<h1[^>]*>Kata sandi Satu Pintu Anda diganti<\/h1>/)
    t.equal((await fetch(`${idp.issuer}/dev/kotak-surat/99999`)).status, 404)

    if (db.kind === 'pglite' && chromiumMissing() === false) {
      const page = await phonePage(t)
      await page.goto(`${idp.issuer}/dev/kotak-surat`)
      await page.screenshot({ path: '/tmp/delivery-kotak-surat-360.png', fullPage: true })
      const overflow = await page.evaluate(
        'document.documentElement.scrollWidth > document.documentElement.clientWidth',
      )
      t.equal(overflow, false, 'no sideways scrolling at 360 px')
    }
  })
})

t.test(
  'outside development the mailbox page does not exist: 404, and production refuses the dev mailbox',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const production = testConfig({
        env: 'production',
        demo: false,
        idp: { issuer: 'https://akun.sukamajukab.go.id' },
        gateway: { publicUrl: 'https://layanan.sukamajukab.go.id' },
        secrets: { keyEncryptionKey: 'k'.repeat(40) },
      })
      const app = await buildIdp({ config: production, database: db, logger: silentLogger(), keyEncryption: testKek })
      t.teardown(() => app.close())
      for (const url of ['/dev/kotak-surat', '/dev/kotak-surat/1', '/dev/kotak-surat/1/html']) {
        // With the issuer's Host, as every request reaching it has (a foreign one is 421).
        const res = await app.inject({
          method: 'GET',
          url,
          headers: { accept: 'text/html', host: 'akun.sukamajukab.go.id' },
          remoteAddress: '127.0.0.1',
        })
        t.equal(res.statusCode, 404, `${url} in production`)
      }
    })
    t.throws(
      () =>
        testConfig({
          env: 'production',
          demo: false,
          idp: { issuer: 'https://a.example.id' },
          gateway: { publicUrl: 'https://b.example.id' },
          secrets: { keyEncryptionKey: 'k'.repeat(40) },
          delivery: { email: { transport: 'dev-mailbox' } },
        }),
      /config: delivery\.email\.transport must not be dev-mailbox when env is production/,
    )
  },
)
