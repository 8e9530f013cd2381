import { create as createContentDisposition } from 'content-disposition'
import type { DocumentMediaType } from '../db/tables/documents.ts'

/**
 * File names (docs/security.md line 26; OWASP File Upload Cheat Sheet, "Filename
 * Sanitization"). Bytes are stored under a generated key, never under the client's name.
 * The name the client sent is kept only as metadata, percent-encoded, and turned into a
 * display name only when shown or sent in Content-Disposition.
 */

/** The longest original name kept, in code points (longer ones are cut; file systems allow 255). */
export const MAX_ORIGINAL_NAME_CHARS = 255
/** The longest display name, in code points, extension included. */
export const MAX_DISPLAY_NAME_CHARS = 120

const UNRESERVED = /[A-Za-z0-9._~-]/

/**
 * The client's file name as stored: made well-formed (a lone surrogate becomes U+FFFD),
 * cut to 255 code points, then every byte outside RFC 3986 `unreserved` percent-encoded.
 * The result can never be a path, markup or a header break.
 */
export function encodeOriginalName(raw: string): string {
  const chars = Array.from(raw.toWellFormed()).slice(0, MAX_ORIGINAL_NAME_CHARS).join('')
  let out = ''
  for (const byte of Buffer.from(chars, 'utf8')) {
    const ch = String.fromCharCode(byte)
    out += byte < 0x80 && UNRESERVED.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** The stored name back as text (for display after displayFileName, and for the data export). */
export function decodeOriginalName(encoded: string): string {
  try {
    return decodeURIComponent(encoded)
  } catch {
    return ''
  }
}

const EXTENSIONS: Readonly<Record<DocumentMediaType, readonly string[]>> = {
  'application/pdf': ['pdf'],
  'image/jpeg': ['jpg', 'jpeg'],
  'image/png': ['png'],
}

// Controls (C0, DEL, C1), format characters (bidi embeddings and isolates U+202A–U+202E,
// U+2066–U+2069, marks U+200E/U+200F/U+061C, zero-width characters, BOM), line and
// paragraph separators, private use, unassigned code points.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}]/gu
// Reserved in file names on Windows (and '<', '>' and '"' are markup or quoting anyway).
const RESERVED = /[<>:"|?*]/g
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i
const EXTENSION = /\.([A-Za-z][A-Za-z0-9]{0,9})$/

/**
 * A safe name to show and to offer in Content-Disposition: NFKC; invisible and control
 * characters removed (NUL, CR, LF, bidi overrides such as U+202E); only the last path
 * segment kept; `..` and leading or trailing dots and spaces gone; Windows-reserved
 * characters and device names defused; at most 120 code points with the extension kept.
 * With `mediaType`, the extension is made to match the stored type (`a.jpg.php` holding a
 * JPEG becomes `a.jpg.jpg`), so a downloaded file opens as what it is.
 */
export function displayFileName(raw: string, mediaType?: DocumentMediaType): string {
  let s = raw.toWellFormed().normalize('NFKC').replace(INVISIBLE, '')
  // NFKC first: it turns fullwidth solidi (U+FF0F, U+FF3C) into real ones, handled here.
  const segments = s.split(/[/\\]/)
  s = segments[segments.length - 1] ?? ''
  s = s
    .replace(RESERVED, '_')
    .replace(/\s+/gu, ' ')
    .replace(/\.{2,}/g, '.')
    .replace(/^[\s.]+|[\s.]+$/gu, '')

  const m = EXTENSION.exec(s)
  let base = m ? s.slice(0, m.index) : s
  let ext = m ? (m[1] as string) : ''
  if (mediaType !== undefined) {
    const allowed = EXTENSIONS[mediaType]
    // A wrong extension is replaced by the type's; a name without one gets it added.
    if (!allowed.includes(ext.toLowerCase())) ext = allowed[0] as string
  }
  base = base.replace(/[\s.]+$/u, '')
  if (WINDOWS_DEVICE.test(base.split('.')[0] ?? '')) base = `_${base}`
  const room = MAX_DISPLAY_NAME_CHARS - (ext === '' ? 0 : ext.length + 1)
  base = Array.from(base)
    .slice(0, room)
    .join('')
    .replace(/[\s.]+$/u, '')
  if (base === '') base = 'dokumen'
  return ext === '' ? base : `${base}.${ext}`
}

/**
 * The plain `filename` for user agents without RFC 8187: accents removed, every other
 * non-ASCII character and `"`, `\` and `%` replaced by `_` (RFC 6266 appendix D: some
 * agents percent-decode this parameter, so a literal `%00` must not survive).
 */
export function asciiFileName(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^\x20-\x7e]/g, '_')
    .replace(/["\\%]/g, '_')
  return s === '' ? 'dokumen' : s
}

/**
 * `Content-Disposition: attachment` for a download, built by the `content-disposition`
 * package (RFC 6266): `filename` with our ASCII fallback, and `filename*` (RFC 8187, UTF-8)
 * whenever the fallback is not the exact name. Pass a name already made safe by
 * displayFileName.
 */
export function contentDisposition(fileName: string): string {
  return createContentDisposition(fileName, { fallback: asciiFileName(fileName) })
}
