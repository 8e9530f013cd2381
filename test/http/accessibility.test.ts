/**
 * Every citizen page through axe-core in Chromium at phone size, in Bahasa Indonesia and
 * in English (through the page's own language switch): sign-in, registration and its code
 * page, password reset, Akun Saya, documents, consent, sign-out, error pages, the gateway's
 * portal and its 404/421 pages. A violation of impact serious or critical fails the test;
 * moderate ones are listed as comments. Then a keyboard-only walk (Tab, typing, Space for
 * a radio, Enter) through the registration form and the sign-in, each focused element
 * visibly marked.
 */
import { createRequire } from 'node:module'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { startQuickStack } from '../helpers/stack.ts'
import { chromiumMissing, chromiumPath, launchChromium } from '../helpers/chromium.ts'

const require = createRequire(import.meta.url)
const axePath = require.resolve('axe-core')

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[]
}

/** A phone-sized page in a browser context of its own (no cookies shared with another). */
type NewPage = () => Promise<Page>

async function launch(t: Test): Promise<NewPage> {
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  // Script on so that axe can run (the pages have none of their own); the pages' CSP
  // forbids every script, axe's included, so it is bypassed for the check alone.
  return async () =>
    (await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'id-ID', bypassCSP: true })).newPage()
}

/** axe on the page as it is; serious and critical fail, moderate are listed. */
async function axeCheck(t: Test, page: Page, name: string): Promise<void> {
  await page.addScriptTag({ path: axePath })
  const result = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as AxeResult
  const lang = await page.getAttribute('html', 'lang')
  const where = `${name} (${lang ?? '?'})`
  const blocking = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  for (const v of result.violations.filter((x) => x.impact === 'moderate')) {
    t.comment(`moderate on ${where}: ${v.id} — ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`)
  }
  t.same(
    blocking.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`),
    [],
    `no serious or critical violation on ${where}`,
  )
}

/** Checks the page in its language, switches with the page's own link to the other, checks again. */
async function bothLanguages(t: Test, page: Page, name: string): Promise<void> {
  await axeCheck(t, page, name)
  const other = (await page.getAttribute('html', 'lang')) === 'en' ? 'id' : 'en'
  const link = await page.$(`.lang-switch a[hreflang="${other}"]`)
  if (link === null) {
    t.fail(`${name} has no language switch`)
    return
  }
  await link.click()
  t.equal(await page.getAttribute('html', 'lang'), other, `${name} switched to ${other}`)
  await axeCheck(t, page, name)
}

t.test('citizen pages in Chromium: axe-core and the keyboard', { skip: chromiumMissing() }, async (t) => {
  const { idpPort, gwPort } = await startQuickStack(t)
  const newPage = await launch(t)
  await t.test('every citizen page passes axe-core in both languages', async (t) =>
    everyPage(t, newPage, idpPort, gwPort),
  )
  await t.test('registration and sign-in with the keyboard alone, the focus always visible', async (t) =>
    keyboardWalk(t, newPage, idpPort, gwPort),
  )
})

async function everyPage(t: Test, newPage: NewPage, idpPort: number, gwPort: number): Promise<void> {
  const idp = `http://localhost:${idpPort}`
  const portal = `http://localhost:${gwPort}`
  const contoh = `http://dinas-contoh.localhost:${gwPort}`
  const page = await newPage()
  // Each page opened in Bahasa Indonesia (the default), then switched to English.
  const visit = async (name: string, url: string) => {
    await page.goto(`${url}${url.includes('?') ? '&' : '?'}lang=id`)
    t.equal(await page.getAttribute('html', 'lang'), 'id', `${name} opens in Bahasa Indonesia`)
    await bothLanguages(t, page, name)
  }

  // The gateway's own pages, nobody signed in.
  await visit('portal', `${portal}/`)
  await visit('portal 404', `${portal}/tidak-ada`)
  await visit('gateway 421', `http://tidak-dikenal.localhost:${gwPort}/`)

  // The idp's pages for anyone.
  await visit('idp home', `${idp}/`)
  await visit('idp 404', `${idp}/tidak-ada`)
  await visit(
    'sign-in error (unknown client)',
    `${idp}/auth?client_id=tidak-ada&response_type=code&scope=openid&redirect_uri=http%3A%2F%2Fx.invalid%2Fcb`,
  )
  await visit('registration', `${idp}/daftar`)
  await page.click('form button[type=submit]')
  await bothLanguages(t, page, 'registration with errors')
  await page.goto(`${idp}/daftar`)
  await page.fill('#nik', '3201014303850002')
  await page.fill('#name', 'Siti Aminah')
  await page.fill('#birth-day', '3')
  await page.fill('#birth-month', '3')
  await page.fill('#birth-year', '1985')
  await page.check('#gender-female')
  await page.fill('#email', 'siti@contoh.id')
  await page.fill('#password', 'sepeda biru ke pasar pagi')
  await page.fill('#password2', 'sepeda biru ke pasar pagi')
  await page.click('form button[type=submit]')
  t.match(page.url(), `${idp}/daftar/verifikasi`)
  await bothLanguages(t, page, 'registration code page')
  await page.fill('#code', '000000')
  await page.click('form button[type=submit]')
  await bothLanguages(t, page, 'registration code page, wrong code')
  await visit('password reset', `${idp}/lupa-sandi`)
  await page.fill('#identifier', '3201011201900001')
  await page.click('form button[type=submit]')
  t.match(page.url(), `${idp}/lupa-sandi/kode`)
  await bothLanguages(t, page, 'password reset code page')

  // Signing in at an agency's service: the sign-in page, a refusal, the consent.
  await page.goto(`${contoh}/`)
  t.match(page.url(), `${idp}/interaction/`)
  await bothLanguages(t, page, 'sign-in')
  await page.fill('#username', '3201011201900001')
  await page.fill('#password', 'bukan sandinya sama sekali')
  await page.press('#password', 'Enter')
  await bothLanguages(t, page, 'sign-in refused')
  await page.fill('#username', '3201011201900001')
  await page.fill('#password', 'kopi tubruk di teras rumah')
  await page.press('#password', 'Enter')
  if (page.url().includes('/interaction/')) {
    await bothLanguages(t, page, 'consent')
    await page.click('button[name=decision][value=allow]')
  }
  t.equal(page.url(), `${contoh}/`, 'signed in at the agency')

  // A document the agency asks for: the question, then the missing document and its upload.
  await page.goto(`${contoh}/izin`)
  t.match(page.url(), `${idp}/izin-dokumen?`)
  await bothLanguages(t, page, 'document consent (the KTP not uploaded yet)')
  // The question leads to the upload of what is missing; without it, "allow" would be the next step.
  const upload = await page.$('main a.button[href*="/akun/dokumen/unggah/"]')
  if (upload !== null) {
    await upload.click()
    await bothLanguages(t, page, 'documents: upload, from the question')
  } else {
    await page.click('button[name=keputusan][value=izinkan]')
    await bothLanguages(t, page, 'document consent, document missing')
  }

  // Akun Saya and its pages.
  for (const [name, path] of [
    ['Akun Saya', '/akun'],
    ['Akun Saya: devices', '/akun/perangkat'],
    ['Akun Saya: agencies', '/akun/instansi'],
    ['Akun Saya: activity', '/akun/aktivitas'],
    ['Akun Saya: password', '/akun/sandi'],
    ['Akun Saya: contact', '/akun/kontak'],
    ['Akun Saya: data', '/akun/data'],
    ['Akun Saya: sign out everywhere', '/akun/keluar-semua'],
    ['documents', '/akun/dokumen'],
    ['documents: upload', '/akun/dokumen/unggah/ktp'],
    ['documents: agencies allowed', '/akun/dokumen/izin'],
  ] as const) {
    await visit(name, `${idp}${path}`)
  }

  // The portal signed in (its sign-in needs no password now: the idp session), its
  // sign-out question, the idp's.
  await page.goto(`${portal}/masuk?lang=id`)
  t.match(await page.textContent('main'), 'Budi Santoso', 'signed in at the portal without a password')
  await bothLanguages(t, page, 'portal, signed in')
  await visit('portal sign-out', `${portal}/keluar`)
  await visit('idp sign-out', `${idp}/session/end`)
  await page.click('button[name=logout][value=yes]')
  await bothLanguages(t, page, 'signed out')
}

/** Where the keyboard focus is, and whether it is marked (outline or box shadow). */
interface Focus {
  tag: string
  id: string
  text: string
  marked: boolean
}

async function focused(page: Page): Promise<Focus> {
  // A string, run in the page: the project's types have no DOM.
  return page.evaluate(`(() => {
    const el = document.activeElement
    if (el === null || el === document.body) return { tag: 'body', id: '', text: '', marked: false }
    const s = getComputedStyle(el)
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0
    return { tag: el.tagName.toLowerCase(), id: el.id, text: (el.textContent || '').trim().slice(0, 40), marked: outline || s.boxShadow !== 'none' }
  })()`)
}

/** Tabs forward until the element matching `want` has the focus, checking each stop is marked; returns the stops. */
async function tabTo(t: Test, page: Page, want: (f: Focus) => boolean, what: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab')
    const f = await focused(page)
    t.ok(f.marked, `focus visible on ${f.tag}${f.id ? `#${f.id}` : ''} ${f.text}`.trim())
    if (want(f)) return
  }
  t.fail(`Tab never reached ${what}`)
}

async function keyboardWalk(t: Test, newPage: NewPage, idpPort: number, gwPort: number): Promise<void> {
  const idp = `http://localhost:${idpPort}`
  const page = await newPage()

  await page.goto(`${idp}/daftar`)
  await page.keyboard.press('Tab')
  t.match(await focused(page), { tag: 'a', text: 'Langsung ke isi utama' }, 'the first Tab reaches the skip link')
  const fields: [string, string][] = [
    ['nik', '3201014303850002'],
    ['name', 'Siti Aminah'],
    ['birth-day', '3'],
    ['birth-month', '3'],
    ['birth-year', '1985'],
  ]
  for (const [id, value] of fields) {
    await tabTo(t, page, (f) => f.id === id, `#${id}`)
    await page.keyboard.type(value)
  }
  await tabTo(t, page, (f) => f.id === 'gender-female', 'the first gender choice')
  await page.keyboard.press('Space')
  for (const [id, value] of [
    ['email', 'siti@contoh.id'],
    ['password', 'sepeda biru ke pasar pagi'],
    ['password2', 'sepeda biru ke pasar pagi'],
  ] as const) {
    await tabTo(t, page, (f) => f.id === id, `#${id}`)
    await page.keyboard.type(value)
  }
  await tabTo(t, page, (f) => f.tag === 'button' && f.text === 'Daftar', 'the Daftar button')
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
  t.match(page.url(), `${idp}/daftar/verifikasi`, 'registered with the keyboard: the code page')

  await page.goto(`http://dinas-contoh.localhost:${gwPort}/`)
  t.match(page.url(), `${idp}/interaction/`)
  await tabTo(t, page, (f) => f.id === 'username', '#username')
  await page.keyboard.type('3201011201900001')
  await tabTo(t, page, (f) => f.id === 'password', '#password')
  await page.keyboard.type('kopi tubruk di teras rumah')
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
  if (page.url().includes('/interaction/')) {
    await tabTo(t, page, (f) => f.tag === 'button' && f.text.startsWith('Izinkan'), 'the Izinkan button')
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')])
  }
  t.equal(page.url(), `http://dinas-contoh.localhost:${gwPort}/`, 'signed in with the keyboard alone')
}
