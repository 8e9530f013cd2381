/**
 * Renders demo pages with the shared layout and partials and saves PNG screenshots, for a
 * person to look at. Not part of the tap suite (it needs Chromium). Run by hand:
 *
 *   export PATH="$PWD/node_modules/.bin:$PATH"   (from the project root)
 *   node test/http/screenshot-views.ts            # writes /tmp/sp-shots/*.png
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Fastify from 'fastify'
import { assetsPlugin } from '../../src/http/assets.ts'
import { defineMessages } from '../../src/http/i18n.ts'
import { viewsPlugin } from '../../src/http/views.ts'
import { launchChromium } from '../helpers/chromium.ts'

const outDir = '/tmp/sp-shots'

const messages = defineMessages({
  id: {
    'demo.signin.title': 'Masuk',
    'demo.signin.lead': 'Satu akun untuk semua layanan Pemerintah Kabupaten {name}.',
    'demo.signin.username': 'Email atau nomor HP',
    'demo.signin.usernameHint': 'Contoh: budi@contoh.id atau 0812 3456 7890',
    'demo.signin.password': 'Kata sandi',
    'demo.signin.submit': 'Masuk',
    'demo.signin.forgot': 'Lupa kata sandi?',
    'demo.signin.kiosk': 'Masuk dengan ponsel (tanpa mengetik kata sandi)',
    'demo.signin.noAccount': 'Belum punya akun?',
    'demo.signin.register': 'Daftar akun baru',
    'demo.signin.errorWrong': 'Email/nomor HP atau kata sandi salah. Periksa kembali, lalu coba lagi.',
    'demo.signin.errorEmpty': 'Masukkan email atau nomor HP Anda',
    'demo.docs.title': 'Dokumen saya',
    'demo.docs.saved': 'Kartu Keluarga berhasil diunggah.',
    'demo.docs.caption': 'Dokumen yang sudah Anda unggah',
    'demo.docs.name': 'Dokumen',
    'demo.docs.status': 'Status',
    'demo.docs.date': 'Tanggal unggah',
    'demo.docs.verified': 'Sudah diperiksa petugas',
    'demo.docs.waiting': 'Menunggu pemeriksaan',
    'demo.docs.upload': 'Unggah dokumen',
    'demo.docs.delete': 'Hapus dokumen',
  },
  en: {
    'demo.signin.title': 'Sign in',
    'demo.signin.lead': 'One account for every service of the {name} Regency Government.',
    'demo.signin.username': 'Email or phone number',
    'demo.signin.usernameHint': 'For example: budi@contoh.id or 0812 3456 7890',
    'demo.signin.password': 'Password',
    'demo.signin.submit': 'Sign in',
    'demo.signin.forgot': 'Forgot your password?',
    'demo.signin.kiosk': 'Sign in with your phone (no password typing)',
    'demo.signin.noAccount': 'No account yet?',
    'demo.signin.register': 'Create an account',
    'demo.signin.errorWrong': 'The email/phone number or password is wrong. Check them, then try again.',
    'demo.signin.errorEmpty': 'Enter your email or phone number',
    'demo.docs.title': 'My documents',
    'demo.docs.saved': 'Your family card was uploaded.',
    'demo.docs.caption': 'Documents you have uploaded',
    'demo.docs.name': 'Document',
    'demo.docs.status': 'Status',
    'demo.docs.date': 'Uploaded on',
    'demo.docs.verified': 'Checked by an officer',
    'demo.docs.waiting': 'Waiting to be checked',
    'demo.docs.upload': 'Upload a document',
    'demo.docs.delete': 'Delete document',
  },
})

const signin = `<% layout('layout', { title: it.t('demo.signin.title') }) %>
<div class="card">
<h1><%= it.t('demo.signin.title') %></h1>
<p class="lead"><%= it.t('demo.signin.lead', { name: it.regencyName }) %></p>
<% if (it.failed) { %>
<%~ include('partials/alert', { alert: { kind: 'error', items: [{ text: it.t('demo.signin.errorEmpty'), href: '#username' }] } }) %>
<% } %>
<form method="post" action="/masuk" novalidate>
<%~ include('partials/field', { field: { id: 'username', label: it.t('demo.signin.username'), hint: it.t('demo.signin.usernameHint'), autocomplete: 'username', inputmode: 'email', autocapitalize: 'none', spellcheck: false, required: true, value: it.username, error: it.failed ? it.t('demo.signin.errorEmpty') : undefined } }) %>
<%~ include('partials/field', { field: { id: 'password', label: it.t('demo.signin.password'), type: 'password', autocomplete: 'current-password', required: true } }) %>
<p><a href="/lupa-kata-sandi"><%= it.t('demo.signin.forgot') %></a></p>
<div class="actions">
<button type="submit"><%= it.t('demo.signin.submit') %></button>
<a class="button button-secondary" href="/perangkat"><%= it.t('demo.signin.kiosk') %></a>
</div>
</form>
</div>
<div class="card">
<h2><%= it.t('demo.signin.noAccount') %></h2>
<p><a href="/daftar"><%= it.t('demo.signin.register') %></a></p>
</div>
`

const docs = `<% layout('layout', { title: it.t('demo.docs.title'), wide: true }) %>
<h1><%= it.t('demo.docs.title') %></h1>
<%~ include('partials/alert', { alert: { kind: 'success', text: it.t('demo.docs.saved') } }) %>
<table class="table">
<caption><%= it.t('demo.docs.caption') %></caption>
<thead><tr><th scope="col"><%= it.t('demo.docs.name') %></th><th scope="col"><%= it.t('demo.docs.status') %></th><th scope="col"><%= it.t('demo.docs.date') %></th></tr></thead>
<tbody>
<% for (const d of it.docs) { %>
<tr><th scope="row"><%= d.name %></th><td data-label="<%= it.t('demo.docs.status') %>"><%= it.t(d.verified ? 'demo.docs.verified' : 'demo.docs.waiting') %></td><td data-label="<%= it.t('demo.docs.date') %>"><%= d.date %></td></tr>
<% } %>
</tbody>
</table>
<div class="actions">
<a class="button" href="/dokumen/unggah"><%= it.t('demo.docs.upload') %></a>
<a class="button button-danger" href="/dokumen/hapus"><%= it.t('demo.docs.delete') %></a>
</div>
`

async function main(): Promise<void> {
  const templates = await mkdtemp(path.join(tmpdir(), 'sp-views-'))
  await writeFile(path.join(templates, 'signin.eta'), signin)
  await writeFile(path.join(templates, 'docs.eta'), docs)
  await mkdir(outDir, { recursive: true })

  const app = Fastify({ logger: false, genReqId: () => '7f3c9a2e-51d0-4b8e-9c61-0d2f4e8a1b36' })
  await app.register(viewsPlugin, { templateDirs: [templates], regencyName: 'Sukamaju', messages, cache: false })
  await app.register(assetsPlugin)
  app.get<{ Querystring: { gagal?: string } }>('/masuk', (req, reply) =>
    reply.page('signin', { failed: req.query.gagal === '1', username: '' }),
  )
  app.get('/dokumen', (_req, reply) =>
    reply.page('docs', {
      docs: [
        { name: 'KTP elektronik', verified: true, date: '3 Februari 2025' },
        { name: 'Kartu Keluarga', verified: false, date: '14 Mei 2025' },
        { name: 'Akta kelahiran', verified: true, date: '3 Februari 2025' },
      ],
    }),
  )
  app.setNotFoundHandler((_req, reply) => reply.page('error', { status: 404 }, { status: 404 }))
  app.get('/gangguan', (_req, reply) => reply.page('error', { status: 503 }, { status: 503 }))
  const base = await app.listen({ host: '127.0.0.1', port: 0 })

  const browser = await launchChromium()
  const shots: string[] = []
  const blocked: string[] = []
  try {
    const sizes = [
      { name: 'phone', width: 360, height: 740 },
      // The narrowest phone still in use: nothing may overflow sideways.
      { name: 'phone320', width: 320, height: 640 },
      { name: 'desktop', width: 1280, height: 800 },
    ]
    const pages = [
      { name: 'masuk', url: '/masuk' },
      { name: 'masuk-gagal', url: '/masuk?gagal=1' },
      { name: 'dokumen', url: '/dokumen' },
      { name: 'galat-404', url: '/tidak-ada' },
      { name: 'galat-503', url: '/gangguan' },
      // Last: following the switch link sets the lang cookie for the pages after it.
      { name: 'masuk-en', url: '/masuk?lang=en' },
    ]
    for (const size of sizes) {
      // A fresh context per size: no cookie (the lang switch sets one) carries over.
      const context = await browser.newContext({
        viewport: { width: size.width, height: size.height },
        javaScriptEnabled: false,
        deviceScaleFactor: 1,
        // An Indonesian phone or PC: Accept-Language id-ID (the default without it is en-US).
        locale: 'id-ID',
      })
      const page = await context.newPage()
      // Any request that leaves 127.0.0.1 is a bug: pages make no external requests.
      page.on('request', (r) => {
        if (!r.url().startsWith(base) && !r.url().startsWith('data:')) blocked.push(r.url())
      })
      // The error pages' own 404/503 status is logged as a failed load; anything else
      // (a CSP violation, a missing asset) is a bug.
      page.on('console', (m) => {
        if (!/status of (404|503)/.test(m.text()) || !m.location().url.includes(base))
          blocked.push(`console: ${m.text()}`)
      })
      page.on('requestfailed', (r) => blocked.push(`failed: ${r.url()}`))
      page.on('response', (r) => {
        if (r.url().includes('/assets/') && r.status() !== 200 && r.status() !== 304)
          blocked.push(`asset ${r.status()}: ${r.url()}`)
      })
      for (const p of pages) {
        await page.goto(base + p.url)
        const file = path.join(outDir, `${p.name}-${size.name}.png`)
        await page.screenshot({ path: file, fullPage: true })
        shots.push(file)
      }
      // Focus styles: a link reached with the keyboard (skip link, brand, two language
      // links, then the error summary's link), and a text field.
      await page.goto(`${base}/masuk?gagal=1&lang=id`)
      for (let i = 0; i < 5; i++) await page.keyboard.press('Tab')
      let file = path.join(outDir, `fokus-tautan-${size.name}.png`)
      await page.screenshot({ path: file })
      shots.push(file)
      await page.focus('#password')
      file = path.join(outDir, `fokus-isian-${size.name}.png`)
      await page.screenshot({ path: file })
      shots.push(file)
      await context.close()
    }
  } finally {
    await browser.close()
    await app.close()
    await rm(templates, { recursive: true, force: true })
  }
  for (const s of shots) console.log(s)
  if (blocked.length > 0) {
    console.error('unexpected requests or console messages (CSP violations show here):')
    for (const b of blocked) console.error(`  ${b}`)
    process.exitCode = 1
  }
}

// tap's default include picks up every file under test/; when tap runs this file, say
// "skip" in TAP (a plan of 0) instead of starting a browser. tap sets TAP=1 for its children.
if (process.env['TAP'] === '1') {
  console.log('1..0 # SKIP screenshot script, run it by hand with node')
} else {
  await main()
}
