/**
 * Request-target checks for proxied routes (docs/security.md line 16).
 *
 * The rule is "refuse, never repair": a path is either forwarded in its one normal form
 * (minus the agency prefix), or refused with 400. Nothing is collapsed or "cleaned up"
 * silently. The policy decides on the decoded segments, and the upstream receives those
 * very segments, each percent-encoded in one canonical way (normalSegment): what the
 * policy matched is what the agency receives. Forwarding the client's raw bytes instead
 * let `/%70ub` count as the public `/pub` for the policy while the agency's router,
 * which may not decode unreserved escapes (RFC 3986 §6.2.2.2 says it should, many do
 * not), served its own `/%70ub` route (issue 10 §5).
 *
 * A path is accepted only when every segment, percent-decoded once, is valid UTF-8 and
 * contains no `/`, `\`, `;`, `%`, control character or slash look-alike, and is not a
 * dot segment (`.`, `..`, or dots and spaces only) even after NFKC normalisation. Since
 * a decoded segment never contains `%`, decoding it again changes nothing: however many
 * times the upstream (or a framework in front of it) decodes the path, it sees the same
 * segments, none of which can climb out of the agency's base path. That is the proof
 * that an accepted path stays inside the prefix.
 *
 * References: RFC 3986 §2.1, §3.3, §5.2.4 (dot segments); RFC 9112 §3.2 (request-target
 * forms); Unicode TR15 (NFKC); the CVEs of the "/..;/" (Tomcat), "%c0%ae" (overlong
 * UTF-8), "..%5c" (IIS) and "%252e" (double decoding) families.
 */

/** A request-target that may be forwarded. */
export interface ProxyTarget {
  /** The path with each segment decoded once: used for route matching only. */
  readonly decodedPath: string
  /** The path's segments as the client sent them (validated), without the leading empty one. */
  readonly rawSegments: readonly string[]
  /** The same segments decoded once: what the policy decides on. */
  readonly decodedSegments: readonly string[]
  /** The decoded segments re-encoded canonically (normalSegment): what the upstream receives. */
  readonly normalSegments: readonly string[]
  /** The raw query including its "?", or "": forwarded byte for byte. */
  readonly query: string
}

export type TargetCheck = { ok: true; target: ProxyTarget } | { ok: false; reason: string }

/**
 * Characters a path may carry raw: RFC 3986 pchar (unreserved, sub-delims except ";",
 * ":" and "@"), "/" and "%" (for escapes, checked below), plus "[", "]", "|" and "^",
 * which browsers send unescaped (WHATWG URL path percent-encode set). Everything else
 * (space, quotes, "<", ">", "{", "}", "`", "\", ";", "#", non-ASCII) is refused.
 */
const rawPathChars = /^[A-Za-z0-9\-._~!$&'()*+,=:@/%[\]|^]*$/
const percentEscape = /%([0-9A-Fa-f]{2})/g
const loneOrBadPercent = /%(?![0-9A-Fa-f]{2})/

/** Code points some servers map to "/" or "\" (best-fit mappings, NFKC compatibility forms). */
const slashLookalikes = /[\u2044\u2215\u2216\u29F5\u29F8\u29F9\uFE68\uFF0F\uFF3C]/
/** C0 controls, DEL and C1 controls. */
const controls = /[\u0000-\u001F\u007F-\u009F]/
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function refuse(reason: string): TargetCheck {
  return { ok: false, reason }
}

/** Decodes one raw segment: %XX escapes into bytes, the bytes as strict UTF-8 (no overlong forms). */
function decodeSegment(raw: string): string | undefined {
  if (loneOrBadPercent.test(raw)) return undefined
  if (!raw.includes('%')) return raw
  const bytes: number[] = []
  let last = 0
  for (const m of raw.matchAll(percentEscape)) {
    for (let i = last; i < m.index; i++) bytes.push(raw.charCodeAt(i))
    bytes.push(Number.parseInt(m[1] as string, 16))
    last = m.index + 3
  }
  for (let i = last; i < raw.length; i++) bytes.push(raw.charCodeAt(i))
  try {
    return utf8.decode(new Uint8Array(bytes))
  } catch {
    return undefined
  }
}

/** Why a decoded segment may not be forwarded, or undefined when it may. */
function segmentProblem(seg: string): string | undefined {
  if (controls.test(seg)) return 'control character'
  if (seg.includes('/') || seg.includes('\\')) return 'encoded slash or backslash'
  if (seg.includes(';')) return 'path parameter (;)'
  if (seg.includes('%')) return 'percent sign after decoding (double encoding)'
  if (slashLookalikes.test(seg)) return 'slash look-alike character'
  // NTFS reads "IZIN~1" as the 8.3 short name of some longer name: a spelling a Windows
  // server maps onto a path that the policy cannot know (attacker review of issue 10).
  // (Colons are ordinary path characters, RFC 3986 §3.3; caseFolded handles streams.)
  if (/~\d+$/.test(seg)) return '8.3 short name (~N)'
  for (const form of [seg, seg.normalize('NFKC')]) {
    if (form.includes('/') || form.includes('\\')) return 'slash after Unicode normalisation'
    // ".", "..", "...", ". ." and the like: dot segments on some server or other.
    if (/^[.\s]+$/.test(form) && form.includes('.')) return 'dot segment'
    // "..x" and "x..": read as traversal by some decoders (and by @fastify/reply-from).
    if (form.startsWith('..') || form.endsWith('..')) return 'dot-dot at a segment edge'
    // Windows drops trailing dots and spaces ("izin." is "izin"), which would dodge the policy.
    if (/[.\s]$/.test(form)) return 'trailing dot or space'
  }
  return undefined
}

/**
 * Checks the request-target of a proxied request. Only the origin-form ("/path?query")
 * is accepted: an absolute-form target ("http://host/path") or "*" is refused, so no part
 * of the request can name a host (the upstream is fixed per agency).
 */
export function checkTarget(target: string): TargetCheck {
  if (!target.startsWith('/') || target.startsWith('//')) return refuse('not an origin-form path')
  if (target.includes('#')) return refuse('fragment in the request-target')
  const q = target.indexOf('?')
  const path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q)
  if (!rawPathChars.test(path)) return refuse('character not allowed in a path')
  const rawSegments = path.slice(1).split('/')
  const decodedSegments: string[] = []
  for (let i = 0; i < rawSegments.length; i++) {
    const raw = rawSegments[i] as string
    // An empty segment is allowed only as the last one (a trailing slash): "//" is refused.
    if (raw === '') {
      if (i !== rawSegments.length - 1) return refuse('empty segment (//)')
      decodedSegments.push('')
      continue
    }
    const decoded = decodeSegment(raw)
    if (decoded === undefined) return refuse('invalid percent-encoding or UTF-8')
    const problem = segmentProblem(decoded)
    if (problem !== undefined) return refuse(problem)
    decodedSegments.push(decoded)
  }
  return {
    ok: true,
    target: {
      decodedPath: `/${decodedSegments.join('/')}`,
      rawSegments,
      decodedSegments,
      normalSegments: decodedSegments.map(normalSegment),
      query,
    },
  }
}

/**
 * Characters a forwarded segment carries raw: RFC 3986 unreserved, the sub-delims
 * (";" never reaches here) and ":" "@" — pchar (§3.3). Everything else is escaped.
 */
const keptRaw = /[A-Za-z0-9\-._~!$&'()*+,=:@]/

/**
 * One decoded segment in its canonical form: every character outside pchar as upper-case
 * %XX escapes of its UTF-8 bytes (RFC 3986 §2.1, §6.2.2.1), every pchar raw (§6.2.2.2).
 * Two spellings of one decoded segment ("%70ub", "pub", "%70%75%62") give one form.
 */
export function normalSegment(decoded: string): string {
  let out = ''
  for (const ch of decoded) {
    if (keptRaw.test(ch)) {
      out += ch
      continue
    }
    for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/**
 * The path the upstream receives: the agency's base path (ending in "/") followed by the
 * decoded segments below the agency prefix in their canonical form — the same segments
 * the policy decided on. `prefixSegments` is the number of segments in the prefix
 * ("/layanan/dinas-contoh" has 2; 0 on the agency's own host).
 */
export function upstreamPathFor(basePath: string, target: ProxyTarget, prefixSegments: number): string {
  const base = basePath.endsWith('/') ? basePath : `${basePath}/`
  return base + target.normalSegments.slice(prefixSegments).join('/')
}

/**
 * The path as a case-insensitive server would see it, for policy only: a service that is
 * protected at "/izin" must also be protected at "/IZIN" when the agency's server does
 * not care about case (IIS, many Windows and macOS deployments).
 */
export function caseFolded(decodedPath: string): string {
  // Through upper case and back, after NFKC: case-insensitive comparisons fold "ı" and
  // "ſ" (upper case I and S) and full-width letters onto ASCII, so "/ızın" and
  // "/ｉｚｉｎ" must carry the requirement of "/izin" (Java's equalsIgnoreCase, IIS).
  // NTFS reads "izin::$DATA" and "izin:x" as streams of the file "izin": for policy, a
  // segment ends at its first colon.
  return decodedPath
    .normalize('NFKC')
    .toUpperCase()
    .toLowerCase()
    .split('/')
    .map((seg) => {
      const colon = seg.indexOf(':')
      return colon < 0 ? seg : seg.slice(0, colon)
    })
    .join('/')
}
