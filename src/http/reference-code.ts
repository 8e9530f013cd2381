import { createHash } from 'node:crypto'

/**
 * The short reference a citizen reads out on the phone for an error page: eight characters
 * of an alphabet without the characters that are mistaken for one another when read or
 * heard (digits 2–9 and the letters but I and O: no 0/O, no 1/I), in two groups, e.g. `K7QM-2XPA`.
 *
 * It is derived from the request id, never stored: the first 40 bits of our own request id
 * (a random UUID, so those bits are random) written in that alphabet. Every request's log
 * lines carry it as `ref` beside the full `reqId` (src/http/app.ts), and because it is the
 * id's own leading bits, `requestIdPrefix()` turns it back into the id's first ten hex
 * digits, to find the request where only the full id was kept (the audit trail, an agency's
 * logs, which get the id as X-Request-Id). 40 bits: two requests share a code about once
 * in a trillion pairs, so within the day a citizen calls about, a code names one request.
 */
export const referenceAlphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ'

const UUID_PREFIX = /^([0-9a-f]{8})-?([0-9a-f]{2})/i

export function referenceCode(requestId: string): string {
  const m = UUID_PREFIX.exec(requestId)
  // An id that is not one of ours (a test's fixed id): 40 bits of its hash instead.
  const hex = m ? `${m[1]}${m[2]}` : createHash('sha256').update(requestId).digest('hex').slice(0, 10)
  let n = BigInt(`0x${hex}`)
  let out = ''
  for (let i = 0; i < 8; i++) {
    out = referenceAlphabet[Number(n & 31n)] + out
    n >>= 5n
  }
  return `${out.slice(0, 4)}-${out.slice(4)}`
}

/**
 * The first ten hex digits of the request id behind a reference code, as `xxxxxxxx-xx`
 * (how they appear in the id), or undefined when the text is not a reference code. Case,
 * spaces and the hyphen do not matter.
 */
export function requestIdPrefix(code: string): string | undefined {
  const compact = code.toUpperCase().replace(/[\s-]/g, '')
  if (!/^[2-9A-HJ-NP-Z]{8}$/.test(compact)) return undefined
  let n = 0n
  for (const c of compact) n = (n << 5n) | BigInt(referenceAlphabet.indexOf(c))
  const hex = n.toString(16).padStart(10, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8)}`
}
