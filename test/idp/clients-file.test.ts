import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { findClient } from '../../src/idp/oidc/clients.ts'
import { applyClientsFile, ClientsFileError } from '../../src/idp/oidc/clients-file.ts'
import { eachDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'

function file(t: { teardown: (fn: () => void) => void }, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-clients-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const f = path.join(dir, 'clients.yaml')
  fs.writeFileSync(f, text)
  return f
}

const good = `clients:
  - client_id: perizinan-web
    name: Sistem Perizinan
    agency: dpmptsp
    redirect_uris: [https://izin.example.go.id/oidc/callback]
    scopes: [openid, profile]
`

t.test('a clients file creates relying parties, and applying it again updates them without a new secret', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const f = file(t, good)
    const first = await applyClientsFile(db.db, f, { allowLoopbackHttp: false })
    t.equal(first[0]?.created, true)
    t.match(first[0]?.client_secret, /^[A-Za-z0-9_-]{40,}$/, 'a new confidential client gets a secret, shown once')
    const digest = (await findClient(db.db, 'perizinan-web'))?.metadata.client_secret
    const again = await applyClientsFile(db.db, f, { allowLoopbackHttp: false })
    t.same(again, [{ client_id: 'perizinan-web', created: false }])
    t.equal((await findClient(db.db, 'perizinan-web'))?.metadata.client_secret, digest, 'the secret is kept')
  })
})

t.test('one bad entry stops the whole file, naming the entry, and writes nothing', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const f = file(
      t,
      `${good}  - client_id: bad-one
    name: Buruk
    agency: dinas-x
    redirect_uris: [http://evil.example/cb]
`,
    )
    const err = await applyClientsFile(db.db, f, { allowLoopbackHttp: false }).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof ClientsFileError)
    t.match((err as Error).message, /clients\[1\]\.redirect_uris\[0\]: must use https/)
    t.equal(await findClient(db.db, 'perizinan-web'), undefined, 'not even the good entry')
  })
})

t.test('the idp applies idp.clientsFile at start', async (t) => {
  await eachDatabase(t, async (t, db) => {
    await startIdp(t, db, { idp: { clientsFile: file(t, good) } })
    t.ok(await findClient(db.db, 'perizinan-web'))
  })
})
