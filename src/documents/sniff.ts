import { Transform, type TransformCallback } from 'node:stream'
import { DocumentError } from './errors.ts'
import type { DocumentFormat } from './types.ts'

/**
 * What an uploaded file is, decided from its bytes and never from its name or the
 * client's Content-Type (docs/security.md line 25; OWASP File Upload Cheat Sheet, "File
 * Signature Validation"). The check streams: nothing is held but a few kilobytes.
 *
 *  - Format from the magic number at offset 0: PDF `%PDF-`, JPEG `FF D8 FF`, PNG
 *    `89 50 4E 47 0D 0A 1A 0A`. Anything else (HTML, SVG, XML, scripts, archives,
 *    a byte-order mark or whitespace first) is refused.
 *  - Polyglots that are cheap to see: markup (`<html`, `<script`, `<svg`, `<!doctype`,
 *    `<?php`, `<iframe`) or, in an image, `%PDF-` in the first 8 KiB (browsers sniff the
 *    first 512 bytes, PDF readers search the first 1024); `%PDF-` anywhere in an image;
 *    data after a PNG's IEND chunk or after a JPEG's EOI marker (walked structurally, so a
 *    fake end marker appended after the payload does not fool it); a ZIP end-of-central-
 *    directory record (how JAR/ZIP readers find an archive) in the last 64 KiB.
 *  - Structure: a PNG must be a chain of well-formed chunks from IHDR to IEND; a JPEG a
 *    chain of segments from SOI to EOI; a PDF must have `%%EOF` in its last 1024 bytes
 *    (where PDF readers look for it).
 *  - Size: refused as soon as the limit is crossed; reading stops there.
 *
 * A JPEG may be followed by further complete JPEGs: that is how cameras store
 * Multi-Picture Format images (CIPA DC-007) and how Android's Ultra HDR photos store their
 * gain map, so a phone photo of a KTP is not refused for it. Anything else after EOI is.
 */

export const HEAD_SCAN_BYTES = 8 * 1024
const SIGNATURE_BYTES = 8
/** ZIP readers look for the end-of-central-directory record within the last 64 KiB + 22 bytes. */
const TAIL_BYTES = 65_536 + 22
const PDF_EOF_WINDOW = 1024
const MAX_JPEG_IMAGES = 16

const PDF_MAGIC = Buffer.from('%PDF-', 'latin1')
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const PDF_EOF = Buffer.from('%%EOF', 'latin1')
// End of central directory, with "number of this disk" and "disk where the central
// directory starts" both 0 (every archive not split over floppies): eight fixed bytes make
// a false match in compressed image data practically impossible.
const ZIP_EOCD = Buffer.from([0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00])
const MARKUP = ['<html', '<script', '<svg', '<!doctype', '<?php', '<iframe']

/**
 * The format of `head` (the first bytes of a file), or undefined when it is none we accept.
 * Kept by hand rather than `file-type` (issue 11 asked): we accept three formats whose
 * signatures are the eight bytes below, the streaming inspector needs the answer
 * synchronously on its first chunk (file-type's detection is async and wants up to 4 KiB),
 * and the structure and polyglot walkers, the real guard, would stay ours either way.
 */
export function sniffFormat(head: Uint8Array): DocumentFormat | undefined {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength)
  if (b.length >= PDF_MAGIC.length && b.subarray(0, PDF_MAGIC.length).equals(PDF_MAGIC)) return 'pdf'
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg'
  if (b.length >= PNG_MAGIC.length && b.subarray(0, PNG_MAGIC.length).equals(PNG_MAGIC)) return 'png'
  return undefined
}

interface Walker {
  feed(b: Buffer): void
  end(): void
}

/**
 * PNG (ISO/IEC 15948, §5.3): signature, then chunks of length (4, big-endian, < 2^31),
 * type (4 ASCII letters), data, CRC (4). The first chunk is IHDR (13 bytes), the last IEND
 * (0 bytes); nothing may follow IEND.
 */
class PngWalker implements Walker {
  #sig = 0
  #state: 'sig' | 'header' | 'data' | 'end' = 'sig'
  #header = Buffer.alloc(8)
  #headerFill = 0
  #skip = 0
  #chunks = 0
  #lastChunk = false

  feed(b: Buffer): void {
    let i = 0
    while (i < b.length) {
      switch (this.#state) {
        case 'sig': {
          const n = Math.min(PNG_MAGIC.length - this.#sig, b.length - i)
          i += n
          this.#sig += n
          if (this.#sig === PNG_MAGIC.length) this.#state = 'header'
          break
        }
        case 'header': {
          const n = Math.min(8 - this.#headerFill, b.length - i)
          b.copy(this.#header, this.#headerFill, i, i + n)
          this.#headerFill += n
          i += n
          if (this.#headerFill === 8) this.#onHeader()
          break
        }
        case 'data': {
          const n = Math.min(this.#skip, b.length - i)
          i += n
          this.#skip -= n
          if (this.#skip === 0) this.#state = this.#lastChunk ? 'end' : 'header'
          break
        }
        case 'end':
          throw new DocumentError('polyglot', 'data after the PNG end chunk (IEND)')
      }
    }
  }

  #onHeader(): void {
    this.#headerFill = 0
    const length = this.#header.readUInt32BE(0)
    const type = this.#header.toString('latin1', 4, 8)
    if (length > 0x7fffffff) throw new DocumentError('malformed', 'PNG chunk length out of range')
    if (!/^[A-Za-z]{4}$/.test(type)) throw new DocumentError('malformed', 'PNG chunk type is not four letters')
    if (this.#chunks === 0 && (type !== 'IHDR' || length !== 13))
      throw new DocumentError('malformed', 'PNG does not start with IHDR')
    this.#chunks++
    if (type === 'IEND') {
      if (length !== 0) throw new DocumentError('malformed', 'PNG IEND chunk is not empty')
      this.#lastChunk = true
    }
    this.#skip = length + 4 // data, then CRC
    this.#state = 'data'
  }

  end(): void {
    if (this.#state !== 'end') throw new DocumentError('malformed', 'PNG ends before its IEND chunk')
  }
}

/**
 * JPEG (ITU-T T.81, Annex B): SOI, then marker segments (FF xx, a 2-byte length that
 * counts itself, the payload); after SOS, entropy-coded data in which FF is followed by
 * 00 (stuffing), D0–D7 (restart) or the next marker; EOI ends the image. Fill bytes (FF)
 * before a marker are allowed (B.1.1.2).
 */
class JpegWalker implements Walker {
  #state: 'soi0' | 'soi1' | 'marker' | 'code' | 'len1' | 'len2' | 'skip' | 'entropy' | 'entropyFF' | 'end' = 'soi0'
  #code = 0
  #len = 0
  #skip = 0
  #images = 0

  feed(b: Buffer): void {
    let i = 0
    while (i < b.length) {
      switch (this.#state) {
        case 'soi0':
          if (b[i++] !== 0xff) throw new DocumentError('malformed', 'JPEG does not start with SOI')
          this.#state = 'soi1'
          break
        case 'soi1':
          if (b[i++] !== 0xd8) throw new DocumentError('malformed', 'JPEG does not start with SOI')
          if (++this.#images > MAX_JPEG_IMAGES) throw new DocumentError('polyglot', 'too many images in one JPEG file')
          this.#state = 'marker'
          break
        case 'marker':
          if (b[i++] !== 0xff) throw new DocumentError('malformed', 'JPEG segment does not start with a marker')
          this.#state = 'code'
          break
        case 'code': {
          const c = b[i++] as number
          if (c !== 0xff) this.#onMarker(c)
          break
        }
        case 'len1':
          this.#len = (b[i++] as number) << 8
          this.#state = 'len2'
          break
        case 'len2':
          this.#len |= b[i++] as number
          if (this.#len < 2) throw new DocumentError('malformed', 'JPEG segment length out of range')
          this.#skip = this.#len - 2
          this.#state = this.#skip > 0 ? 'skip' : this.#afterSegment()
          break
        case 'skip': {
          const n = Math.min(this.#skip, b.length - i)
          i += n
          this.#skip -= n
          if (this.#skip === 0) this.#state = this.#afterSegment()
          break
        }
        case 'entropy': {
          const j = b.indexOf(0xff, i)
          if (j < 0) i = b.length
          else {
            i = j + 1
            this.#state = 'entropyFF'
          }
          break
        }
        case 'entropyFF': {
          const c = b[i++] as number
          if (c === 0x00 || (c >= 0xd0 && c <= 0xd7)) this.#state = 'entropy'
          else if (c !== 0xff) this.#onMarker(c)
          break
        }
        case 'end':
          // Only another complete JPEG may follow (Multi-Picture Format, Ultra HDR gain map).
          if (b[i++] !== 0xff) throw new DocumentError('polyglot', 'data after the JPEG end marker (EOI)')
          this.#state = 'soi1'
          break
      }
    }
  }

  #afterSegment(): 'entropy' | 'marker' {
    return this.#code === 0xda ? 'entropy' : 'marker'
  }

  #onMarker(c: number): void {
    if (c === 0xd9) this.#state = 'end'
    else if (c === 0xd8 || c === 0x00) throw new DocumentError('malformed', 'unexpected JPEG marker')
    else if ((c >= 0xd0 && c <= 0xd7) || c === 0x01)
      this.#state = 'marker' // standalone markers
    else {
      this.#code = c
      this.#state = 'len1'
    }
  }

  end(): void {
    if (this.#state !== 'end') throw new DocumentError('malformed', 'JPEG ends before its EOI marker')
  }
}

/** PDF: structure is checked at the end (tail), see DocumentInspector#finish. */
class PdfWalker implements Walker {
  feed(): void {}
  end(): void {}
}

export interface InspectorOptions {
  /** Formats this document type allows. */
  readonly formats: readonly DocumentFormat[]
  /** Most bytes allowed; one more and the stream fails with `too_large`. */
  readonly maxBytes: number
}

/**
 * A pass-through stream that refuses, with a DocumentError, any file that is not an
 * allowed format or is over the limit. Put it between the upload and the storage: an
 * error destroys the pipeline, so the storage keeps nothing. `format` and `size` are set
 * once the stream has finished without error.
 */
export class DocumentInspector extends Transform {
  readonly #formats: readonly DocumentFormat[]
  readonly #maxBytes: number
  #size = 0
  #format: DocumentFormat | undefined
  #walker: Walker | undefined
  #pending: Buffer[] = []
  #pendingBytes = 0
  #head: Buffer[] = []
  #headBytes = 0
  #headScanned = false
  #carry = Buffer.alloc(0)
  #tail = Buffer.alloc(0)
  #done = false

  constructor(options: InspectorOptions) {
    super()
    this.#formats = options.formats
    this.#maxBytes = options.maxBytes
  }

  /** The detected format, once the stream has finished successfully. */
  get format(): DocumentFormat | undefined {
    return this.#done ? this.#format : undefined
  }

  get size(): number {
    return this.#size
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      this.#size += buf.length
      if (this.#size > this.#maxBytes) throw new DocumentError('too_large')
      if (this.#format === undefined) {
        this.#pending.push(buf)
        this.#pendingBytes += buf.length
        if (this.#pendingBytes < SIGNATURE_BYTES) {
          cb()
          return
        }
        const first = Buffer.concat(this.#pending)
        this.#pending = []
        this.#start(first)
        this.#inspect(first)
        cb(null, first)
        return
      }
      this.#inspect(buf)
      cb(null, buf)
    } catch (err) {
      cb(err as Error)
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.#size === 0) throw new DocumentError('empty')
      if (this.#format === undefined) {
        // Fewer than 8 bytes in all: too short for any accepted format.
        const first = Buffer.concat(this.#pending)
        this.#pending = []
        if (sniffFormat(first) === undefined) throw new DocumentError('unsupported_type')
        throw new DocumentError('malformed', 'file too short')
      }
      this.#scanHead()
      ;(this.#walker as Walker).end()
      this.#finish()
      this.#done = true
      cb()
    } catch (err) {
      cb(err as Error)
    }
  }

  #start(first: Buffer): void {
    const format = sniffFormat(first)
    if (format === undefined) throw new DocumentError('unsupported_type')
    if (!this.#formats.includes(format)) throw new DocumentError('type_not_allowed')
    this.#format = format
    this.#walker = format === 'png' ? new PngWalker() : format === 'jpeg' ? new JpegWalker() : new PdfWalker()
  }

  #inspect(buf: Buffer): void {
    if (this.#headBytes < HEAD_SCAN_BYTES) {
      const part = buf.subarray(0, HEAD_SCAN_BYTES - this.#headBytes)
      this.#head.push(Buffer.from(part))
      this.#headBytes += part.length
      if (this.#headBytes >= HEAD_SCAN_BYTES) this.#scanHead()
    }
    if (this.#format !== 'pdf') {
      // `%PDF-` anywhere in an image, also across chunk boundaries.
      const seam = Buffer.concat([this.#carry, buf.subarray(0, PDF_MAGIC.length - 1)])
      if (seam.includes(PDF_MAGIC) || buf.includes(PDF_MAGIC))
        throw new DocumentError('polyglot', 'a PDF inside an image')
      this.#carry = Buffer.from(
        buf.length >= PDF_MAGIC.length - 1
          ? buf.subarray(buf.length - (PDF_MAGIC.length - 1))
          : Buffer.concat([this.#carry, buf]).subarray(-(PDF_MAGIC.length - 1)),
      )
    }
    ;(this.#walker as Walker).feed(buf)
    // Keep the last TAIL_BYTES (copied, so no large chunk stays referenced).
    this.#tail =
      buf.length >= TAIL_BYTES
        ? Buffer.from(buf.subarray(buf.length - TAIL_BYTES))
        : Buffer.from(Buffer.concat([this.#tail, buf]).subarray(-TAIL_BYTES))
  }

  #scanHead(): void {
    if (this.#headScanned) return
    this.#headScanned = true
    const text = Buffer.concat(this.#head).toString('latin1').toLowerCase()
    this.#head = []
    for (const m of MARKUP) if (text.includes(m)) throw new DocumentError('polyglot', 'markup in the first bytes')
    if (this.#format !== 'pdf' && text.includes('%pdf-')) throw new DocumentError('polyglot', 'a PDF inside an image')
  }

  #finish(): void {
    if (this.#tail.includes(ZIP_EOCD)) throw new DocumentError('polyglot', 'an archive at the end of the file')
    if (this.#format === 'pdf' && !this.#tail.subarray(-PDF_EOF_WINDOW).includes(PDF_EOF)) {
      throw new DocumentError('malformed', 'PDF without %%EOF at its end')
    }
  }
}

export function createInspector(options: InspectorOptions): DocumentInspector {
  return new DocumentInspector(options)
}

// Media types a client may name for markup or script; refused even before the bytes are
// read (the bytes are checked anyway).
const MARKUP_MEDIA_TYPE =
  /^(text\/(html|xml|javascript|ecmascript|x-[a-z0-9.+-]*script)|application\/([a-z0-9.+-]*\+)?xml|application\/(xhtml\+xml|javascript|ecmascript|x-httpd-php|x-php)|image\/svg\+xml)\b/i

/** Whether a client's declared Content-Type names markup or script. */
export function isMarkupMediaType(declared: string): boolean {
  return MARKUP_MEDIA_TYPE.test(declared.trim())
}
