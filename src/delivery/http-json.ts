import { DeliveryError } from './senders.ts'

export interface JsonAnswer {
  readonly status: number
  readonly body: unknown
}

/**
 * POSTs a JSON body and reads a JSON answer, within `timeoutMs`. A network failure or a
 * timeout is a transient DeliveryError; the status is left to the caller.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  what: string,
): Promise<JsonAnswer> {
  let res: Response
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } }
    const why =
      e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.name ?? 'network error')
    throw new DeliveryError(`${what}: ${why}`, { permanent: false, cause: err })
  }
  const text = await res.text().catch(() => '')
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: res.status, body: parsed }
}

/** 4xx means the request itself was refused, except 408 and 429 (RFC 9110 sec. 15.5.9, RFC 6585 sec. 4). */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429
}

/** The value at a dotted path of a JSON answer, as a string. */
export function pick(body: unknown, dotted: string): string | undefined {
  let v: unknown = body
  for (const key of dotted.split('.')) {
    if (v === null || typeof v !== 'object') return undefined
    v = Array.isArray(v) && /^[0-9]+$/.test(key) ? v[Number(key)] : (v as Record<string, unknown>)[key]
  }
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined
}
