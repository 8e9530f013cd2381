import t from 'tap'
import { isValidNik, nikErrorMessages, nikMatchesPerson, normalizeNik, parseNik } from '../../src/accounts/nik.ts'
import type { NikError } from '../../src/accounts/nik.ts'
import { PROVINCES, isProvinceCode, provinceName } from '../../src/accounts/provinces.ts'

// 32 Jawa Barat, 01 regency, 01 district, born 12 January (19)90, serial 0001.
const MALE = '3201011201900001'
// The same with day + 40: a woman born 12 January (19)90.
const FEMALE = '3201015201900002'

// Builds a NIK from its parts so that each test says which part it is about.
function nik(parts: {
  province?: string
  regency?: string
  district?: string
  date?: string
  serial?: string
}): string {
  return (
    (parts.province ?? '32') +
    (parts.regency ?? '01') +
    (parts.district ?? '01') +
    (parts.date ?? '120190') +
    (parts.serial ?? '0001')
  )
}

function reasonOf(input: string): NikError | undefined {
  const result = parseNik(input)
  return result.ok ? undefined : result.reason
}

t.test('parses a valid NIK of a man into its parts', async (t) => {
  t.strictSame(parseNik(MALE), {
    ok: true,
    nik: MALE,
    provinceCode: '32',
    regencyCode: '01',
    districtCode: '01',
    birthDate: { year2: 90, month: 1, day: 12 },
    gender: 'male',
    serial: '0001',
  })
  t.equal(isValidNik(MALE), true)
})

t.test('reads a day above 40 as a woman and takes the 40 off the day', async (t) => {
  const result = parseNik(FEMALE)
  t.equal(result.ok, true)
  if (!result.ok) return
  t.equal(result.gender, 'female')
  t.strictSame(result.birthDate, { year2: 90, month: 1, day: 12 })
})

t.test('accepts the first and last days of a month for men and women', async (t) => {
  t.equal(reasonOf(nik({ date: '010190' })), undefined, 'man, 1 January')
  t.equal(reasonOf(nik({ date: '310190' })), undefined, 'man, 31 January')
  t.equal(reasonOf(nik({ date: '410190' })), undefined, 'woman, 1 January')
  t.equal(reasonOf(nik({ date: '710190' })), undefined, 'woman, 31 January')
})

t.test("refuses day fields that are neither a man's nor a woman's day", async (t) => {
  for (const day of ['00', '32', '39', '40', '72', '99']) {
    t.equal(reasonOf(nik({ date: `${day}0190` })), 'birth_date', `day field ${day}`)
  }
})

t.test('refuses months 00 and 13 and days that do not exist in their month', async (t) => {
  t.equal(reasonOf(nik({ date: '120090' })), 'birth_date', 'month 00')
  t.equal(reasonOf(nik({ date: '121390' })), 'birth_date', 'month 13')
  t.equal(reasonOf(nik({ date: '310490' })), 'birth_date', '31 April')
  t.equal(reasonOf(nik({ date: '710490' })), 'birth_date', '31 April, woman')
  t.equal(reasonOf(nik({ date: '300290' })), 'birth_date', '30 February')
})

t.test('accepts 29 February only in a year that is a leap year in 19YY or 20YY', async (t) => {
  t.equal(reasonOf(nik({ date: '290296' })), undefined, '1996 is a leap year')
  t.equal(reasonOf(nik({ date: '690296' })), undefined, '1996, woman')
  t.equal(reasonOf(nik({ date: '290200' })), undefined, '2000 is a leap year (1900 is not)')
  t.equal(reasonOf(nik({ date: '290224' })), undefined, '2024 is a leap year')
  t.equal(reasonOf(nik({ date: '290297' })), 'birth_date', '1997 and 2097 are not leap years')
  t.equal(reasonOf(nik({ date: '690297' })), 'birth_date', '1997, woman')
  t.equal(reasonOf(nik({ date: '290201' })), 'birth_date', '1901 and 2001 are not leap years')
})

t.test('accepts NIKs from each of the four provinces created in Papua in 2022', async (t) => {
  const created2022 = {
    '93': 'Papua Selatan',
    '94': 'Papua Tengah',
    '95': 'Papua Pegunungan',
    '96': 'Papua Barat Daya',
  }
  for (const [code, name] of Object.entries(created2022)) {
    const result = parseNik(nik({ province: code }))
    t.equal(result.ok && result.provinceCode, code, `${code} ${name}`)
    t.equal(provinceName(code), name)
  }
})

t.test('keeps accepting Papua (91) and Papua Barat (92), the provinces that were split', async (t) => {
  t.equal(reasonOf(nik({ province: '91' })), undefined)
  t.equal(reasonOf(nik({ province: '92' })), undefined)
  t.equal(provinceName('91'), 'Papua')
  t.equal(provinceName('92'), 'Papua Barat')
})

t.test('accepts every one of the 38 current province codes', async (t) => {
  const codes = Object.keys(PROVINCES)
  t.equal(codes.length, 38)
  for (const code of codes) t.equal(reasonOf(nik({ province: code })), undefined, code)
})

t.test('refuses province codes that Kemendagri never gave a NIK', async (t) => {
  // 00 and 99 were never used; 10 was Jawa Barat in the old SIMDUK numbering, which is not
  // a NIK; 54 was Timor Timur, gone in 1999 before 16-digit NIKs were issued; 20 and 37 do
  // not exist.
  for (const code of ['00', '10', '20', '37', '54', '99']) {
    t.equal(reasonOf(nik({ province: code })), 'province', code)
  }
  t.equal(isProvinceCode('constructor'), false, 'inherited object keys are not codes')
  t.equal(provinceName('54'), undefined)
})

t.test('refuses regency 00 and district 00', async (t) => {
  t.equal(reasonOf(nik({ regency: '00' })), 'regency')
  t.equal(reasonOf(nik({ district: '00' })), 'district')
})

t.test("accepts a regency or district code that is not in today's lists", async (t) => {
  // A NIK keeps the codes of its first registration, so codes are not checked against the
  // (ever-changing) regency and district lists.
  t.equal(reasonOf(nik({ province: '91', regency: '99', district: '99' })), undefined)
})

t.test('refuses serial 0000', async (t) => {
  t.equal(reasonOf(nik({ serial: '0000' })), 'serial')
  t.equal(reasonOf(nik({ serial: '0001' })), undefined)
})

t.test('refuses a NIK with 15 or 17 digits, and an empty one', async (t) => {
  t.equal(reasonOf(MALE.slice(0, 15)), 'length')
  t.equal(reasonOf(MALE + '1'), 'length')
  t.equal(reasonOf(''), 'length')
})

t.test('refuses very long input without looking at it further', async (t) => {
  t.equal(reasonOf('1'.repeat(10_000)), 'length')
  t.equal(reasonOf('x'.repeat(10_000)), 'length')
})

t.test('normalises full-width digits to ASCII', async (t) => {
  const fullWidth = '３２０１０１１２０１９００００１'
  t.strictSame(normalizeNik(fullWidth), { ok: true, nik: MALE })
  const result = parseNik(fullWidth)
  t.equal(result.ok && result.nik, MALE)
})

t.test('removes spaces, dots and hyphens typed between groups of digits', async (t) => {
  for (const typed of ['3201 0112 0190 0001', '32.01.01.120190.0001', '3201-0112-0190-0001', ' 3201011201900001 ']) {
    t.strictSame(normalizeNik(typed), { ok: true, nik: MALE }, JSON.stringify(typed))
  }
  t.strictSame(
    normalizeNik('3201\u00A00112\u3000019000\uFF0D01'),
    { ok: true, nik: MALE },
    'no-break space, ideographic space and full-width hyphen, which NFKC turns into separators',
  )
})

t.test('refuses Arabic-Indic and other non-ASCII digits that NFKC does not fold', async (t) => {
  const toScript = (zero: number): string => Array.from(MALE, (d) => String.fromCodePoint(zero + Number(d))).join('')
  t.equal(reasonOf(toScript(0x0660)), 'characters', 'Arabic-Indic U+0660–U+0669')
  t.equal(reasonOf(toScript(0x06f0)), 'characters', 'extended Arabic-Indic U+06F0–U+06F9')
  t.equal(reasonOf(toScript(0x0966)), 'characters', 'Devanagari')
  t.equal(reasonOf(MALE.slice(0, 15) + '\u0661'), 'characters', 'one Arabic-Indic digit')
})

t.test('refuses zero-width and other invisible characters anywhere in the NIK', async (t) => {
  for (const invisible of ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF']) {
    const name = `U+${invisible.codePointAt(0)?.toString(16).toUpperCase()}`
    t.equal(reasonOf(invisible + MALE), 'characters', `${name} at the start`)
    t.equal(reasonOf(MALE.slice(0, 8) + invisible + MALE.slice(8)), 'characters', `${name} in the middle`)
    t.equal(reasonOf(MALE + invisible), 'characters', `${name} at the end`)
  }
})

t.test('refuses letters, tabs, newlines and other punctuation', async (t) => {
  t.equal(reasonOf(3201011201900001 as unknown as string), 'characters', 'a number from a JSON body')
  t.equal(reasonOf('320101120190000A'), 'characters')
  t.equal(reasonOf('3201011201900001\n'), 'characters')
  t.equal(reasonOf('3201\t011201900001'), 'characters')
  t.equal(reasonOf('3201/0112/0190/0001'), 'characters')
  t.equal(reasonOf('+3201011201900001'), 'characters')
})

t.test('confirms a NIK that agrees with the birth date and gender entered', async (t) => {
  t.strictSame(nikMatchesPerson(MALE, { birthDate: '1990-01-12', gender: 'male' }), { ok: true })
  t.strictSame(nikMatchesPerson(FEMALE, { birthDate: '1990-01-12', gender: 'female' }), { ok: true })
  t.strictSame(nikMatchesPerson(nik({ date: '290200' }), { birthDate: '2000-02-29', gender: 'male' }), { ok: true })
})

t.test('reports a gender that disagrees with the NIK', async (t) => {
  t.strictSame(nikMatchesPerson(MALE, { birthDate: '1990-01-12', gender: 'female' }), { ok: false, reason: 'gender' })
  t.strictSame(nikMatchesPerson(FEMALE, { birthDate: '1990-01-12', gender: 'male' }), { ok: false, reason: 'gender' })
})

t.test('reports a birth date that disagrees with the NIK in day, month or year', async (t) => {
  for (const birthDate of ['1990-01-13', '1990-02-12', '1991-01-12', '1990-01-52']) {
    const expected = birthDate === '1990-01-52' ? 'birth_date_input' : 'birth_date'
    t.strictSame(nikMatchesPerson(MALE, { birthDate, gender: 'male' }), { ok: false, reason: expected }, birthDate)
  }
})

t.test('compares the year on its last two digits only, as the NIK carries no century', async (t) => {
  t.strictSame(nikMatchesPerson(nik({ date: '120105' }), { birthDate: '2005-01-12', gender: 'male' }), { ok: true })
  t.strictSame(nikMatchesPerson(nik({ date: '120105' }), { birthDate: '1905-01-12', gender: 'male' }), { ok: true })
})

t.test('reports a birth date entered in another format or that does not exist', async (t) => {
  for (const birthDate of ['12-01-1990', '1990-1-12', '1990-02-30', '1990-13-01', '', '1990-01-12T00:00:00Z']) {
    t.strictSame(
      nikMatchesPerson(MALE, { birthDate, gender: 'male' }),
      { ok: false, reason: 'birth_date_input' },
      birthDate,
    )
  }
})

t.test('reports an invalid NIK before comparing anything', async (t) => {
  t.strictSame(nikMatchesPerson(nik({ serial: '0000' }), { birthDate: '1990-01-12', gender: 'male' }), {
    ok: false,
    reason: 'nik',
  })
})

t.test('has a message in Indonesian and English for every error code', async (t) => {
  const codes: NikError[] = ['characters', 'length', 'province', 'regency', 'district', 'birth_date', 'serial']
  t.strictSame(Object.keys(nikErrorMessages).sort(), [...codes].sort())
  for (const code of codes) {
    t.ok(nikErrorMessages[code].id.length > 20, `${code} id`)
    t.ok(nikErrorMessages[code].en.length > 20, `${code} en`)
  }
})
