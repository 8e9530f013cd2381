/**
 * `satupintu dev agency` beside a running quick start (issue 19, "Local development"): the
 * real command, in its own process, reaches the quick start's embedded database, and the
 * running gateway serves the new agency without a restart.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { echo, startUpstream } from '../gateway/harness.ts'
import { resolveLocalhostSubdomains } from '../helpers/localhost-dns.ts'
import { runCli } from '../helpers/process.ts'
import { startQuickStack } from '../helpers/stack.ts'

interface DevResult {
  agency: string
  origin: string
  gateway: string
  clients: { role: string; client_id: string; client_secret: string | null; redirect_uri?: string }[]
}

t.test(
  'dev agency adds an agency to the running quick start: file, clients, and a gateway that serves it at once',
  async (t) => {
    resolveLocalhostSubdomains(t)
    const stack = await startQuickStack(t)
    const file = path.join(stack.dir, 'agencies.yaml')
    const env = {
      NODE_ENV: 'development',
      LOG_LEVEL: 'silent',
      SATUPINTU_DATA_DIR: stack.dir,
      PGLITE_DATA_DIR: path.join(stack.dir, 'pglite'),
      ISSUER: `http://localhost:${stack.idpPort}`,
      GATEWAY_URL: `http://localhost:${stack.gwPort}`,
      GATEWAY_AGENCIES_FILE: file,
    }
    const gw = `http://localhost:${stack.gwPort}`
    const origin = (id: string) => `http://${id}.localhost:${stack.gwPort}`
    const backend = await startUpstream(t, echo)

    t.equal(
      (await fetch(`${origin('my-agency')}/`, { redirect: 'manual' })).status,
      421,
      'before: the host is not served',
    )

    const run = await runCli(['dev', 'agency', '--id', 'my-agency', '--upstream', backend.url, '--json'], env)
    t.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout) as DevResult
    t.equal(result.origin, `${origin('my-agency')}/`)
    t.equal(result.gateway, 'served', 'the running gateway picked it up before the command returned')
    t.same(
      result.clients.map((c) => c.client_id),
      ['my-agency-backend', 'my-agency-web'],
    )
    for (const c of result.clients) t.match(c.client_secret, /^.{32,}$/, `${c.client_id} has a secret, printed once`)
    t.equal(result.clients[1]?.redirect_uri, `${backend.url}/oidc/callback`)

    const yaml = fs.readFileSync(file, 'utf8')
    t.match(yaml, /^# Agencies behind the gateway/, 'the comments of the file are kept')
    t.match(
      yaml,
      new RegExp(`- id: my-agency\\n\\s+name:[\\s\\S]*upstream: ${backend.url.replace(/[.:/]/g, '\\$&')}`),
      'the entry is in the file',
    )

    await t.test('a citizen opening the new origin is sent to sign in, with a callback the idp accepts', async (t) => {
      const res = await fetch(`${origin('my-agency')}/`, { redirect: 'manual', headers: { accept: 'text/html' } })
      t.equal(res.status, 303)
      const authorize = new URL(res.headers.get('location') ?? '')
      t.equal(authorize.origin, env.ISSUER)
      t.equal(authorize.searchParams.get('redirect_uri'), `${origin('my-agency')}/oidc/callback`)
      const atIdp = await fetch(authorize, { redirect: 'manual' })
      t.equal(atIdp.status, 303, 'the idp takes the new callback (an unregistered one is an error page)')
      t.match(atIdp.headers.get('location'), /\/interaction\//, 'on to the sign-in page')
    })

    await t.test("the backend's client fetches document links at the reloaded gateway", async (t) => {
      const c = result.clients[0] as { client_id: string; client_secret: string }
      const token = await fetch(`${env.ISSUER}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: gw }),
      })
      t.equal(token.status, 200)
      const { access_token: accessToken } = (await token.json()) as { access_token: string }
      const link = await fetch(`${gw}/dokumen/not-a-link`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      })
      t.equal(link.status, 404, "the gateway knows the client as the agency's (another client gets 403)")
      t.equal(((await link.json()) as { error: string }).error, 'not_found')
    })

    await t.test(
      'a public service is proxied to the new backend; the agencies already there still answer',
      async (t) => {
        const pub = await runCli(
          ['dev', 'agency', '--id', 'my-public', '--upstream', backend.url, '--access', 'public'],
          env,
        )
        t.equal(pub.code, 0, pub.stderr)
        t.match(pub.stdout, `origin:        ${origin('my-public')}/`)
        t.match(pub.stdout, /client_id: {5}my-public-backend\n\s+client_secret: \S{32,}/)
        t.match(pub.stdout, 'The running gateway serves it now')
        const res = await fetch(`${origin('my-public')}/halo?x=1`)
        t.equal(res.status, 200)
        t.equal(((await res.json()) as { url: string }).url, '/halo?x=1', 'the backend got the request')
        t.equal((await fetch(`${origin('dinas-contoh')}/info`)).status, 200, 'the demo agency is still served')
        t.equal(
          (await fetch(`${origin('my-agency')}/`, { redirect: 'manual', headers: { accept: 'text/html' } })).status,
          303,
          'and so is the first new one',
        )
      },
    )

    await t.test('the same id again, or an entry that is not valid, changes nothing', async (t) => {
      const before = fs.readFileSync(file, 'utf8')
      const again = await runCli(['dev', 'agency', '--id', 'my-agency', '--upstream', backend.url], env)
      t.equal(again.code, 1)
      t.equal(again.stderr, `satupintu: agency my-agency is already in ${file}\n`)
      const bad = await runCli(['dev', 'agency', '--id', 'other-agency', '--upstream', 'ftp://x'], env)
      t.equal(bad.code, 1)
      t.match(bad.stderr, /^satupintu: config: gateway\.agencies\[\d+\]\.upstream is not an http\(s\) URL/)
      t.equal(fs.readFileSync(file, 'utf8'), before, 'the file is as it was')
      const list = await runCli(['clients', 'list', '--json'], env)
      t.notOk(list.stdout.includes('other-agency'), 'no client was registered for it')
    })
  },
)
