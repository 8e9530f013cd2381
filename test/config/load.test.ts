import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/load.ts'

function refusal(env: Record<string, string>): string {
  try {
    loadConfig({ env })
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('reads the shipped defaults into a frozen object', async (t) => {
  const c = loadConfig({ env: {} })
  t.equal(c.env, 'development')
  t.equal(c.idp.port, 3000)
  t.equal(c.gateway.port, 8080)
  t.equal(c.demoAgency.port, 8081)
  t.equal(c.database.url, undefined, 'PGlite is the default')
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.http) && Object.isFrozen(c.http.trustProxy))
})

t.test('environment variables override the files', async (t) => {
  const c = loadConfig({
    env: {
      IDP_PORT: '4000',
      DATABASE_URL: 'postgres://u@db.internal:5433/sp',
      TRUST_PROXY: '10.0.0.1, 10.1.0.0/16',
      DATABASE_AUTO_MIGRATE: 'false',
    },
  })
  t.equal(c.idp.port, 4000)
  t.equal(c.database.url, 'postgres://u@db.internal:5433/sp')
  t.same(c.http.trustProxy, ['10.0.0.1', '10.1.0.0/16'])
  t.equal(c.database.autoMigrate, false)
})

t.test('refuses PORT=abc with one line naming the key and the variable', async (t) => {
  const msg = refusal({ PORT: 'abc' })
  t.equal(msg, 'config: http.port (env PORT) must be an integer, got "abc"')
  t.notMatch(msg, /\n/)
})

t.test('refuses a port out of range', async (t) => {
  t.equal(
    refusal({ IDP_PORT: '70000' }),
    'config: idp.port (env IDP_PORT) must be a port number from 1 to 65535, got 70000',
  )
})

t.test('refuses an unknown NODE_ENV', async (t) => {
  t.equal(
    refusal({ NODE_ENV: 'staging' }),
    'config: env (env NODE_ENV) must be one of development, production, test, got "staging"',
  )
})

t.test('refuses a malformed DATABASE_URL without echoing it (it may hold a password)', async (t) => {
  const msg = refusal({ DATABASE_URL: 'mysql://root:hunter2@x/db' })
  t.equal(msg, 'config: database.url (env DATABASE_URL) must be a postgres:// or postgresql:// URL')
  t.notMatch(msg, /hunter2/)
})

t.test('refuses a boolean that is not one', async (t) => {
  t.equal(refusal({ SATUPINTU_DEMO: 'maybe' }), 'config: demo (env SATUPINTU_DEMO) must be true or false, got "maybe"')
})

t.test('SECURITY 30: production refuses an http issuer', async (t) => {
  t.match(
    refusal({
      NODE_ENV: 'production',
      SATUPINTU_KEY_ENCRYPTION_SECRET: 'x'.repeat(40),
      GATEWAY_URL: 'https://gw.example.id',
    }),
    /^config: idp\.issuer must be an https URL when env is production/,
  )
})

t.test('SECURITY 30: production refuses a missing key-encryption secret', async (t) => {
  t.match(
    refusal({ NODE_ENV: 'production', ISSUER: 'https://id.example.id', GATEWAY_URL: 'https://gw.example.id' }),
    /^config: secrets\.keyEncryptionKey is required when env is production$/,
  )
})

t.test('production accepts a complete configuration', async (t) => {
  const c = loadConfig({
    env: {
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.id',
      GATEWAY_URL: 'https://gw.example.id',
      SATUPINTU_KEY_ENCRYPTION_SECRET: 'k'.repeat(48),
    },
  })
  t.equal(c.database.autoMigrate, false, 'production overlay: migrations are a release step')
  t.equal(c.http.host, '0.0.0.0')
})

t.test('refuses an unknown key in a config file, naming it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-config-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'site.yaml')
  fs.writeFileSync(file, 'http:\n  prot: 80\n')
  t.equal(refusal({ SATUPINTU_CONFIG: file }), 'config: http has unknown key(s): prot')
})

t.test('refuses a config file that is not valid YAML', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-config-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'site.yaml')
  fs.writeFileSync(file, 'http: [\n')
  t.match(refusal({ SATUPINTU_CONFIG: file }), /^config: site\.yaml is not valid YAML: /)
})
