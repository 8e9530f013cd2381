// NIK (Nomor Induk Kependudukan): the 16-digit population number (PP 37/2007 art. 37).
//
//   PP KK CC DDMMYY SSSS
//   │  │  │  │      └ serial within the district and birth date, never 0000
//   │  │  │  └ birth date; women have 40 added to the day
//   │  │  └ district (kecamatan) of first registration
//   │  └ regency or city (kabupaten/kota) of first registration
//   └ province of first registration (see provinces.ts)
//
// There is no check digit, so the structure check only catches typing mistakes and
// nonsense; it proves nothing about the person. A NIK is not a secret either (it is printed
// on the KTP and photocopied everywhere), but it is personal data under UU PDP, so it never
// goes to logs: use maskNik() from src/audit/redact.ts there (docs/security.md, "Personal data": no log holds a NIK).

import { isProvinceCode } from './provinces.ts'
import type { ProvinceCode } from './provinces.ts'

export type NikError =
  | 'characters' // something other than digits (and the separators we tolerate)
  | 'length' // not exactly 16 digits
  | 'province'
  | 'regency'
  | 'district'
  | 'birth_date'
  | 'serial'

export type NikGender = 'female' | 'male'

export interface NikBirthDate {
  // Two digits only: the NIK does not say which century.
  readonly year2: number
  readonly month: number
  // The real day of the month, with the +40 for women already taken off.
  readonly day: number
}

export interface ParsedNik {
  readonly ok: true
  readonly nik: string
  readonly provinceCode: ProvinceCode
  readonly regencyCode: string
  readonly districtCode: string
  readonly birthDate: NikBirthDate
  readonly gender: NikGender
  readonly serial: string
}

export type NikResult = ParsedNik | { readonly ok: false; readonly reason: NikError }

// Plain-language messages for citizens. The UI picks the language; codes stay stable.
export const nikErrorMessages: Record<NikError, { id: string; en: string }> = {
  characters: {
    id: 'NIK hanya boleh berisi angka 0–9. Periksa kembali NIK Anda.',
    en: 'A NIK contains only the digits 0–9. Please check your NIK.',
  },
  length: {
    id: 'NIK harus terdiri dari 16 angka. Salin NIK dari KTP-el atau Kartu Keluarga Anda.',
    en: 'A NIK has exactly 16 digits. Copy it from your KTP-el or family card (Kartu Keluarga).',
  },
  province: {
    id: 'Dua angka pertama NIK bukan kode provinsi yang dikenal. Periksa kembali NIK Anda di KTP-el atau Kartu Keluarga.',
    en: 'The first two digits of this NIK are not a known province code. Please check the NIK on your KTP-el or family card.',
  },
  regency: {
    id: 'Angka ke-3 dan ke-4 NIK (kode kabupaten/kota) tidak boleh 00. Periksa kembali NIK Anda.',
    en: 'Digits 3 and 4 of a NIK (the regency or city code) cannot be 00. Please check your NIK.',
  },
  district: {
    id: 'Angka ke-5 dan ke-6 NIK (kode kecamatan) tidak boleh 00. Periksa kembali NIK Anda.',
    en: 'Digits 5 and 6 of a NIK (the district code) cannot be 00. Please check your NIK.',
  },
  birth_date: {
    id: 'Angka ke-7 sampai ke-12 NIK bukan tanggal lahir yang benar. Periksa kembali NIK Anda.',
    en: 'Digits 7 to 12 of this NIK are not a real date of birth. Please check your NIK.',
  },
  serial: {
    id: 'Empat angka terakhir NIK tidak boleh 0000. Periksa kembali NIK Anda.',
    en: 'The last four digits of a NIK cannot be 0000. Please check your NIK.',
  },
}

// The longest input worth looking at. A NIK typed with a separator between every digit is
// 31 characters; anything much longer is not a NIK, and refusing it before normalising keeps
// the work bounded (NFKC can expand one code unit into up to 18).
const MAX_INPUT_LENGTH = 64

// Separators a citizen may type or paste between groups of digits ("3201 0123 4567 0001",
// "3201-0123-...", "3201.0123..."). They are removed after NFKC, so the no-break space,
// the ideographic space and the full-width hyphen-minus and full stop count too, since NFKC
// maps them to these. Nothing else is removed: zero-width characters (U+200B–U+200D,
// U+2060, U+FEFF) and other invisible or look-alike characters are refused, never silently
// dropped, because docs/security.md line 12 says such input is refused or normalised, and
// stripping invisibles would hide tampering or a bad copy. (Do not use String#trim here: it
// removes U+FEFF.)
const SEPARATORS = /[ .-]/g
const SIXTEEN_DIGITS = /^[0-9]{16}$/
const ONLY_DIGITS = /^[0-9]*$/

// NFKC folds full-width digits (U+FF10–U+FF19) to ASCII but leaves Arabic-Indic
// (U+0660–U+0669), extended Arabic-Indic (U+06F0–U+06F9), Devanagari and other script
// digits alone. Those are then refused by the ASCII-only digit test below rather than
// folded ourselves: a NIK is written with Latin digits on every official document, so
// other digits mean the input did not come from one.
export function normalizeNik(
  input: string,
): { readonly ok: true; readonly nik: string } | { readonly ok: false; readonly reason: 'characters' | 'length' } {
  if (typeof input !== 'string') return { ok: false, reason: 'characters' }
  if (input.length > MAX_INPUT_LENGTH) return { ok: false, reason: 'length' }
  const compact = input.normalize('NFKC').replace(SEPARATORS, '')
  if (!ONLY_DIGITS.test(compact)) return { ok: false, reason: 'characters' }
  if (!SIXTEEN_DIGITS.test(compact)) return { ok: false, reason: 'length' }
  return { ok: true, nik: compact }
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}

// The NIK carries only YY. A date is accepted if it exists in 19YY or in 20YY; this only
// matters for 29 February (YY = 00 is a leap year as 2000 though not as 1900).
function isRealDate(year2: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false
  return day <= daysInMonth(1900 + year2, month) || day <= daysInMonth(2000 + year2, month)
}

export function parseNik(input: string): NikResult {
  const normalized = normalizeNik(input)
  if (!normalized.ok) return normalized
  const nik = normalized.nik

  const provinceCode = nik.slice(0, 2)
  if (!isProvinceCode(provinceCode)) return { ok: false, reason: 'province' }
  // Only 00 is refused for the regency and the district: their lists change with every
  // split, and a NIK keeps the codes of its first registration, so a code that is not in
  // today's list may still be valid.
  const regencyCode = nik.slice(2, 4)
  if (regencyCode === '00') return { ok: false, reason: 'regency' }
  const districtCode = nik.slice(4, 6)
  if (districtCode === '00') return { ok: false, reason: 'district' }

  const dayField = Number(nik.slice(6, 8))
  const month = Number(nik.slice(8, 10))
  const year2 = Number(nik.slice(10, 12))
  // Days 01–31 are men, 41–71 are women (day + 40); 00 and 32–40 are neither.
  const gender: NikGender = dayField > 40 ? 'female' : 'male'
  const day = gender === 'female' ? dayField - 40 : dayField
  if (!isRealDate(year2, month, day)) return { ok: false, reason: 'birth_date' }

  const serial = nik.slice(12, 16)
  if (serial === '0000') return { ok: false, reason: 'serial' }

  return {
    ok: true,
    nik,
    provinceCode,
    regencyCode,
    districtCode,
    birthDate: { year2, month, day },
    gender,
    serial,
  }
}

export function isValidNik(input: string): boolean {
  return parseNik(input).ok
}

export type NikPersonMismatch =
  | 'nik' // the NIK itself is not valid
  | 'birth_date_input' // the birth date given is not a real YYYY-MM-DD date
  | 'birth_date' // the NIK's date differs from the birth date given
  | 'gender' // the NIK's gender (day + 40) differs from the gender given

export interface NikPerson {
  // ISO 8601 calendar date, YYYY-MM-DD, as the registration form sends it.
  readonly birthDate: string
  readonly gender: NikGender
}

const ISO_DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/

// Checks that the birth date and gender that the citizen entered agree with their NIK.
//
// Treat a mismatch as "please check what you typed", or as a case for an officer, not as
// proof of fraud: Dukcapil corrects biodata (a wrong birth date, or a gender changed by
// court order) without issuing a new NIK, because a NIK is kept for life (UU 24/2013), so a
// real citizen's NIK can legitimately disagree with their current birth date or gender.
export function nikMatchesPerson(
  nik: string,
  person: NikPerson,
): { readonly ok: true } | { readonly ok: false; readonly reason: NikPersonMismatch } {
  const parsed = parseNik(nik)
  if (!parsed.ok) return { ok: false, reason: 'nik' }

  const m = ISO_DATE.exec(person.birthDate)
  if (m === null) return { ok: false, reason: 'birth_date_input' }
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return { ok: false, reason: 'birth_date_input' }
  }

  const b = parsed.birthDate
  if (b.year2 !== year % 100 || b.month !== month || b.day !== day) {
    return { ok: false, reason: 'birth_date' }
  }
  if (parsed.gender !== person.gender) return { ok: false, reason: 'gender' }
  return { ok: true }
}
