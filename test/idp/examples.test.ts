/**
 * Examples shown to citizens (the hints under the sign-in, reset and registration fields)
 * must be nobody's: never the demo account's NIK or e-mail, and a NIK example that still
 * has a NIK's shape but names a region that does not exist.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseNik } from '../../src/accounts/nik.ts'
import { demoCitizen } from '../../src/demo.ts'
import { gatewayMessages } from '../../src/gateway/messages.ts'
import { commonMessages } from '../../src/http/i18n.ts'
import { accountMessages } from '../../src/idp/account/messages.ts'
import { idpMessages } from '../../src/idp/oidc/messages.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, startIdp } from '../helpers/idp.ts'

const fictionalNik = '3299990101001234'

async function filesUnder(dir: string, ends: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(ends)) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

t.test(
  "no message, template, doc page or CLI help shows the demo account's NIK or e-mail as an example; every NIK in a message is the fictional one, with a valid shape",
  async (t) => {
    const catalogues = { idpMessages, accountMessages, commonMessages, gatewayMessages } as Record<
      string,
      Record<string, Record<string, string>>
    >
    for (const [name, catalogue] of Object.entries(catalogues)) {
      for (const [locale, texts] of Object.entries(catalogue)) {
        for (const [key, text] of Object.entries(texts)) {
          t.notOk(text.includes(demoCitizen.nik), `${name}.${locale} ${key}: not the demo NIK`)
          t.notOk(/\bbudi@/.test(text), `${name}.${locale} ${key}: not the demo e-mail`)
          for (const nik of text.match(/\b[0-9]{16}\b/g) ?? [])
            t.equal(nik, fictionalNik, `${name}.${locale} ${key}: the fictional NIK`)
        }
      }
    }
    const parsed = parseNik(fictionalNik)
    t.ok(parsed.ok, "the example has a NIK's shape")
    if (parsed.ok) t.equal(parsed.regencyCode, '99', 'in a regency that does not exist')

    const files = [
      ...(await filesUnder('src', '.eta')),
      ...(await filesUnder('src/cli', '.ts')),
      ...(await filesUnder('docs', '.md')).filter((f) => !f.endsWith('security.md')),
    ]
    for (const file of files) {
      const text = await readFile(file, 'utf8')
      // The README and the quick start print the demo account on purpose; an example never does.
      for (const m of text.matchAll(/(?:Contoh|contoh|[Ee]xample|e\.g\.)[^\n]{0,80}/g)) {
        t.notOk(m[0].includes(demoCitizen.nik) || m[0].includes(demoCitizen.email), `${file}: ${m[0].slice(0, 60)}`)
      }
    }
  },
)

t.test('the sign-in help on the reset page shows the fictional example, not the demo account', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const browser = new Browser()
    for (const lang of ['', '?lang=en']) {
      const html = await (await browser.request(`${issuer}/lupa-sandi${lang}`)).text()
      t.match(html, fictionalNik)
      t.notMatch(html, demoCitizen.nik)
      t.notMatch(html, demoCitizen.email)
      t.notMatch(html, 'budi@example.id')
    }
    const register = await (await new Browser().request(`${issuer}/daftar`)).text()
    t.notMatch(register, demoCitizen.email)
    t.match(register, 'nama@contoh.id')
  })
})
