import t from 'tap'
import { ConfigError } from '../../src/config/load.ts'
import { buildAgencyTable, loadAgencies } from '../../src/gateway/agencies.ts'

const defaults = { timeoutMs: 15000, maxBodyBytes: 1000, publicUrl: 'https://layanan.sukamaju.go.id' }
const svc = (over: Record<string, unknown> = {}) => ({
  id: 's1',
  name: { id: 'Layanan', en: 'Service' },
  path: '/',
  access: 'public',
  ...over,
})
const agency = (over: Record<string, unknown> = {}) => ({
  id: 'dinas-a',
  name: { id: 'Dinas A', en: 'Agency A' },
  upstream: 'http://127.0.0.1:9001',
  services: [svc()],
  ...over,
})

function refusal(raw: unknown): string {
  try {
    buildAgencyTable(raw, defaults)
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('the shipped agencies file is valid', async (t) => {
  const table = loadAgencies('config/agencies.yaml', defaults)
  t.ok(table.agencies.length >= 1)
})

t.test('an error names the entry and the key', async (t) => {
  t.equal(
    refusal({ agencies: [agency(), agency({ id: 'dinas-b', upstream: 'not-a-url' })] }),
    'config: gateway.agencies[1].upstream is not an http(s) URL',
  )
  t.equal(
    refusal({ agencies: [agency({ services: [svc({ access: 'everyone' })] })] }),
    'config: gateway.agencies[0].services[0].access is not valid: expected one of "public"|"signed_in"',
  )
  t.equal(
    refusal({ agencies: [agency({ upstream: 'http://u:p@127.0.0.1:9001' })] }),
    'config: gateway.agencies[0].upstream must be a base URL without query, fragment or credentials',
  )
  t.equal(refusal({ agencies: [agency(), agency()] }), 'config: gateway.agencies[1].id dinas-a is used twice')
  t.equal(
    refusal({ agencies: [agency({ services: [svc({ path: '/a/../b' })] })] }),
    'config: gateway.agencies[0].services[0].path must not contain . or .. segments',
  )
  t.equal(refusal({ agencies: [agency({ extra: 1 })] }), 'config: gateway.agencies[0] has unknown key(s): extra')
  t.equal(
    refusal({ agencies: [agency({ services: [svc({ minAcr: 'loa2' })] })] }),
    'config: gateway.agencies[0].services[0].minAcr must be urn:satupintu:acr:pwd, mfa or phr',
  )
  t.equal(
    refusal({ agencies: [agency({ services: [svc({ minIdentity: 'verified' })] })] }),
    'config: gateway.agencies[0].services[0].minIdentity must be self_asserted, contact_verified, in_person or dukcapil',
  )
  t.equal(
    refusal({ agencies: [agency({ services: [svc({ minIdentity: 'toString' })] })] }),
    'config: gateway.agencies[0].services[0].minIdentity must be self_asserted, contact_verified, in_person or dukcapil',
    'an inherited key is no level',
  )
  t.equal(
    refusal({ agencies: [agency(), agency({ id: 'dinas-b', prefix: '/layanan/dinas-a/b' })] }),
    "config: gateway.agencies[1].prefix /layanan/dinas-a/b lies inside dinas-a's prefix /layanan/dinas-a",
  )
})

t.test('routes match the most specific service inside the agency prefix, and nothing outside it', async (t) => {
  const table = buildAgencyTable(
    {
      agencies: [
        agency({ services: [svc(), svc({ id: 'izin', path: '/izin', access: 'signed_in', timeoutMs: 500 })] }),
      ],
    },
    defaults,
  )
  t.equal(table.match('/layanan/dinas-a/izin/baru')?.service.id, 'izin')
  t.equal(table.match('/layanan/dinas-a/izin')?.upstreamPath, '/izin')
  t.equal(table.match('/layanan/dinas-a/izinx')?.service.id, 's1', 'a path segment, not a string prefix')
  t.equal(table.match('/layanan/dinas-a')?.upstreamPath, '/')
  t.equal(table.match('/layanan/dinas-ab/x'), undefined)
  t.equal(table.match('/other'), undefined)
  t.equal(table.match('/layanan/dinas-a/izin/x')?.service.timeoutMs, 500)
  t.equal(table.match('/layanan/dinas-a/x')?.service.timeoutMs, 15000, 'defaults apply')
})
