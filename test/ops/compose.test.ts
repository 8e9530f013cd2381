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
  t.ok(
    pg.volumes?.some((v) => v.startsWith('pgdata:')),
    'postgres keeps its data in a volume',
  )
})

t.test('every environment variable the compose file gives our services is one the config understands', async (t) => {
  for (const [name, svc] of Object.entries(compose.services)) {
    // postgres is the image's own; the demo agency plays an agency's system and reads its own variables.
    if (name === 'postgres' || name === 'demo-agency') continue
    for (const key of Object.keys(svc.environment ?? {})) {
      t.ok(known.has(key), `${name}: ${key} is a configuration variable`)
    }
  }
})

t.test(
  'the Dockerfile runs as a non-root user, installs production dependencies only, and has a healthcheck',
  async (t) => {
    const docker = fs.readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8')
    t.match(docker, /^FROM node:2[2-9][.\d]*-slim AS deps$/m)
    t.match(docker, /npm ci --omit=dev/)
    t.match(docker, /^USER node$/m)
    t.match(docker, /^HEALTHCHECK /m)
    for (const dir of ['bin', 'src', 'migrations', 'config'])
      t.match(docker, new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'), dir)
  },
)

t.test('the demo agency gets only the variables its server reads', async (t) => {
  const server = fs.readFileSync(path.join(projectRoot, 'examples', 'demo-agency', 'server.ts'), 'utf8')
  for (const key of Object.keys(compose.services['demo-agency']?.environment ?? {})) {
    t.match(server, `process.env.${key}`, `demo-agency reads ${key}`)
  }
})

t.test('the compose agencies file is the shipped one with the demo agency reached by its service name', async (t) => {
  const shipped = fs.readFileSync(path.join(projectRoot, 'config', 'agencies.yaml'), 'utf8')
  const composeFile = fs.readFileSync(path.join(projectRoot, 'config', 'agencies.compose.yaml'), 'utf8')
  const body = (s: string) => s.slice(s.indexOf('agencies:'))
  t.equal(body(composeFile), body(shipped).replaceAll('http://127.0.0.1:8081', 'http://demo-agency:8081'))
})
