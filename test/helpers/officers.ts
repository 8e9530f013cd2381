/**
 * An officer signed in to the console through its pages (password, then a code from the
 * authenticator app), for the console's tests: the factor is set up from a known secret
 * (as the demo officer's), so the test reads the code as the officer's phone would.
 */
import type { Kysely } from 'kysely'
import { ensureOfficerTotpForDemo } from '../../src/accounts/officer-factors.ts'
import { createOfficer, type Officer } from '../../src/accounts/officers.ts'
import type { Database } from '../../src/db/database.ts'
import { Browser, csrfFrom, testKek } from './idp.ts'
import { codeAt } from './totp.ts'

export const officerPassword = 'Petugas loket yang ramah'
const SECRET = 'JBSWY3DPEHPK3PXPSATUPINTUTEST234'

export async function addOfficer(
  db: Kysely<Database>,
  input: { username: string; name: string; roles: string[] },
): Promise<Officer> {
  const officer = await createOfficer(db, { ...input, password: officerPassword, regencyName: 'Sukamaju' })
  await ensureOfficerTotpForDemo(db, testKek, officer.id, SECRET)
  return officer
}

/** Signs `username` in at `issuer` in a new browser; `now` is the console's clock. */
export async function officerBrowser(issuer: string, username: string, now: () => Date): Promise<Browser> {
  const b = new Browser()
  let html = await (await b.request(`${issuer}/petugas/masuk`)).text()
  let res = await b.request(`${issuer}/petugas/masuk`, {
    form: { _csrf: csrfFrom(html), username, password: officerPassword },
  })
  if (res.headers.get('location') !== '/petugas/masuk/kode') throw new Error(`password step: ${res.status}`)
  html = await (await b.request(`${issuer}/petugas/masuk/kode`)).text()
  res = await b.request(`${issuer}/petugas/masuk/kode`, {
    form: { _csrf: csrfFrom(html), code: codeAt(SECRET, now().getTime()) },
  })
  if (res.headers.get('location') !== '/petugas') throw new Error(`code step: ${res.status}`)
  return b
}
