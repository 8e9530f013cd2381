/**
 * Why an upload or a document operation was refused. The HTTP layer maps `status` to its
 * own error (413 payload_too_large, 415 unsupported_media_type, 400 bad_request…) and the
 * code to a message in plain Indonesian; the code never holds file contents or names.
 */
export const documentErrorCodes = {
  /** The type id is not in `documents.types`. */
  unknown_type: 400,
  /** No bytes at all. */
  empty: 400,
  /** The magic bytes are not PDF, JPEG or PNG (HTML, SVG, XML, scripts, anything else). */
  unsupported_type: 415,
  /** A known format that this document type does not allow (e.g. a PDF as pas-foto). */
  type_not_allowed: 415,
  /** The client's own Content-Type names markup or script (HTML, SVG, XML, JavaScript). */
  declared_type_refused: 415,
  /** Over the type's limit (or documents.maxUploadBytes); reading stopped there. */
  too_large: 413,
  /** Another format hidden in the file: markup or a PDF in its first bytes, data after its end, an appended archive. */
  polyglot: 400,
  /** Not a well-formed file of its format (truncated, broken structure). */
  malformed: 400,
  /** Invalid input to a vault function (grant fields, ids). */
  invalid_input: 400,
  /** Identical bytes were being purged at that moment; the upload may simply be sent again. */
  retry: 503,
} as const

export type DocumentErrorCode = keyof typeof documentErrorCodes

export class DocumentError extends Error {
  readonly code: DocumentErrorCode
  readonly status: number
  constructor(code: DocumentErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? code, options)
    this.name = 'DocumentError'
    this.code = code
    this.status = documentErrorCodes[code]
  }
}

export function isDocumentError(err: unknown): err is DocumentError {
  return err instanceof DocumentError
}
