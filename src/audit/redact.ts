// Masking of personal identifiers for logs, audit entries and screens that only need to
// tell records apart. A leaf module: audit, accounts and the pages all use it, and it
// imports nothing of the project (docs/architecture.md, dependency direction).

// The same folding as the NIK parser (src/accounts/nik.ts normalizeNik): NFKC turns
// full-width and other compatibility digits into ASCII, and people group a NIK with
// spaces, dots or dashes. Kept here rather than imported so that the audit trail does not
// depend on the accounts module.
const SEPARATORS = /[ .-]/g
const SIXTEEN_DIGITS = /^[0-9]{16}$/

/**
 * A masked NIK: "3201********0001". It keeps the province and regency (shared by up to
 * millions of people) and the serial, and hides the district and the birth date, which
 * together with the serial would single the person out. Anything that is not a
 * well-formed 16-digit NIK comes back as sixteen asterisks: the input might be something
 * else entirely (a password typed into the wrong field), so none of it is echoed.
 */
export function maskNik(nik: string): string {
  const compact = typeof nik === 'string' && nik.length <= 64 ? nik.normalize('NFKC').replace(SEPARATORS, '') : ''
  if (!SIXTEEN_DIGITS.test(compact)) return '*'.repeat(16)
  return `${compact.slice(0, 4)}${'*'.repeat(8)}${compact.slice(12)}`
}

// A NIK as people write it: 16 digits in a row (also inside a word: "nik3201…"), or
// grouped 4-4-4-4 or 6-6-4 with one kind of separator ("3201 0112 0190 0001",
// "320101-120190-0001"), and never part of a longer run of digits. Looser patterns would
// also mask ids such as UUIDs made of digits.
const NIK_LIKE =
  /(?<![0-9])(?:[0-9]{16}|[0-9]{4}([ .-])[0-9]{4}\1[0-9]{4}\1[0-9]{4}|[0-9]{6}([ .-])[0-9]{6}\2[0-9]{4})(?![0-9])/g

/** `s` with every NIK-looking run of digits masked. */
export function maskNiksIn(s: string): string {
  return s.replace(NIK_LIKE, (m) => maskNik(m))
}
