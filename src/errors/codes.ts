/**
 * The registry of error codes. Every code is documented in docs/errors.md; a test
 * checks that the two agree. Codes are stable: clients and agencies may match on them.
 */
export const errorCodes = {
  // Generic request errors
  bad_request: { status: 400, message: 'The request is not valid.' },
  validation_failed: { status: 400, message: 'One or more fields are not valid.' },
  unauthorized: { status: 401, message: 'Sign-in is required.' },
  forbidden: { status: 403, message: 'You are not allowed to do this.' },
  insufficient_identity: {
    status: 403,
    message: "This service needs the citizen's identity to have been checked further (minIdentity).",
  },
  not_found: { status: 404, message: 'Not found.' },
  gone: { status: 410, message: 'This is no longer available.' },
  method_not_allowed: { status: 405, message: 'Method not allowed.' },
  misdirected_request: { status: 421, message: 'This server does not serve that host.' },
  request_timeout: { status: 408, message: 'The request was not received in time.' },
  conflict: { status: 409, message: 'The request conflicts with the current state.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The content type is not supported.' },
  too_many_requests: { status: 429, message: 'Too many requests. Try again later.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  // Server-side conditions
  internal: { status: 500, message: 'Internal server error.' },
  database_unavailable: { status: 503, message: 'The database is not reachable.' },
  not_ready: { status: 503, message: 'The service is not ready.' },
  upstream_unavailable: { status: 502, message: 'The agency service is not reachable.' },
  upstream_timeout: { status: 504, message: 'The agency service did not answer in time.' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof errorCodes
