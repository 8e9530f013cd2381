/**
 * The relying-party samples of examples/ (issue 19): an agency's own web application in
 * plain PHP 8 and in Python (PyJWT), signing citizens in with the idp directly (code flow
 * with PKCE, state and nonce, the ID token verified by the sample itself) and ending its
 * sessions on the idp's back-channel logout. Both are registered beside the running quick
 * start with `satupintu clients add`; a citizen signs in to both through Chromium (the second
 * without a password), answers "Tidak, tetap masuk" at each one's sign-out and stays signed
 * in, then signs out at one, and the other's session is gone too.
 */
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { SignJWT, generateKeyPair } from 'jose'
import t, { type Test } from 'tap'
import { freePort, projectRoot, runCli, waitForOk } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'

const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

function missing(): string | false {
  const chromium = chromiumMissing()
  if (chromium) return chromium
  if (spawnSync('php', ['-r', 'exit(extension_loaded("openssl") ? 0 : 1);']).status !== 0)
    return 'php-cli with openssl is not installed (.ci/run installs it)'
  if (spawnSync(python, ['-c', 'import jwt, cryptography']).status !== 0)
    return 'python3-jwt is not installed (.ci/run installs it)'
  return false
}

async function startSample(
  t: Test,
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  port: number,
): Promise<() => string> {
  let output = ''
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr.on('data', (c: Buffer) => (output += c.toString()))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  if (!(await waitForOk(`http://127.0.0.1:${port}/healthz`, 20_000)))
    throw new Error(`${command} sample did not start:\n${output}`)
  return () => output
}

t.test(
  'the PHP and Python relying parties sign a citizen in with PKCE, verify the ID token, and both end on one sign-out, in Chromium without JavaScript',
  { skip: missing() },
  async (t) => {
    const stack = await startQuickStack(t)
    const issuer = `http://localhost:${stack.idpPort}`
    const cliEnv = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'silent',
      SATUPINTU_DATA_DIR: stack.dir,
      PGLITE_DATA_DIR: path.join(stack.dir, 'pglite'),
      ISSUER: issuer,
      GATEWAY_URL: `http://localhost:${stack.gwPort}`,
    }
    const apps: Record<'php' | 'python', { port: number; url: string; log: () => string }> = {
      php: { port: await freePort(), url: '', log: () => '' },
      python: { port: await freePort(), url: '', log: () => '' },
    }
    for (const [lang, app] of Object.entries(apps) as ['php' | 'python', (typeof apps)['php']][]) {
      app.url = `http://127.0.0.1:${app.port}`
      const id = `dinas-${lang}-web`
      const add = await runCli(
        [
          'clients',
          'add',
          '--name',
          `Dinas ${lang === 'php' ? 'PHP' : 'Python'}`,
          '--agency',
          `dinas-${lang}`,
          '--client-id',
          id,
          '--redirect-uri',
          `${app.url}/callback`,
          '--post-logout-redirect-uri',
          `${app.url}/keluar/selesai`,
          '--backchannel-logout-uri',
          `${app.url}/backchannel-logout`,
          '--json',
        ],
        cliEnv,
        120_000,
      )
      t.equal(add.code, 0, add.stderr)
      const env = {
        SATUPINTU_ISSUER: issuer,
        SATUPINTU_CLIENT_ID: id,
        SATUPINTU_CLIENT_SECRET: String((JSON.parse(add.stdout) as { client_secret: string }).client_secret),
        SATUPINTU_APP_URL: app.url,
        SATUPINTU_CACHE_DIR: fs.mkdtempSync(path.join(stack.dir, `${lang}-`)),
      }
      app.log =
        lang === 'php'
          ? await startSample(
              t,
              'php',
              ['-S', `127.0.0.1:${app.port}`, 'relying-party.php'],
              path.join(projectRoot, 'examples', 'php'),
              env,
              app.port,
            )
          : await startSample(
              t,
              python,
              ['-B', 'relying_party.py', '127.0.0.1', String(app.port)],
              path.join(projectRoot, 'examples', 'python'),
              env,
              app.port,
            )
    }

    const page = await phonePage(t)
    // PHP: sign in with the password.
    await page.goto(`${apps.php.url}/`)
    t.equal(await page.textContent('#status'), 'Belum masuk')
    await page.click('a:has-text("Masuk dengan Satu Pintu")')
    t.match(page.url(), `${issuer}/interaction/`, 'sent to sign in at the idp')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `${apps.php.url}/`)
    t.equal(await page.textContent('#status'), 'Halo, Budi Santoso', `PHP verified the ID token\n${apps.php.log()}`)

    // Python: single sign-on, no password.
    await page.goto(`${apps.python.url}/`)
    await page.click('a:has-text("Masuk dengan Satu Pintu")')
    t.notOk(await page.$('#password'), 'no password the second time')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.equal(
      await page.textContent('#status'),
      'Halo, Budi Santoso',
      `Python verified the ID token\n${apps.python.log()}`,
    )

    // Sign-out asks first, ends later, at each: "Tidak, tetap masuk" comes back still signed in,
    // and so does a return with a state this browser was never given.
    for (const app of [apps.php, apps.python]) {
      await page.goto(`${app.url}/`)
      await page.click('button:has-text("Keluar")')
      const asked = new URL(page.url())
      t.equal(`${asked.origin}${asked.pathname}`, `${issuer}/session/end`, 'sent to the idp to sign out')
      t.ok(asked.searchParams.get('id_token_hint'), 'with the ID token as the hint')
      t.equal(asked.searchParams.get('post_logout_redirect_uri'), `${app.url}/keluar/selesai`)
      t.match(asked.searchParams.get('state') ?? '', /^[A-Za-z0-9_-]{43}$/, 'and a state of its own')
      t.match(await page.textContent('h1'), 'Keluar dari Satu Pintu?', 'the idp asks whether to sign out everywhere')
      await page.click('a:has-text("Tidak, tetap masuk")')
      t.equal(page.url(), `${app.url}/`)
      t.equal(await page.textContent('#status'), 'Halo, Budi Santoso', `"Tidak" keeps the session\n${app.log()}`)
      await page.goto(`${app.url}/keluar/selesai?state=bukan-milik-saya`)
      t.equal(await page.textContent('#status'), 'Halo, Budi Santoso', 'a state that is not ours ends nothing')
    }

    // One sign-out, at Python: the idp asks, then its back-channel logout ends PHP's session.
    await page.goto(`${apps.python.url}/`)
    await page.click('button:has-text("Keluar")')
    t.match(await page.textContent('h1'), 'Keluar dari Satu Pintu?', 'the idp asks whether to sign out everywhere')
    await page.click('button:has-text("Ya, keluar")')
    t.equal(page.url(), `${apps.python.url}/`, 'back at the Python app')
    t.equal(await page.textContent('#status'), 'Belum masuk')
    await page.goto(`${apps.php.url}/`)
    t.equal(
      await page.textContent('#status'),
      'Belum masuk',
      `the back-channel logout ended the PHP session\n${apps.php.log()}`,
    )

    // And at PHP, the same "Ya, keluar" ends its own session on the way back.
    await page.click('a:has-text("Masuk dengan Satu Pintu")')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.equal(await page.textContent('#status'), 'Halo, Budi Santoso')
    await page.click('button:has-text("Keluar")')
    await page.click('button:has-text("Ya, keluar")')
    t.equal(page.url(), `${apps.php.url}/`, 'back at the PHP app')
    t.equal(await page.textContent('#status'), 'Belum masuk', `PHP signed out\n${apps.php.log()}`)

    // Forgeries at each back-channel endpoint and a callback whose state this browser never started.
    // The idp listens on 127.0.0.1 and answers only its issuer's Host (Node may resolve localhost to ::1).
    const idpJson = (p: string) =>
      new Promise<unknown>((resolve, reject) => {
        http
          .get(
            { host: '127.0.0.1', port: stack.idpPort, path: p, headers: { host: `localhost:${stack.idpPort}` } },
            (res) => {
              let body = ''
              res.on('data', (c: Buffer) => (body += c.toString()))
              res.on('end', () => resolve(JSON.parse(body)))
            },
          )
          .on('error', reject)
      })
    const jwksUri = new URL(((await idpJson('/.well-known/openid-configuration')) as { jwks_uri: string }).jwks_uri)
    const jwks = (await idpJson(jwksUri.pathname)) as { keys: { kid: string; kty: string }[] }
    const ecKid = jwks.keys.find((k) => k.kty === 'EC')?.kid ?? ''
    const rsaKid = jwks.keys.find((k) => k.kty === 'RSA')?.kid ?? ''
    t.ok(ecKid && rsaKid, 'the idp publishes an EC and an RSA key')
    const { privateKey } = await generateKeyPair('ES256')
    const now = Math.floor(Date.now() / 1000)
    for (const [lang, app] of Object.entries(apps)) {
      const clientId = `dinas-${lang}-web`
      const logout = {
        iss: issuer,
        aud: clientId,
        sub: 'x',
        sid: 'x',
        jti: 'x',
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      }
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
      const forged: [string, string][] = [
        ['alg none', `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64({ ...logout, iat: now })}.`],
        [
          "the idp's kid over a forger's key",
          await new SignJWT(logout)
            .setProtectedHeader({ alg: 'ES256', typ: 'logout+jwt', kid: ecKid })
            .setIssuedAt(now)
            .sign(privateKey),
        ],
        [
          "the kid of the idp's RSA key under ES256",
          await new SignJWT(logout)
            .setProtectedHeader({ alg: 'ES256', typ: 'logout+jwt', kid: rsaKid })
            .setIssuedAt(now)
            .sign(privateKey),
        ],
        ['garbage', 'a.b.c'],
        ['nothing', ''],
      ]
      for (const [what, token] of forged) {
        const res = await fetch(`${app.url}/backchannel-logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: token }),
        }).catch((err: Error) => err)
        t.equal(
          res instanceof Error ? String(res.cause ?? res) : res.status,
          400,
          `${lang}: a logout token with ${what} is refused\n${app.log()}`,
        )
      }
      await page.goto(`${app.url}/callback?state=bukan-milik-saya&code=x`)
      t.equal(
        await page.textContent('#alasan'),
        'state',
        `${lang}: a callback with a state this browser never started is refused`,
      )
    }
  },
)
