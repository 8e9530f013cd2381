// Password rules for citizens, after NIST SP 800-63B-4 sec. 3.1.1.2 ("Password verifiers")
// and docs/security.md line 13:
//   * at least 8 characters, each Unicode code point counting as one, after NFKC;
//   * at least 64 allowed (we allow 256; longer is refused with its own reason, so that the
//     argon2id input stays bounded and a 10 MB field is refused before any work,
//     docs/security.md line 11);
//   * no composition rules (no "must contain a digit"): 800-63B-4 says they SHALL NOT be
//     imposed;
//   * refused if the whole password, or a trivial derivative of it, is on a blocklist of
//     common passwords or is built from the citizen's own data (NIK, birth date, name,
//     email, phone) or the regency's name.
//
// About "contains": 800-63B-4 says "The entire password SHALL be subject to comparison, not
// substrings or words that might be contained therein", and lists "context-specific words
// ... and derivatives thereof". So a password is not refused merely because the citizen's
// name or the regency's name occurs in it ("Aku cinta Sukamaju sejak kecil" is a fine
// passphrase). It is refused when, after taking out every piece of the citizen's own data,
// what is left would not pass on its own: fewer than 8 characters (spaces and separators
// not counted), or common, or a sequence. "sukamaju2024", "Budi Santoso 1985",
// "nik3201011201900001" and "12-01-1990budi" are all refused this way. The citizen's data
// counts for nothing, but it does not make an otherwise acceptable password unacceptable.

import { createRequire } from 'node:module'
import { normalizeNik } from './nik.ts'

// docs/security.md line 13 sets 8. The final SP 800-63B-4 (August 2025) asks for 15 when the
// password is the only factor and allows 8 only when it is used with a second factor; the
// "password only" level in DESIGN.md is such a single-factor use. Kept at 8 as specified,
// until the project decides.
export const MIN_PASSWORD_LENGTH = 8
export const MAX_PASSWORD_LENGTH = 256
// Bound on the raw input, checked before anything else (NFKC included). A code point takes
// at most two UTF-16 units, and NFKC can merge a few code points into one (a base letter
// and combining marks, or Hangul jamo), so four units per allowed character leaves room for
// any honest input and still keeps the work small.
export const MAX_PASSWORD_INPUT_UNITS = MAX_PASSWORD_LENGTH * 4

export type PasswordError =
  | 'too_short'
  | 'too_long'
  | 'invalid_characters'
  | 'repeated'
  | 'sequence'
  | 'common'
  | 'uses_nik'
  | 'uses_birth_date'
  | 'uses_phone'
  | 'uses_name'
  | 'uses_email'
  | 'uses_regency'

export interface PasswordContext {
  readonly nik?: string | undefined
  // YYYY-MM-DD
  readonly birthDate?: string | undefined
  readonly name?: string | undefined
  readonly email?: string | undefined
  readonly phone?: string | undefined
  // The regency's own name, e.g. "Sukamaju" (or "Kabupaten Sukamaju").
  readonly regencyName?: string | undefined
}

export type PasswordResult = { readonly ok: true } | { readonly ok: false; readonly reason: PasswordError }

// 800-63B-4: the verifier "SHALL provide the reason for rejection" and "SHALL offer guidance
// to the subscriber to assist the user in choosing a strong password".
export const passwordErrorMessages: Record<PasswordError, { id: string; en: string }> = {
  too_short: {
    id: `Kata sandi terlalu pendek. Gunakan minimal ${MIN_PASSWORD_LENGTH} karakter. Beberapa kata yang mudah Anda ingat, dipisah spasi, lebih aman dan lebih mudah diingat.`,
    en: `This password is too short. Use at least ${MIN_PASSWORD_LENGTH} characters. A few words that you will remember, separated by spaces, are safer and easier to remember.`,
  },
  too_long: {
    id: `Kata sandi terlalu panjang. Gunakan paling banyak ${MAX_PASSWORD_LENGTH} karakter.`,
    en: `This password is too long. Use at most ${MAX_PASSWORD_LENGTH} characters.`,
  },
  invalid_characters: {
    id: 'Kata sandi berisi karakter yang tidak dapat dipakai (misalnya karakter kontrol yang tidak terlihat). Ketik ulang kata sandi Anda.',
    en: 'This password contains characters that cannot be used (such as invisible control characters). Please type your password again.',
  },
  repeated: {
    id: 'Kata sandi ini hanya mengulang karakter atau potongan yang sama (misalnya aaaaaaaa atau abababab). Pilih kata sandi yang lebih sulit ditebak.',
    en: 'This password only repeats the same character or piece (such as aaaaaaaa or abababab). Choose one that is harder to guess.',
  },
  sequence: {
    id: 'Kata sandi ini berupa urutan yang mudah ditebak (misalnya 12345678, abcdefgh atau qwertyui). Pilih kata sandi yang lebih sulit ditebak.',
    en: 'This password is an easy-to-guess sequence (such as 12345678, abcdefgh or qwertyui). Choose one that is harder to guess.',
  },
  common: {
    id: 'Kata sandi ini terlalu umum dan mudah ditebak, juga bila ditambah angka, tahun atau simbol di awal atau akhirnya. Coba gabungkan beberapa kata yang tidak saling berhubungan.',
    en: 'This password is too common and easy to guess, even with numbers, a year or symbols added at the start or end. Try a few unrelated words together.',
  },
  uses_nik: {
    id: 'Kata sandi ini dibuat dari NIK Anda. NIK tercantum di KTP dan diketahui banyak orang, jadi jangan dipakai sebagai kata sandi.',
    en: 'This password is made from your NIK. Your NIK is printed on your KTP and known to many people, so do not use it as a password.',
  },
  uses_birth_date: {
    id: 'Kata sandi ini dibuat dari tanggal lahir Anda, yang mudah diketahui orang lain. Pilih kata sandi lain.',
    en: 'This password is made from your date of birth, which others can easily find out. Choose another password.',
  },
  uses_phone: {
    id: 'Kata sandi ini dibuat dari nomor telepon Anda, yang mudah diketahui orang lain. Pilih kata sandi lain.',
    en: 'This password is made from your phone number, which others can easily find out. Choose another password.',
  },
  uses_name: {
    id: 'Kata sandi ini dibuat dari nama Anda, yang mudah ditebak. Pilih kata sandi lain.',
    en: 'This password is made from your name, which is easy to guess. Choose another password.',
  },
  uses_email: {
    id: 'Kata sandi ini dibuat dari alamat email Anda, yang mudah ditebak. Pilih kata sandi lain.',
    en: 'This password is made from your email address, which is easy to guess. Choose another password.',
  },
  uses_regency: {
    id: 'Kata sandi ini dibuat dari nama daerah kita, yang mudah ditebak siapa saja. Pilih kata sandi lain.',
    en: 'This password is made from the name of our regency, which anyone can guess. Choose another password.',
  },
}

// Passwords common in Indonesia that the (mostly English) zxcvbn list lacks or that we
// want regardless of it: religious phrases, patriotic words, cities, football clubs,
// terms of endearment, words for "password", and the service's own name (800-63B-4 names
// "the name of the service" as a context-specific word). Digits, years and symbols added at
// either end are handled by the comparison below, so "indonesia123" and "Sayang2024!" need
// no entries of their own. Lower case, no spaces (comparison removes spaces).
const INDONESIAN_COMMON: readonly string[] = [
  // religious phrases
  'bismillah', 'bismillahirrahmanirrahim', 'alhamdulillah', 'subhanallah', 'insyaallah',
  'inshaallah', 'masyaallah', 'mashaallah', 'astaghfirullah', 'allahuakbar', 'lailahaillallah',
  'assalamualaikum', 'amin', 'aamiin', 'haleluya', 'puji tuhan', 'tuhanyesus', 'yesuskristus',
  'tuhanberkati', 'om swastiastu',
  // country and patriotism
  'indonesia', 'indonesiaraya', 'merdeka', 'merahputih', 'garuda', 'garudaindonesia',
  'pancasila', 'bhinnekatunggalika', 'nusantara', 'nkri', 'nkrihargamati', 'proklamasi',
  'tujuhbelasagustus',
  // places
  'jakarta', 'bandung', 'surabaya', 'semarang', 'yogyakarta', 'jogjakarta', 'jogja', 'yogya',
  'medan', 'makassar', 'palembang', 'malang', 'bali', 'denpasar', 'bogor', 'depok', 'bekasi',
  'tangerang', 'solo', 'surakarta', 'padang', 'pekanbaru', 'balikpapan', 'manado', 'jayapura',
  'ambon', 'kupang', 'lombok', 'aceh', 'papua', 'kalimantan', 'sumatera', 'sulawesi', 'jawa',
  // love and family
  'sayang', 'sayangku', 'sayangkamu', 'akusayangkamu', 'cinta', 'cintaku', 'akucintakamu',
  'cintakamu', 'kekasih', 'kekasihku', 'pacarku', 'suamiku', 'istriku', 'anakku', 'mamaku',
  'mamah', 'mama', 'papa', 'papah', 'mamapapa', 'ibu', 'ibuku', 'bapak', 'bapakku', 'ayah',
  'ayahku', 'bunda', 'bundaku', 'keluarga', 'keluargaku', 'sahabat', 'sahabatku', 'selamanya',
  'cintasejati', 'rindu', 'bahagia', 'ganteng', 'cantik', 'manis',
  // "password", "secret" and friends
  'katasandi', 'kata sandi', 'sandi', 'sandiku', 'katakunci', 'kunci', 'rahasia', 'rahasiaku',
  'rahasiakita', 'passwordku', 'paswordku', 'pasword', 'masuk', 'login', 'daftar', 'admin',
  'administrator', 'percobaan', 'coba', 'cobacoba', 'tes', 'testing',
  // everyday words, clubs, characters
  'sukses', 'rezeki', 'rejeki', 'berkah', 'barokah', 'semangat', 'mantap', 'mantul', 'anjay',
  'kampret', 'kucing', 'kucingku', 'anjing', 'doraemon', 'upin', 'upinipin', 'persib',
  'persija', 'persebaya', 'arema', 'aremania', 'bobotoh', 'jakmania', 'bonek', 'pssi',
  'timnas', 'bintang', 'matahari', 'pelangi', 'melati', 'mawar', 'indomie', 'kopi',
  'kopisusu', 'nasigoreng',
  // the service, the civil registry, the identity card
  'satupintu', 'satu pintu', 'dukcapil', 'disdukcapil', 'kependudukan', 'ktp', 'ektp',
  'ktpelektronik', 'kartukeluarga', 'pemkab', 'pemda', 'kabupaten', 'kelurahan', 'kecamatan',
]

// The zxcvbn-ts common-password list (about 49,000 entries, all lower case) is loaded on
// first use, not at import: its module decompresses the list when evaluated (about 30 ms),
// which processes that never check a password (the gateway, most CLI commands) should not
// pay. createRequire keeps the load synchronous, so checkPassword stays synchronous.
// Call warmPasswordPolicy() at start-up to take that cost before the first request.
let blocklist: ReadonlySet<string> | undefined

function loadZxcvbnPasswords (): readonly string[] {
  const require = createRequire(import.meta.url)
  const mod: unknown = require('@zxcvbn-ts/language-common')
  if (typeof mod === 'object' && mod !== null && 'dictionary' in mod) {
    const dictionary: unknown = mod.dictionary
    if (typeof dictionary === 'object' && dictionary !== null && 'passwords-common' in dictionary) {
      const list: unknown = dictionary['passwords-common']
      if (Array.isArray(list)) {
        const out: string[] = []
        for (const item of list as readonly unknown[]) {
          if (typeof item === 'string') out.push(item.toLowerCase())
        }
        if (out.length > 0) return out
      }
    }
  }
  /* c8 ignore start */
  // Only reachable if the package changes shape; failing loudly beats an empty blocklist.
  throw new Error("@zxcvbn-ts/language-common has no dictionary['passwords-common'] list")
}
/* c8 ignore stop */

function getBlocklist (): ReadonlySet<string> {
  if (blocklist === undefined) {
    const set = new Set(loadZxcvbnPasswords())
    for (const word of INDONESIAN_COMMON) set.add(compact(word))
    blocklist = set
  }
  return blocklist
}

export function warmPasswordPolicy (): void {
  getBlocklist()
}

// ---------------------------------------------------------------------------------------
// Normalisation

// 800-63B-4: verifiers "SHOULD apply the normalization process for stabilized strings using
// either the NFKC or NFKD normalization ... before hashing". The same function must be used
// when setting and when verifying a password. Returns undefined for input that no password
// can be (too long, control characters, lone surrogates); a login handler treats that as a
// wrong password, after the same dummy hashing it does for unknown accounts.
export function normalizePassword (password: string): string | undefined {
  if (typeof password !== 'string' || password.length > MAX_PASSWORD_INPUT_UNITS) return undefined
  if (FORBIDDEN.test(password)) return undefined
  const normalized = password.normalize('NFKC')
  if (codePointLength(normalized) > MAX_PASSWORD_LENGTH) return undefined
  return normalized
}

// Control characters cannot be typed into a password field, and a lone surrogate cannot be
// encoded as UTF-8: Buffer.from would turn it into U+FFFD, so two different passwords would
// hash alike. Both mean the input did not come from a person typing.
const FORBIDDEN = /[\p{Cc}\p{Cs}]/u
// Invisible characters (zero-width space and joiners, soft hyphen, variation selectors...)
// are kept in the password itself but not counted as length and not seen by the
// comparisons, so "password" with a zero-width space in it is still "password".
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu
// Separators removed before comparing, so "p a s s w o r d", "pass-word" and "12.01.1990"
// compare as "password" and "12011990".
const SEPARATORS = /[\s\p{Pd}\p{Pc}.,/\\:;'"`]+/gu
const ALPHANUMERIC = /[\p{L}\p{N}]/u

function codePointLength (s: string): number {
  let n = 0
  for (const _ of s) n++
  return n
}

function compact (s: string): string {
  return s.replace(SEPARATORS, '')
}

// ---------------------------------------------------------------------------------------
// Repetition and sequences

const KEYBOARD_RUNS: readonly string[] = [
  '1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm', 'qwertyuiopasdfghjklzxcvbnm',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p', 'qazwsxedcrfvtgbyhnujmikolp',
  'zaq1xsw2cde3vfr4bgt5nhy6mju7', '1q2w3e4r5t6y7u8i9o0p', '!@#$%^&*()', 'azertyuiop',
  'qwertzuiop',
]
const KEYBOARD = [...KEYBOARD_RUNS, ...KEYBOARD_RUNS.map(reverse)]

function reverse (s: string): string {
  return Array.from(s).reverse().join('')
}

function charClass (cp: number): 'digit' | 'letter' | 'other' {
  if (cp >= 0x30 && cp <= 0x39) return 'digit'
  if (cp >= 0x61 && cp <= 0x7a) return 'letter'
  return 'other'
}

// Length of the longest "simple run" starting at i: one character repeated, an arithmetic
// run of ASCII digits or letters with step ±1 or ±2 ("1234", "dcba", "2468", "aceg"), or a
// walk along a keyboard row or column ("qwerty", "1qaz2wsx").
function simpleRunLength (cps: readonly number[], i: number): number {
  const n = cps.length
  const first = cps[i]
  if (first === undefined) return 0
  let same = 1
  while (i + same < n && cps[i + same] === first) same++
  let arithmetic = 1
  const second = cps[i + 1]
  if (second !== undefined) {
    const step = second - first
    const cls = charClass(first)
    if (cls !== 'other' && step !== 0 && Math.abs(step) <= 2) {
      while (i + arithmetic < n) {
        const cur = cps[i + arithmetic]
        const prev = cps[i + arithmetic - 1]
        if (cur === undefined || prev === undefined || cur - prev !== step || charClass(cur) !== cls) break
        arithmetic++
      }
    }
  }
  let keyboard = 0
  let piece = ''
  for (let j = i; j < n; j++) {
    const cp = cps[j]
    if (cp === undefined) break
    const next = piece + String.fromCodePoint(cp)
    if (!KEYBOARD.some(run => run.includes(next))) break
    piece = next
    keyboard++
  }
  return Math.max(same, arithmetic, keyboard)
}

// True when s is one or two simple runs, each at least 3 long ("12345678", "qwerty123",
// "aaaa1234", "abc" + "zyxwv"). SP 800-63B (2017) listed "repetitive or sequential
// characters (e.g. 'aaaaaa', '1234abcd')" among the values to refuse; -4 keeps refusing
// "expected" values.
function isSequence (s: string): boolean {
  const cps = Array.from(s, c => c.codePointAt(0) ?? 0)
  if (cps.length < 3) return false
  let i = 0
  let runs = 0
  while (i < cps.length) {
    const len = simpleRunLength(cps, i)
    if (len < 3) return false
    runs++
    if (runs > 2) return false
    i += len
  }
  return true
}

// The shortest unit that s repeats, if it repeats one at least twice ("abab" → "ab").
function repeatedUnit (s: string): string | undefined {
  const chars = Array.from(s)
  const n = chars.length
  for (let p = 1; p <= n / 2; p++) {
    if (n % p !== 0) continue
    let ok = true
    for (let k = p; k < n && ok; k++) ok = chars[k] === chars[k - p]
    if (ok) return chars.slice(0, p).join('')
  }
  return undefined
}

// A repeated unit of up to 4 characters ("aaaaaaaa", "abababab", "kopikopi"). Longer units
// ("sayangsayang") go to the blocklist comparison as the unit itself.
function isRepeated (s: string): boolean {
  if (s.length === 0) return true
  const unit = repeatedUnit(s)
  return unit !== undefined && codePointLength(unit) <= 4
}

// ---------------------------------------------------------------------------------------
// Blocklist comparison of the whole password and its trivial derivatives

// Digits that add little: up to four (a year, "123", "01"), a run or repetition ("123456",
// "000000"), or something that reads as a date ("12011990", "900112").
function isTrivialDigits (d: string): boolean {
  return d.length <= 4 || isSequence(d) || isRepeated(d) || looksLikeDate(d)
}

function looksLikeDate (d: string): boolean {
  const valid = (day: number, month: number): boolean => day >= 1 && day <= 31 && month >= 1 && month <= 12
  const n = (a: number, b: number): number => Number(d.slice(a, b))
  if (d.length === 6) return valid(n(0, 2), n(2, 4)) || valid(n(4, 6), n(2, 4))
  if (d.length === 8) {
    const yearFirst = n(0, 4)
    const yearLast = n(4, 8)
    return ((yearLast >= 1900 && yearLast <= 2099) && (valid(n(0, 2), n(2, 4)) || valid(n(2, 4), n(0, 2)))) ||
      ((yearFirst >= 1900 && yearFirst <= 2099) && valid(n(6, 8), n(4, 6)))
  }
  return false
}

// Takes off what people add to a word to satisfy old composition rules: symbols and trivial
// digits at either end ("Indonesia123!", "#sayang2024", "2024rahasia"). A scan rather than
// regular expressions such as /[^\p{L}\p{N}]+$/, which backtrack quadratically on a long
// run of symbols or emoji.
function stripAffixes (s: string): string {
  const chars = Array.from(s)
  let start = 0
  let end = chars.length
  while (end > start && isSymbol(chars[end - 1])) end--
  let digits = end
  while (digits > start && isDigit(chars[digits - 1])) digits--
  if (digits < end && isTrivialDigits(chars.slice(digits, end).join(''))) end = digits
  while (end > start && isSymbol(chars[end - 1])) end--
  while (start < end && isSymbol(chars[start])) start++
  digits = start
  while (digits < end && isDigit(chars[digits])) digits++
  if (digits > start && isTrivialDigits(chars.slice(start, digits).join(''))) start = digits
  while (start < end && isSymbol(chars[start])) start++
  return chars.slice(start, end).join('')
}

function isDigit (c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9'
}

function isSymbol (c: string | undefined): boolean {
  return c !== undefined && !ALPHANUMERIC.test(c)
}

// Common character substitutions ("p@ssw0rd", "s4y4ng"). "1" may stand for i or l.
const LEET: Readonly<Record<string, string>> = {
  '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '6': 'g', '7': 't', '8': 'b', '9': 'g',
  '@': 'a', '$': 's', '!': 'i', '+': 't', '|': 'l', '€': 'e', '(': 'c',
}

function unleet (s: string, one: 'i' | 'l'): string {
  let out = ''
  for (const c of s) out += c === '1' ? one : (LEET[c] ?? c)
  return out
}

function derivatives (lower: string): Set<string> {
  const bases = new Set([lower, compact(lower)])
  const out = new Set<string>()
  for (const base of bases) {
    const unit = repeatedUnit(base)
    for (const b of unit === undefined ? [base] : [base, unit]) {
      const stripped = stripAffixes(b)
      for (const v of [b, stripped]) {
        out.add(v)
        out.add(reverse(v))
        out.add(unleet(v, 'i'))
        out.add(unleet(v, 'l'))
      }
    }
  }
  return out
}

function isCommon (lower: string): boolean {
  const list = getBlocklist()
  for (const v of derivatives(lower)) {
    if (list.has(v)) return true
  }
  // Nearly all decoration: "abc!2024", "x1234567". Fewer than four characters left once
  // trivial digits and symbols are taken off is a guessable pattern, not a password. A
  // password of symbols only ("#%&*(@!^", as a generator might make) is left alone: there
  // is nothing there to decorate.
  const compacted = compact(lower)
  return ALPHANUMERIC.test(compacted) && codePointLength(stripAffixes(compacted)) < 4
}

// ---------------------------------------------------------------------------------------
// The citizen's own data

type ContextKind = 'nik' | 'birth_date' | 'phone' | 'name' | 'email' | 'regency'
const KIND_ORDER: readonly ContextKind[] = ['nik', 'birth_date', 'phone', 'name', 'email', 'regency']
const KIND_REASON: Record<ContextKind, PasswordError> = {
  nik: 'uses_nik',
  birth_date: 'uses_birth_date',
  phone: 'uses_phone',
  name: 'uses_name',
  email: 'uses_email',
  regency: 'uses_regency',
}

interface TextToken { readonly text: string; readonly kind: ContextKind }
interface ShortToken { readonly pattern: RegExp; readonly kind: ContextKind }

interface PreparedContext {
  readonly nik: string | undefined
  readonly birthDateForms: readonly string[]
  readonly nikWindows: ReadonlySet<string>
  readonly phoneWindows: ReadonlySet<string>
  readonly longTokens: readonly TextToken[]
  readonly shortTokens: readonly ShortToken[]
}

// Context values come from our own forms, but are bounded anyway so that a check can never
// become slow.
const MAX_CONTEXT_UNITS = 256
// Shorter digit pieces of the NIK or the phone number are too likely to occur by chance.
const MIN_DIGIT_WINDOW = 6
// The longest source: a NIK, or a phone number of up to 14 digits with its 62 prefix.
const MAX_DIGIT_WINDOW = 16

function prepareValue (value: string | undefined): string {
  if (typeof value !== 'string') return ''
  return value.slice(0, MAX_CONTEXT_UNITS).normalize('NFKC').replace(INVISIBLE, '').toLowerCase()
}

function escapeRegExp (s: string): string {
  // Only syntax characters: with the u flag, escaping anything else is a syntax error.
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')
}

// Words of a name, email local part or regency name worth looking for: the whole value
// without separators, each part, each run of letters, and each run of 4+ digits, if at
// least 3 characters long (docs/security.md: name parts of 3 or more characters).
function textTokens (value: string): string[] {
  const found = new Set<string>()
  found.add(value.replace(/[^\p{L}\p{N}]+/gu, ''))
  for (const part of value.split(/[^\p{L}\p{N}]+/u)) found.add(part)
  for (const m of value.matchAll(/\p{L}+/gu)) found.add(m[0])
  for (const m of value.matchAll(/[0-9]{4,}/g)) found.add(m[0])
  return [...found].filter(t => codePointLength(t) >= 3)
}

function birthDateForms (value: string | undefined): string[] {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(prepareValue(value))
  if (m === null) return []
  const [, yyyy = '', mm = '', dd = ''] = m
  const yy = yyyy.slice(2)
  const d = String(Number(dd))
  const mo = String(Number(mm))
  const forms = new Set([
    dd + mm + yyyy, yyyy + mm + dd, mm + dd + yyyy, dd + mm + yy, yy + mm + dd, mm + dd + yy,
    d + mo + yyyy, mo + d + yyyy, yyyy + mo + d, d + mo + yy,
  ])
  return [...forms].filter(f => f.length >= MIN_DIGIT_WINDOW).sort((a, b) => b.length - a.length)
}

function phoneSources (value: string | undefined): string[] {
  const digits = prepareValue(value).replace(/[^0-9]/g, '')
  // Indonesian numbers are written +62 812..., 62812... or 0812...; compare on the national
  // number with either prefix.
  const national = digits.startsWith('62') ? digits.slice(2) : digits.startsWith('0') ? digits.slice(1) : digits
  // Shorter is not a phone number worth comparing; longer is not a phone number at all.
  if (national.length < MIN_DIGIT_WINDOW || national.length > 14) return []
  return ['0' + national, '62' + national]
}

function prepareContext (context: PasswordContext): PreparedContext {
  const nikResult = typeof context.nik === 'string' ? normalizeNik(context.nik) : undefined
  const nik = nikResult?.ok === true ? nikResult.nik : undefined
  const email = prepareValue(context.email)
  const at = email.lastIndexOf('@')
  let local = at > 0 ? email.slice(0, at) : email
  const plus = local.indexOf('+')
  if (plus > 0) local = local.slice(0, plus)

  const tokens: TextToken[] = []
  const sources: ReadonlyArray<readonly [ContextKind, string]> = [
    ['name', prepareValue(context.name)],
    ['email', local],
    ['regency', prepareValue(context.regencyName)],
  ]
  for (const [kind, value] of sources) {
    for (const text of textTokens(value)) tokens.push({ text, kind })
  }
  // Longest first, so that "budisantoso" goes before "budi"; ties follow KIND_ORDER.
  tokens.sort((a, b) => b.text.length - a.text.length || KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind))

  return {
    nik,
    birthDateForms: birthDateForms(context.birthDate),
    nikWindows: digitWindows(nik === undefined ? [] : [nik]),
    phoneWindows: digitWindows(phoneSources(context.phone)),
    longTokens: tokens.filter(t => codePointLength(t.text) >= 4),
    // Three-letter name parts ("Sri", "Ani", "Dwi") also occur inside ordinary words
    // ("describe", "mechanical"), so they only count where they stand as a word of their own.
    shortTokens: tokens
      .filter(t => codePointLength(t.text) === 3)
      .map(t => ({ pattern: new RegExp(`(?<!\\p{L})${escapeRegExp(t.text)}(?!\\p{L})`, 'gu'), kind: t.kind })),
  }
}

// Every piece of 6 or more digits of the given sources, so that a password can be searched
// with one set look-up per position and length.
function digitWindows (sources: readonly string[]): ReadonlySet<string> {
  const windows = new Set<string>()
  for (const source of sources) {
    for (let len = MIN_DIGIT_WINDOW; len <= source.length; len++) {
      for (let i = 0; i + len <= source.length; i++) windows.add(source.slice(i, i + len))
    }
  }
  return windows
}

// Removes, from every run of digits, the pieces of 6 or more digits that also occur in a
// source (the NIK typed in full or in part, the phone number with or without its prefix),
// taking the longest piece at each position from left to right.
function removeDigitWindows (s: string, windows: ReadonlySet<string>, onFound: () => void): string {
  if (windows.size === 0) return s
  return s.replace(/[0-9]{6,}/g, run => {
    let rest = run
    let i = 0
    while (i + MIN_DIGIT_WINDOW <= rest.length) {
      // Every longer window starts with a 6-digit window, so most positions cost one look-up.
      if (!windows.has(rest.slice(i, i + MIN_DIGIT_WINDOW))) {
        i++
        continue
      }
      // Stops at 6 at the latest, since that window is known to be there.
      let len = Math.min(rest.length - i, MAX_DIGIT_WINDOW)
      while (!windows.has(rest.slice(i, i + len))) len--
      rest = rest.slice(0, i) + rest.slice(i + len)
      onFound()
    }
    return rest
  })
}

function removeTokens (s: string, tokens: readonly TextToken[], found: Set<ContextKind>): string {
  let rest = s
  for (const token of tokens) {
    if (rest.includes(token.text)) {
      rest = rest.split(token.text).join('')
      found.add(token.kind)
    }
  }
  return rest
}

// What is left once the citizen's own data is taken out must stand as a password by itself.
function isWeakRemainder (rest: string): boolean {
  return codePointLength(rest) < MIN_PASSWORD_LENGTH || isRepeated(rest) || isSequence(rest) || isCommon(rest)
}

function contextReason (lower: string, ctx: PreparedContext): PasswordError | undefined {
  const found = new Set<ContextKind>()
  let s = lower
  for (const token of ctx.shortTokens) {
    const next = s.replace(token.pattern, '')
    if (next !== s) {
      found.add(token.kind)
      s = next
    }
  }
  s = compact(s)
  if (ctx.nik !== undefined && s.includes(ctx.nik)) {
    s = s.split(ctx.nik).join('')
    found.add('nik')
  }
  for (const form of ctx.birthDateForms) {
    if (s.includes(form)) {
      s = s.split(form).join('')
      found.add('birth_date')
    }
  }
  s = removeDigitWindows(s, ctx.nikWindows, () => found.add('nik'))
  s = removeDigitWindows(s, ctx.phoneWindows, () => found.add('phone'))

  // The text tokens are looked for as typed and with common substitutions undone
  // ("5ukamaju"), each on its own copy.
  for (const variant of new Set([s, unleet(s, 'i'), unleet(s, 'l')])) {
    const kinds = new Set(found)
    const rest = removeTokens(variant, ctx.longTokens, kinds)
    if (kinds.size > 0 && isWeakRemainder(rest)) {
      const kind = KIND_ORDER.find(k => kinds.has(k))
      if (kind !== undefined) return KIND_REASON[kind]
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------

export function checkPassword (password: string, context: PasswordContext = {}): PasswordResult {
  // The length bound comes first, before normalising or anything else that costs work.
  if (typeof password !== 'string') return { ok: false, reason: 'invalid_characters' }
  if (password.length > MAX_PASSWORD_INPUT_UNITS) return { ok: false, reason: 'too_long' }
  if (FORBIDDEN.test(password)) return { ok: false, reason: 'invalid_characters' }

  // NFKC maps no character to a control character or a surrogate, so the test above holds
  // for the normalised form too.
  const normalized = password.normalize('NFKC')
  if (codePointLength(normalized) > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'too_long' }
  const visible = normalized.replace(INVISIBLE, '')
  if (codePointLength(visible) < MIN_PASSWORD_LENGTH) return { ok: false, reason: 'too_short' }

  const lower = visible.toLowerCase()
  const compacted = compact(lower)
  if (isRepeated(lower) || isRepeated(compacted)) return { ok: false, reason: 'repeated' }
  if (isSequence(compacted)) return { ok: false, reason: 'sequence' }

  const contextual = contextReason(lower, prepareContext(context))
  if (contextual !== undefined) return { ok: false, reason: contextual }

  if (isCommon(lower)) return { ok: false, reason: 'common' }
  return { ok: true }
}
