import t from 'tap'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, startIdp } from '../helpers/idp.ts'

t.test('registrations and reset-code requests are limited per source address, across instances', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const limits = { idp: { rateLimits: { registrationsPerAddressPerHour: 2, codeRequestsPerAddressPerHour: 2 } } }
    const a = await startIdp(t, db, limits)
    const b = await startIdp(t, db, limits)
    for (const [path, form] of [
      ['/daftar', { nik: '1', name: 'x' }],
      ['/lupa-sandi', { identifier: 'nobody@contoh.id' }],
    ] as const) {
      const statuses: number[] = []
      for (const issuer of [a.issuer, b.issuer, a.issuer]) {
        const browser = new Browser()
        const page = await (await browser.request(`${issuer}${path}`)).text()
        const res = await browser.request(`${issuer}${path}`, { form: { _csrf: csrfFrom(page), ...form } })
        statuses.push(res.status)
        if (res.status === 429) t.match(res.headers.get('retry-after'), /^\d+$/, 'Retry-After says when')
      }
      t.not(statuses[0], 429, `${path}: the first is served`)
      t.not(statuses[1], 429, `${path}: the second too, on another instance`)
      t.equal(statuses[2], 429, `${path}: the third from the same address is refused`)
    }
  })
})
