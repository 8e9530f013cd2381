import fs from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { ConfigError } from '../config/load.ts'
import { channels, knownAcrValues, knownIdentityLevels, type Channel } from './auth/identity.ts'

/**
 * The agencies behind the gateway and their services (config/agencies.yaml), validated
 * once at start-up into an immutable route table. An error names the entry and the key:
 * `config: gateway.agencies[2].upstream is not a URL`.
 */

const localized = z.strictObject({ id: z.string().min(1).max(200), en: z.string().min(1).max(200) })
const idPattern = /^[a-z0-9][a-z0-9-]{1,39}$/
const clientIdPattern = /^[A-Za-z0-9._~-]{1,128}$/
/** A DNS name (labels of letters, digits and dashes) with an optional port. */
const hostPattern =
  /^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$/

const serviceSchema = z
  .strictObject({
    id: z.string().regex(idPattern, 'must be lowercase letters, digits and dashes (2-40)'),
    name: localized,
    /** Path prefix inside the agency's routes, e.g. "/" or "/izin". */
    path: z
      .string()
      .regex(/^\/([A-Za-z0-9._~-]+\/?)*$/, 'must be a path like /izin (letters, digits, . _ ~ -)')
      .refine((p) => !p.split('/').some((seg) => seg === '.' || seg === '..'), 'must not contain . or .. segments'),
    access: z.enum(['public', 'signed_in']),
    scopes: z.array(z.string().min(1).max(64)).default([]),
    minAcr: z
      .string()
      .refine((v) => knownAcrValues.includes(v), 'must be urn:satupintu:acr:pwd, mfa or phr')
      .optional(),
    /**
     * The channels the service is offered on (issue 16): `web` (the citizen's own browser),
     * `app` (an app's token), `kiosk` (a self-service kiosk in a service hall). Default: all.
     */
    channels: z
      .array(z.enum(channels, { error: 'must be web, app or kiosk' }))
      .min(1, 'must list at least one channel (leave it out for all)')
      .optional(),
    /**
     * How well the citizen's identity must have been proven (the idp's identity levels):
     * contact_verified, or in_person (an officer checked the KTP-el; dukcapil counts too).
     */
    minIdentity: z
      .string()
      .refine((v) => knownIdentityLevels.includes(v), 'must be self_asserted, contact_verified, in_person or dukcapil')
      .optional(),
    /** Document types attached as signed links (the documents issue). */
    documents: z.array(z.string().regex(idPattern)).default([]),
    purpose: localized.optional(),
    timeoutMs: z.number().int().min(100).max(300000).optional(),
    maxBodyBytes: z.number().int().min(0).optional(),
  })
  .refine((s) => s.documents.length === 0 || s.purpose !== undefined, {
    // The consent page shows it and the grant records it (UU PDP: purpose limitation).
    message: 'must state a purpose when it asks for documents',
    path: ['purpose'],
  })

const agencySchema = z.strictObject({
  id: z.string().regex(idPattern, 'must be lowercase letters, digits and dashes (2-40)'),
  name: localized,
  upstream: z.url({ protocol: /^https?$/, error: 'is not an http(s) URL' }).refine((u) => {
    try {
      const url = new URL(u)
      return url.search === '' && url.hash === '' && url.username === '' && url.password === ''
    } catch {
      return true // the url check above has already reported it
    }
  }, 'must be a base URL without query, fragment or credentials'),
  prefix: z
    .string()
    .regex(/^\/[a-z0-9/-]+[a-z0-9]$/, 'must be a path like /layanan/dinas-contoh')
    .optional(),
  /**
   * The agency's own host (its browser origin, issue 10 §2), e.g. izin.sukamaju.go.id.
   * Default: gateway.agencyHost with {agency} replaced by the id.
   */
  host: z.string().regex(hostPattern, 'must be a lower-case host name, optionally with :port').optional(),
  /** Whether the plain X-Citizen-Nik header is sent (the assertion carries nik only with consent). */
  releaseNik: z.boolean().default(false),
  timeoutMs: z.number().int().min(100).max(300000).optional(),
  maxBodyBytes: z.number().int().min(0).optional(),
  services: z.array(serviceSchema).min(1, 'must list at least one service'),
  /**
   * OIDC clients (client-credentials) that act as this agency's backend: a
   * client-credentials token of one of them fetches this agency's document links.
   */
  clients: z
    .array(z.string().regex(clientIdPattern, 'must be a client id (letters, digits, . _ ~ -, up to 128)'))
    .default([]),
  /**
   * OIDC clients (the agency's own apps) whose citizens' access tokens this agency's
   * routes accept, when the token's audience is the agency's origin (issue 10 §3).
   */
  appClients: z
    .array(z.string().regex(clientIdPattern, 'must be a client id (letters, digits, . _ ~ -, up to 128)'))
    .default([]),
})

const fileSchema = z.strictObject({ agencies: z.array(agencySchema) })

export interface Service {
  readonly id: string
  readonly name: { readonly id: string; readonly en: string }
  readonly path: string
  readonly access: 'public' | 'signed_in'
  readonly scopes: readonly string[]
  readonly minAcr: string | undefined
  /** Where it is offered (`channels:`; all three unless the agency says otherwise). */
  readonly channels: readonly Channel[]
  /** The idp's identity level the citizen must have (contact_verified, in_person…). */
  readonly minIdentity: string | undefined
  readonly documents: readonly string[]
  readonly purpose: { readonly id: string; readonly en: string } | undefined
  readonly timeoutMs: number
  readonly maxBodyBytes: number
}

export interface Agency {
  readonly id: string
  readonly name: { readonly id: string; readonly en: string }
  readonly upstream: URL
  readonly prefix: string
  /** The agency's own host, lower case, with a port only where it is not the scheme's default. */
  readonly host: string
  /** The agency's browser origin (scheme of gateway.publicUrl + host): the audience of its bearer tokens. */
  readonly origin: string
  readonly releaseNik: boolean
  /** OIDC client ids (client-credentials) of the agency's backend: they fetch its document links. */
  readonly clients: readonly string[]
  /** OIDC client ids of the agency's apps: their citizen tokens (audience = origin) are accepted here. */
  readonly appClients: readonly string[]
  /** Longest path first, so the most specific service matches. */
  readonly services: readonly Service[]
}

export interface RouteMatch {
  readonly agency: Agency
  readonly service: Service
  /** The path below the agency's prefix, beginning with "/" (what the upstream sees). */
  readonly upstreamPath: string
}

export interface AgencyTable {
  readonly agencies: readonly Agency[]
  /** The portal's own host (gateway.publicUrl), as agencies' hosts are written. */
  readonly portalHost: string
  /** The agency served on `host` (a Host header value), if any. */
  byHost(host: string): Agency | undefined
  /** Finds the agency and service for a normalised path (see paths.ts) and host. */
  match(pathname: string, host?: string): RouteMatch | undefined
}

/** What the agencies file does not say itself: gateway-wide defaults. */
export interface TableDefaults {
  timeoutMs: number
  maxBodyBytes: number
  /** gateway.publicUrl: the portal's origin; its scheme is every agency origin's scheme. */
  publicUrl: string
  /** gateway.agencyHost: `{agency}` is replaced by the agency id. Default `{agency}.<publicUrl host>`. */
  hostTemplate?: string | undefined
}

/** The table defaults of a configuration. */
export function tableDefaults(config: {
  gateway: { upstreamTimeoutMs: number; maxBodyBytes: number; publicUrl: string; agencyHost?: string | undefined }
}): TableDefaults {
  return {
    timeoutMs: config.gateway.upstreamTimeoutMs,
    maxBodyBytes: config.gateway.maxBodyBytes,
    publicUrl: config.gateway.publicUrl,
    hostTemplate: config.gateway.agencyHost,
  }
}

/** `host` without the scheme's default port (what browsers send in Host and put in an origin). */
function canonicalHost(host: string, protocol: string): string {
  const h = host.toLowerCase()
  return (protocol === 'https:' && h.endsWith(':443')) || (protocol === 'http:' && h.endsWith(':80'))
    ? h.replace(/:\d+$/, '')
    : h
}

export function buildAgencyTable(raw: unknown, defaults: TableDefaults, where = 'gateway.agencies'): AgencyTable {
  const publicUrl = new URL(defaults.publicUrl)
  const portalHost = canonicalHost(publicUrl.host, publicUrl.protocol)
  const template = defaults.hostTemplate ?? `{agency}.${portalHost}`
  if (!template.includes('{agency}')) throw new ConfigError(`gateway.agencyHost must contain {agency}: ${template}`)
  const parsed = fileSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const p = (issue?.path ?? []).slice(1)
    const key = p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : `${acc}.${String(k)}`), where)
    throw new ConfigError(`${key} ${describe(issue)}`)
  }
  const seenIds = new Set<string>()
  const seenPrefixes = new Set<string>()
  const seenClients = new Map<string, string>()
  const seenHosts = new Map<string, string>([[portalHost, 'the portal (gateway.publicUrl)']])
  const agencies: Agency[] = parsed.data.agencies.map((a, i) => {
    if (seenIds.has(a.id)) throw new ConfigError(`${where}[${i}].id ${a.id} is used twice`)
    seenIds.add(a.id)
    const prefix = a.prefix ?? `/layanan/${a.id}`
    if (seenPrefixes.has(prefix)) throw new ConfigError(`${where}[${i}].prefix ${prefix} is used twice`)
    seenPrefixes.add(prefix)
    a.clients.forEach((c, k) => {
      const owner = seenClients.get(c)
      if (owner !== undefined)
        throw new ConfigError(`${where}[${i}].clients[${k}] ${c} is already a client of ${owner}`)
      seenClients.set(c, a.id)
    })
    const host = canonicalHost(a.host ?? template.replaceAll('{agency}', a.id), publicUrl.protocol)
    if (!hostPattern.test(host))
      throw new ConfigError(`${where}[${i}].host ${host} (from gateway.agencyHost) is not a host name`)
    const hostOwner = seenHosts.get(host)
    if (hostOwner !== undefined)
      throw new ConfigError(`${where}[${i}].host ${host} is already the host of ${hostOwner}`)
    seenHosts.set(host, a.id)
    const servicePaths = new Set<string>()
    const services = a.services.map((s, j): Service => {
      const normal = s.path === '/' ? '/' : s.path.replace(/\/+$/, '')
      if (servicePaths.has(normal)) throw new ConfigError(`${where}[${i}].services[${j}].path ${s.path} is used twice`)
      servicePaths.add(normal)
      return {
        id: s.id,
        name: s.name,
        path: normal,
        access: s.access,
        scopes: s.scopes,
        minAcr: s.minAcr,
        channels: Object.freeze([...new Set(s.channels ?? channels)]),
        minIdentity: s.minIdentity,
        documents: s.documents,
        purpose: s.purpose,
        timeoutMs: s.timeoutMs ?? a.timeoutMs ?? defaults.timeoutMs,
        maxBodyBytes: s.maxBodyBytes ?? a.maxBodyBytes ?? defaults.maxBodyBytes,
      }
    })
    services.sort((x, y) => y.path.length - x.path.length)
    const upstream = new URL(a.upstream)
    if (!upstream.pathname.endsWith('/')) upstream.pathname += '/'
    return {
      id: a.id,
      name: a.name,
      upstream,
      prefix,
      host,
      origin: `${publicUrl.protocol}//${host}`,
      releaseNik: a.releaseNik,
      clients: Object.freeze([...new Set(a.clients)]),
      appClients: Object.freeze([...new Set(a.appClients)]),
      services,
    }
  })
  // A prefix inside another agency's prefix would make the route table ambiguous.
  for (const [i, a] of agencies.entries()) {
    const outer = agencies.find((b) => b !== a && a.prefix.startsWith(`${b.prefix}/`))
    if (outer)
      throw new ConfigError(`${where}[${i}].prefix ${a.prefix} lies inside ${outer.id}'s prefix ${outer.prefix}`)
  }
  const byHost = new Map(agencies.map((a) => [a.host, a]))

  function serviceFor(agency: Agency, upstreamPath: string): Service | undefined {
    return agency.services.find(
      (s) => s.path === '/' || upstreamPath === s.path || upstreamPath.startsWith(`${s.path}/`),
    )
  }

  return Object.freeze({
    agencies: Object.freeze(agencies),
    portalHost,
    byHost(host: string): Agency | undefined {
      return byHost.get(canonicalHost(host, publicUrl.protocol))
    },
    match(pathname: string, host?: string): RouteMatch | undefined {
      const hostAgency = host === undefined ? undefined : byHost.get(host.toLowerCase())
      if (hostAgency) {
        const service = serviceFor(hostAgency, pathname)
        return service ? { agency: hostAgency, service, upstreamPath: pathname } : undefined
      }
      for (const agency of agencies) {
        if (pathname !== agency.prefix && !pathname.startsWith(`${agency.prefix}/`)) continue
        const upstreamPath = pathname.slice(agency.prefix.length) || '/'
        const service = serviceFor(agency, upstreamPath)
        return service ? { agency, service, upstreamPath } : undefined
      }
      return undefined
    },
  })
}

function describe(issue: { code: string; message: string; keys?: unknown } | undefined): string {
  if (!issue) return 'is not valid'
  if (issue.code === 'unrecognized_keys' && Array.isArray(issue.keys))
    return `has unknown key(s): ${issue.keys.join(', ')}`
  if (/received undefined/.test(issue.message)) return 'is required'
  const m = issue.message.replace(/^Invalid (input|option): /, '')
  return /^(must|is|has)\b/.test(m) ? m : `is not valid: ${m}`
}

/** Reads and validates the agencies file named by gateway.agenciesFile. */
export function loadAgencies(file: string, defaults: TableDefaults): AgencyTable {
  const abs = path.resolve(file)
  let text: string
  try {
    text = fs.readFileSync(abs, 'utf8')
  } catch (err) {
    throw new ConfigError(
      `gateway.agenciesFile cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${file}`,
    )
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`gateway.agenciesFile is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  return buildAgencyTable(raw, defaults)
}
