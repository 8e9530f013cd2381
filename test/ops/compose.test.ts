import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { envVars } from '../../src/config/schema.ts'
import { projectRoot } from '../helpers/process.ts'

interface Service {
  environment?: Record<string, string>
  healthcheck?: unknown
  volumes?: string[]
  image?: string
  build?: string
}

const compose = parse(fs.readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>
}
const known = new Set<string>(envVars.map((v) => v.name))

t.test('the compose file has postgres, idp, gateway and the demo agency', async (t) => {
  for (const name of ['postgres', 'idp', 'gateway', 'demo-agency']) t.ok(compose.services[name], name)
  const pg = compose.services.postgres as Service
  t.ok(pg.healthcheck, 'postgres has a healthcheck')
  t.ok(pg.volumes?.some((v) => v.startsWith('pgdata:')), 'postgres keeps its data in a volume')
})

t.test('every environment variable the compose file gives our services is one the config understands', async (t) => {
  for (const [name, svc] of Object.entries(compose.services)) {
    if (name === 'postgres') continue
    for (const key of Object.keys(svc.environment ?? {})) {
      t.ok(known.has(key), `${name}: ${key} is a configuration variable`)
    }
  }
})

t.test('the Dockerfile runs as a non-root user, installs production dependencies only, and has a healthcheck', async (t) => {
  const docker = fs.readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8')
  t.match(docker, /^FROM node:2[2-9][.\d]*-slim AS deps$/m)
  t.match(docker, /npm ci --omit=dev/)
  t.match(docker, /^USER node$/m)
  t.match(docker, /^HEALTHCHECK /m)
  for (const dir of ['bin', 'src', 'migrations', 'config']) t.match(docker, new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'), dir)
})
