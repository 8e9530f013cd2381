/**
 * The agency samples of examples/ (issue 19), run as an agency would run them: a plain PHP 8
 * backend (PHP's built-in server) and a Python backend (PyJWT, standard library) behind the
 * quick start's gateway, each at its own agency origin. A citizen signs in through Chromium,
 * allows the KTP, uploads it once, and each backend verifies the gateway's assertion itself
 * and downloads the KTP with its own client-credentials token, checking its SHA-256. Then
 * forged assertions sent straight to each backend are refused for the right reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { SignJWT, generateKeyPair } from 'jose'
import t, { type Test } from 'tap'
import { freePort, listenOnAnyPort, projectRoot, runCli, waitForOk } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'
import { png } from '../documents/fixtures.ts'

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

/** Starts a sample backend and stops it when `t` ends; its output is kept for failure messages. */
async function startSample(
  t: Test,
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  port: number,
): Promise<() => string> {
  let output = ''
  const child: ChildProcess = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  if (!(await waitForOk(`http://127.0.0.1:${port}/healthz`, 20_000)))
    throw new Error(`${command} sample did not start:\n${output}`)
  return () => output
}

/**
 * A recorder in front of a sample (the test's own, not part of the sample): it keeps the
 * assertions the gateway sends, so one agency's real assertion can be replayed at another.
 */
async function recorder(t: Test, target: number): Promise<{ port: number; assertions: string[] }> {
  const assertions: string[] = []
  const server = http.createServer((req, res) => {
    const a = req.headers['x-satupintu-assertion']
    if (typeof a === 'string' && a) assertions.push(a)
    const up = http.request(
      { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      },
    )
    up.on('error', () => res.writeHead(502).end())
    req.pipe(up)
  })
  const port = await listenOnAnyPort(server)
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { port, assertions }
}

const agencyYaml = (id: string, name: string, port: number) => `
  - id: ${id}
    name: { id: ${name}, en: ${name} }
    upstream: http://127.0.0.1:${port}
    clients: [${id}-backend]
    services:
      - id: layanan
        name: { id: Layanan ${name}, en: ${name} service }
        path: /
        access: signed_in
        scopes: [openid, profile]
        minAcr: urn:satupintu:loa:1
        documents: [ktp]
        purpose: { id: Memeriksa identitas pemohon, en: To check the applicant's identity }
`

t.test(
  'the PHP and Python samples verify the assertion and fetch the KTP behind the quick start, in Chromium without JavaScript',
  { skip: missing() },
  async (t) => {
    const phpPort = await freePort()
    const pyPort = await freePort()
    const seenByPhp = await recorder(t, phpPort)
    const stack = await startQuickStack(t, {
      extraAgencies:
        agencyYaml('dinas-php', 'Dinas PHP', seenByPhp.port) + agencyYaml('dinas-python', 'Dinas Python', pyPort),
    })
    const gateway = `http://localhost:${stack.gwPort}`
    const issuer = `http://localhost:${stack.idpPort}`

    // The agencies' backend clients, registered beside the running quick start as an operator would.
    const cliEnv = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'silent',
      SATUPINTU_DATA_DIR: stack.dir,
      PGLITE_DATA_DIR: path.join(stack.dir, 'pglite'),
      ISSUER: issuer,
      GATEWAY_URL: gateway,
    }
    const secrets: Record<string, string> = {}
    for (const id of ['dinas-php', 'dinas-python']) {
      const add = await runCli(
        [
          'clients',
          'add',
          '--name',
          id,
          '--agency',
          id,
          '--client-id',
          `${id}-backend`,
          '--grant',
          'client_credentials',
          '--resource',
          gateway,
          '--json',
        ],
        cliEnv,
        120_000,
      )
      t.equal(add.code, 0, add.stderr)
      secrets[id] = String((JSON.parse(add.stdout) as { client_secret: string }).client_secret)
    }
    const sampleEnv = (id: string) => ({
      SATUPINTU_GATEWAY: gateway,
      SATUPINTU_AGENCY: id,
      SATUPINTU_TOKEN_URL: `${issuer}/token`,
      SATUPINTU_CLIENT_ID: `${id}-backend`,
      SATUPINTU_CLIENT_SECRET: secrets[id] ?? '',
      SATUPINTU_CACHE_DIR: stack.dir,
    })
    const phpLog = await startSample(
      t,
      'php',
      ['-S', `127.0.0.1:${phpPort}`, 'agency.php'],
      path.join(projectRoot, 'examples', 'php'),
      sampleEnv('dinas-php'),
      phpPort,
    )
    const pyLog = await startSample(
      t,
      python,
      ['-B', 'agency.py', '127.0.0.1', String(pyPort)],
      path.join(projectRoot, 'examples', 'python'),
      sampleEnv('dinas-python'),
      pyPort,
    )

    const ktp = path.join(stack.dir, 'ktp.png')
    const bytes = png()
    fs.writeFileSync(ktp, bytes)
    const page = await phonePage(t)

    // PHP: sign in, allow, upload the KTP once, and back at the PHP backend.
    await page.goto(`http://dinas-php.localhost:${stack.gwPort}/`)
    t.match(page.url(), `${issuer}/interaction/`, 'sent to sign in at the idp')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.match(page.url(), `${issuer}/izin-dokumen?`, 'the KTP is asked for at the idp')
    t.match(await page.textContent('main'), 'Dinas PHP meminta akses ke Kartu Tanda Penduduk (KTP) Anda')
    // Not uploaded yet: the question leads to the upload first, then asks.
    await page.click('a.button:has-text("Unggah")')
    await page.setInputFiles('input[type=file]', ktp)
    await page.click('form.upload-form button[type=submit]')
    await page.click('a:has-text("Lanjutkan")')
    await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `http://dinas-php.localhost:${stack.gwPort}/`, 'back at the PHP agency, on its own origin')
    t.equal(await page.textContent('#salam'), 'Halo, Budi Santoso', `PHP verified the assertion\n${phpLog()}`)
    t.equal(await page.textContent('#tingkat'), 'kata sandi', 'the level in words')
    t.ok(await page.textContent('#sub'), "the citizen's subject, from the verified assertion")
    await page.click('button:has-text("Unduh dan periksa")')
    t.match(
      await page.textContent('#hasil'),
      /^Cocok/,
      `PHP fetched the KTP with its own token and its SHA-256 matches\n${phpLog()}`,
    )
    t.equal(await page.textContent('#ukuran'), `${bytes.length} bita`)

    // Python: single sign-on (no password), its own consent for the KTP already uploaded.
    await page.goto(`http://dinas-python.localhost:${stack.gwPort}/`)
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.notOk(await page.$('#password'), 'no password asked the second time')
    t.match(page.url(), `${issuer}/izin-dokumen?`)
    t.match(await page.textContent('main'), 'Dinas Python meminta akses')
    await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `http://dinas-python.localhost:${stack.gwPort}/`, 'the KTP is there already: straight back')
    t.equal(await page.textContent('#salam'), 'Halo, Budi Santoso', `Python verified the assertion\n${pyLog()}`)
    t.ok(await page.textContent('#sub'), 'a subject')
    await page.click('button:has-text("Unduh dan periksa")')
    t.match(await page.textContent('#hasil'), /^Cocok/, `Python fetched the KTP with its own token\n${pyLog()}`)

    // Forgeries sent straight to the backends (the network is supposed to stop them; the
    // assertion check must too), each refused for its own reason.
    const jwks = (await (await fetch(`${gateway}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
    const realKid = jwks.keys[0]?.kid ?? ''
    const { privateKey } = await generateKeyPair('ES256')
    const now = Math.floor(Date.now() / 1000)
    const claims = { iss: gateway, sub: 'palsu', name: 'Penyusup', acr: 'urn:satupintu:loa:3', jti: 'x' }
    const sign = (aud: string, kid: string, typ = 'satupintu-assertion+jwt') =>
      new SignJWT({ ...claims, aud })
        .setProtectedHeader({ alg: 'ES256', kid, typ })
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(privateKey)
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const none = `${b64({ alg: 'none', typ: 'satupintu-assertion+jwt', kid: realKid })}.${b64({ ...claims, aud: 'dinas-php', iat: now, exp: now + 60 })}.`
    const phpAssertion = seenByPhp.assertions.at(-1) ?? ''
    t.ok(phpAssertion, 'the gateway sent the PHP agency an assertion')
    for (const [name, port, aud] of [
      ['PHP', phpPort, 'dinas-php'],
      ['Python', pyPort, 'dinas-python'],
    ] as const) {
      const cases: [string, string | undefined, string][] = [
        ...(name === 'Python'
          ? [["the PHP agency's real assertion, replayed", phpAssertion, 'aud'] as [string, string, string]]
          : []),
        ['no assertion', undefined, 'missing'],
        ['alg none', none, 'alg'],
        ['another typ', await sign(aud, realKid, 'JWT'), 'typ'],
        ['a key the gateway never published', await sign(aud, 'kunci-palsu'), 'kid'],
        ["the gateway's kid over a forger's key", await sign(aud, realKid), 'signature'],
        ['garbage', 'a.b.c', 'malformed'],
      ]
      for (const [what, token, reason] of cases) {
        const res = await fetch(`http://127.0.0.1:${port}/`, {
          headers: token === undefined ? {} : { 'x-satupintu-assertion': token },
        })
        const body = await res.text()
        t.equal(res.status, 401, `${name}: ${what} is refused`)
        t.match(body, `<p id="alasan" hidden>${reason}</p>`, `${name}: ${what} is refused as ${reason}`)
        t.notMatch(body, /Penyusup|Budi/)
      }
    }
  },
)
