/**
 * The runbook's "Key compromise" (docs/operations.md): `satupintu keys rotate --now
 * --revoke-old` signs with a new key at once and stops accepting everything the old keys
 * signed — the unreplaced one and one already retiring from an earlier rotation alike.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'

interface KeyRow {
  kid: string
  purpose: string
  state: string
}

async function cli(t: Test, kind: 'pglite' | 'postgres') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-keys-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const database =
    kind === 'pglite' ? { pgliteDir: path.join(dir, 'pglite') } : { url: (await freshDatabase(t, 'postgres')).url }
  const overrides = {
    dataDir: dir,
    database,
    secrets: { keyEncryptionKey: 'test-key-encryption-secret-0123456789abcdef' },
  }
  const h = await openDatabase(testConfig(overrides).database)
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return async (args: string[]) => {
    const out: string[] = []
    const err: string[] = []
    const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
    const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides })
    return { code, out: out.join('\n'), err: err.join('\n') }
  }
}

for (const kind of databaseKinds()) {
  t.test(`on ${kind}: a stolen key is revoked at once by rotate --now --revoke-old`, async (t) => {
    const run = await cli(t, kind)
    t.equal((await run(['keys', 'rotate', '--now'])).code, 0, 'first keys')
    t.equal((await run(['keys', 'rotate'])).code, 0, 'an ordinary rotation: the first keys start retiring later')
    const list = async () =>
      (JSON.parse((await run(['keys', 'list', '--json'])).out) as KeyRow[]).filter((k) => k.purpose === 'oidc')
    const before = await list()
    t.ok(before.filter((k) => k.state !== 'expired').length >= 4, 'two generations published')

    t.equal(
      (await run(['keys', 'rotate', '--revoke-old'])).code,
      2,
      '--revoke-old alone is refused (the new key must sign first)',
    )
    const r = await run(['keys', 'rotate', '--now', '--revoke-old'])
    t.equal(r.code, 0)
    const after = await list()
    const fresh = after.filter((k) => !before.some((b) => b.kid === k.kid))
    t.equal(fresh.length, 2, 'a new ES256 and RS256 key')
    t.ok(
      fresh.every((k) => k.state === 'active'),
      'signing at once',
    )
    t.same(
      after.filter((k) => before.some((b) => b.kid === k.kid)).map((k) => k.state),
      before.map(() => 'expired'),
      'every older key, the retiring ones too, is expired: nothing it signed is accepted',
    )
  })
}
