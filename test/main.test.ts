import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { exited, freePort, quickStartEnv, spawnCli, waitForOk } from './helpers/process.ts'

t.test(
  'quick start: three servers ready, a second start refused, SIGTERM exits 0, a restart keeps the data',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-start-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const { env, ports } = await quickStartEnv(dir)

    const started = Date.now()
    const first = spawnCli(['start', '--demo'], env)
    t.teardown(() => {
      first.child.kill('SIGKILL')
    })
    for (const p of Object.values(ports)) {
      t.ok(await waitForOk(`http://127.0.0.1:${p}/readyz`, 20_000), `port ${p} ready`)
    }
    t.ok(Date.now() - started < 20_000, 'ready within 20 s')
    t.match(first.output(), /Satu Pintu is running/)
    t.match(first.output(), /demo citizen: NIK 3201011201900001/, 'the quick start prints how to try a sign-in')
    t.match(
      first.output(),
      /demo officer: petugas\.demo, password: .*\n.*the key JBSWY3DPEHPK3PXPSATUPINTUDEMO234/,
      'and how to try the officer console',
    )
    t.match(first.output(), /demo counter: Loket 3, MPP Kabupaten Sukamaju/, 'with the demo counter (issue 15)')

    // A second start on the same embedded database: a clear message, not corruption.
    const otherPorts = {
      IDP_PORT: String(await freePort()),
      GATEWAY_PORT: String(await freePort()),
      DEMO_AGENCY_PORT: String(await freePort()),
    }
    const second = spawnCli(['start'], { ...env, ...otherPorts })
    const secondExit = await exited(second.child, 20_000)
    t.same(secondExit, { code: 1, signal: null })
    t.match(second.output(), /in use by another Satu Pintu process \(pid \d+\)/)

    const stopAt = Date.now()
    first.child.kill('SIGTERM')
    const firstExit = await exited(first.child, 5_000)
    t.same(firstExit, { code: 0, signal: null }, 'SIGTERM exits 0')
    t.ok(Date.now() - stopAt < 5_000, 'within 5 s')
    t.notOk(fs.existsSync(path.join(dir, 'pglite.lock')), 'no stale lock')

    const again = spawnCli(['start', '--demo'], env)
    t.teardown(() => {
      again.child.kill('SIGKILL')
    })
    t.ok(await waitForOk(`http://127.0.0.1:${ports.IDP_PORT}/readyz`, 20_000), 'restarts')
    t.notMatch(again.output(), /migration applied/, 'the data (and its migrations) were kept')
    again.child.kill('SIGTERM')
    t.same(await exited(again.child, 5_000), { code: 0, signal: null })
  },
)

t.test(
  'a SIGTERM while the quick start is still starting waits for the start, then stops cleanly and exits 0',
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-early-stop-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const { env } = await quickStartEnv(dir)
    const run = spawnCli(['start', '--demo'], env)
    t.teardown(() => {
      run.child.kill('SIGKILL')
    })
    // The first log line: the services are starting (the database, migrations), none listens yet.
    const end = Date.now() + 20_000
    while (!/"level":/.test(run.output()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
    t.notMatch(run.output(), /Satu Pintu is running/, 'asked to stop before the start finished')
    run.child.kill('SIGTERM')
    t.same(await exited(run.child, 30_000), { code: 0, signal: null }, 'a clean stop, not a kill')
    t.notOk(fs.existsSync(path.join(dir, 'pglite.lock')), 'no stale lock')
  },
)
