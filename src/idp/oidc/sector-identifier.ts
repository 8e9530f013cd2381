import { ClientError } from './clients.ts'

/**
 * The check OpenID Connect Core §8.1 and Dynamic Client Registration §5 ask of a
 * `sector_identifier_uri`: it is fetched when the client is registered, must answer a
 * JSON array of URIs, and every redirect URI of the client must be in it, or the
 * registration fails. The array proves that the hosts it lists belong to one party, so
 * they may share one sector (and so one pairwise `sub` per citizen).
 *
 * Operators register clients, so the URL is not an attacker's; still the fetch is bounded
 * (time, size, no redirects), since it runs inside `satupintu clients add`/`apply` and at
 * the start of an idp applying a clients file.
 */

export interface SectorFetchOptions {
  /** Whole request, headers and body: default 10 s. */
  timeoutMs?: number
  /** Largest document accepted: default 64 KiB. */
  maxBytes?: number
  /** Tests pass one that trusts their own certificate; by default the global fetch. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>
}

const field = 'sector_identifier_uri'

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const reader = res.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      throw new ClientError(field, `the document is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Fetches a client's sector_identifier_uri and checks that it lists every redirect URI. Throws ClientError. */
export async function verifySectorIdentifier(
  metadata: Record<string, unknown>,
  options: SectorFetchOptions = {},
): Promise<void> {
  const uri = metadata.sector_identifier_uri
  if (typeof uri !== 'string') return
  const redirectUris = Array.isArray(metadata.redirect_uris)
    ? metadata.redirect_uris.filter((u): u is string => typeof u === 'string')
    : []
  let res: Response
  try {
    res = await (options.fetch ?? fetch)(uri, {
      headers: { accept: 'application/json' },
      // The document itself must be at the URL registered (no redirect to another host).
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    })
  } catch (err) {
    throw new ClientError(field, `cannot fetch ${uri}: ${(err as Error).message}`)
  }
  if (res.status !== 200) {
    await res.body?.cancel()
    throw new ClientError(field, `${uri} answered ${res.status}, not 200 with a JSON array of redirect URIs`)
  }
  let body: unknown
  try {
    body = JSON.parse(await readCapped(res, options.maxBytes ?? 64 * 1024))
  } catch (err) {
    if (err instanceof ClientError) throw err
    throw new ClientError(field, `${uri} is not a JSON document: ${(err as Error).message}`)
  }
  if (!Array.isArray(body) || body.some((v) => typeof v !== 'string')) {
    throw new ClientError(field, `${uri} must answer a JSON array of redirect URIs (OpenID Connect Core §8.1)`)
  }
  const listed = new Set(body as string[])
  const missing = redirectUris.filter((u) => !listed.has(u))
  if (missing.length > 0) {
    throw new ClientError(
      field,
      `${uri} does not list every redirect URI of the client (missing: ${missing.join(', ')}); OpenID Connect Registration §5`,
    )
  }
}
