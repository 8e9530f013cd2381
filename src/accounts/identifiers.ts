// What a citizen may type in the sign-in "username" box (autocomplete="username"): their
// NIK, their email address or their Indonesian mobile number. Each is normalised to the
// one form that is stored, so that "0812-3456-7890", "+62 812 3456 7890" and
// "6281234567890" find the same account.

import { domainToASCII } from 'node:url'
import { parseNik } from './nik.ts'

export type ClassifiedIdentifier =
  | { readonly kind: 'nik'; readonly value: string }
  | { readonly kind: 'email'; readonly value: string }
  | { readonly kind: 'phone'; readonly value: string }
  | { readonly kind: 'invalid' }

// RFC 5321 sec. 4.5.3.1: 64 octets of local part, 254 in all (the 256 of a path minus <>).
const MAX_EMAIL_LENGTH = 254
const MAX_LOCAL_LENGTH = 64
// Longer input is none of the three; refusing it first keeps the work bounded.
const MAX_IDENTIFIER_LENGTH = 320

// The RFC 5322 dot-atom: what real addresses use. Quoted local parts ("a b"@x) are legal
// but so rare, and so often abused, that they are refused.
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
const TOP_LEVEL = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/

/**
 * Trims, applies NFKC and lowercases an email address and checks it is sane: one `@`, a
 * dot-atom local part, and a domain name with at least two labels (internationalised
 * domains are stored in their ASCII form). Returns undefined when it is not an address.
 * Lowercasing the local part is not RFC-exact, but every mail provider a citizen uses
 * treats it as case-insensitive, and one account per address needs one spelling.
 */
export function normalizeEmail(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_IDENTIFIER_LENGTH) return undefined
  const email = input.normalize('NFKC').trim().toLowerCase()
  if (email.length > MAX_EMAIL_LENGTH) return undefined
  const at = email.lastIndexOf('@')
  if (at <= 0 || at === email.length - 1) return undefined
  const local = email.slice(0, at)
  if (local.length > MAX_LOCAL_LENGTH || !LOCAL_PART.test(local)) return undefined
  // domainToASCII gives '' for something that is not a domain name; it also lowercases.
  const domain = domainToASCII(email.slice(at + 1))
  if (domain === '' || domain.length > 253) return undefined
  const labels = domain.split('.')
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l))) return undefined
  if (!TOP_LEVEL.test(labels[labels.length - 1] as string)) return undefined
  const normalized = `${local}@${domain}`
  return normalized.length > MAX_EMAIL_LENGTH ? undefined : normalized
}

// Separators people type or paste in a phone number: spaces (incl. no-break), dashes,
// dots, brackets. NFKC first turns full-width digits and separators into ASCII ones.
const PHONE_SEPARATORS = /[\s().-]/g

/**
 * Normalises an Indonesian mobile number to E.164 (`+628…`). Accepts `08…`, `628…` and
 * `+628…`, with spaces, dashes, dots or brackets. Written with the leading 0, an
 * Indonesian mobile number has 10 to 13 digits (08 + 8 to 11 more), so the national
 * significant number (after the 0 or 62) is 8 followed by 8 to 11 digits. Returns
 * undefined for anything else (including landlines, which cannot receive SMS codes).
 */
export function normalizePhone(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > 64) return undefined
  const compact = input.normalize('NFKC').trim().replace(PHONE_SEPARATORS, '')
  let national: string
  if (compact.startsWith('+62')) national = compact.slice(3)
  else if (compact.startsWith('62')) national = compact.slice(2)
  else if (compact.startsWith('0')) national = compact.slice(1)
  else return undefined
  if (!/^8[0-9]{8,11}$/.test(national)) return undefined
  return `+62${national}`
}

/**
 * A stored mobile number (E.164, `+628…`) as every page, message and the CLI show it:
 * "0812-3456-7890", the way people write it (the 0, then groups of four). Anything that is
 * not an Indonesian mobile number is shown as it is.
 */
export function formatPhone(e164: string): string {
  if (!/^\+628[0-9]{8,11}$/.test(e164)) return e164
  const national = `0${e164.slice(3)}`
  return `${national.slice(0, 4)}-${national.slice(4, 8)}-${national.slice(8)}`
}

/**
 * A contact shown masked to a person (a code page, a notice, the CLI): "b***@contoh.id",
 * and a mobile number in the same format as `formatPhone` with all but its first four and
 * last three digits hidden: "0812-****-*890". (Logs keep their own E.164 mask, outbox.ts.)
 */
export function maskContact(recipient: string): string {
  const at = recipient.lastIndexOf('@')
  if (at > 0) return `${recipient.slice(0, 1)}***${recipient.slice(at)}`
  const shown = formatPhone(recipient)
  if (shown === recipient) return '***'
  const digits = shown.replace(/-/g, '').length
  let seen = 0
  return shown.replace(/[0-9]/g, (d) => {
    seen++
    return seen <= 4 || seen > digits - 3 ? d : '*'
  })
}

/**
 * Tells which of the three the input is, and gives its normalised form. The three cannot
 * be confused: an email has an `@`; a NIK has exactly 16 digits; a mobile number has at
 * most 13 digits with its 0, or 14 with 62. A 16-digit input that fails the NIK structure
 * check is invalid rather than guessed at.
 */
export function classifyIdentifier(input: string): ClassifiedIdentifier {
  if (typeof input !== 'string' || input.length > MAX_IDENTIFIER_LENGTH) return { kind: 'invalid' }
  if (input.includes('@') || input.includes('＠')) {
    const email = normalizeEmail(input)
    return email === undefined ? { kind: 'invalid' } : { kind: 'email', value: email }
  }
  const phone = normalizePhone(input)
  if (phone !== undefined) return { kind: 'phone', value: phone }
  // parseNik does its own NFKC and separator handling, and refuses invisible characters.
  // Only ordinary spaces and tabs are trimmed: String#trim() would also drop U+FEFF and
  // other invisible characters, which a NIK must refuse (docs/security.md line 12).
  const nik = parseNik(input.replace(/^[ \t]+|[ \t]+$/g, ''))
  if (nik.ok) return { kind: 'nik', value: nik.nik }
  return { kind: 'invalid' }
}
