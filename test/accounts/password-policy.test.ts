import t from 'tap'
import {
  MAX_PASSWORD_INPUT_UNITS,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  checkPassword,
  normalizePassword,
  passwordErrorMessages,
  warmPasswordPolicy,
} from '../../src/accounts/password-policy.ts'
import type { PasswordContext, PasswordError } from '../../src/accounts/password-policy.ts'

// A citizen of the (fictional) Sukamaju regency.
const CITIZEN: PasswordContext = {
  nik: '3201011201900001',
  birthDate: '1990-01-12',
  name: 'Budi Santoso',
  email: 'budi.santoso85+idp@gmail.com',
  phone: '+62 812-3456-7890',
  regencyName: 'Sukamaju',
}

function reasonOf(password: string, context: PasswordContext = {}): PasswordError | undefined {
  const result = checkPassword(password, context)
  return result.ok ? undefined : result.reason
}

t.test('SECURITY 13: refuses 7 characters and accepts 8', async (t) => {
  t.equal(MIN_PASSWORD_LENGTH, 8)
  t.equal(reasonOf('mKx9#qL'), 'too_short')
  t.equal(reasonOf('mKx9#qLp'), undefined)
  t.equal(reasonOf(''), 'too_short')
})

t.test('counts Unicode code points, not UTF-16 units', async (t) => {
  // Each of these emoji is one code point but two UTF-16 units.
  const animals = ['🐘', '🦒', '🐊', '🦜', '🐢', '🦀', '🐙', '🦔']
  t.equal(reasonOf(animals.slice(0, 7).join('')), 'too_short', '7 emoji are 14 units but 7 characters')
  t.equal(reasonOf(animals.join('')), undefined, '8 emoji')
})

t.test('does not count invisible characters towards the length', async (t) => {
  t.equal(reasonOf('mKx9#qL\u200B'), 'too_short')
  t.equal(reasonOf('\u200B'.repeat(20) + 'a'), 'too_short')
})

t.test('SECURITY 13: accepts 64 and 256 characters and refuses 257', async (t) => {
  t.equal(MAX_PASSWORD_LENGTH, 256)
  const phrase = 'gajah biru menari di atas awan tipis sambil minum kopi tubruk ya '
  t.equal(reasonOf(phrase.slice(0, 64)), undefined, '64')
  const long = phrase.repeat(4).slice(0, 256)
  t.equal(reasonOf(long), undefined, '256')
  t.equal(reasonOf(long + 'x'), 'too_long', '257')
})

t.test('refuses over-long input before normalising it', async (t) => {
  const original = String.prototype.normalize
  let calls = 0
  String.prototype.normalize = function (this: string, form?: string): string {
    calls++
    return original.call(this, form)
  }
  t.teardown(() => {
    String.prototype.normalize = original
  })

  const tenMegabytes = 'x'.repeat(10 * 1024 * 1024)
  t.equal(reasonOf(tenMegabytes), 'too_long')
  t.equal(reasonOf('x'.repeat(MAX_PASSWORD_INPUT_UNITS + 1)), 'too_long')
  t.equal(calls, 0, 'String#normalize was never called')
  t.equal(normalizePassword(tenMegabytes), undefined)
  t.equal(calls, 0)
})

t.test('refuses control characters and lone surrogates', async (t) => {
  t.equal(reasonOf('kopi\u0000tubruk'), 'invalid_characters', 'NUL')
  t.equal(reasonOf('kopi\ttubruk'), 'invalid_characters', 'tab')
  t.equal(reasonOf('kopi\u0085tubruk'), 'invalid_characters', 'C1 control')
  t.equal(reasonOf('kopi tubruk \uD83D'), 'invalid_characters', 'lone high surrogate')
  t.equal(reasonOf(42 as unknown as string), 'invalid_characters', 'not a string')
})

t.test('SECURITY 13: refuses "password" and other passwords on the common list', async (t) => {
  for (const password of ['password', 'iloveyou', 'sunshine', 'trustno1', 'football']) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('compares with the common list case-insensitively', async (t) => {
  for (const password of ['Password1', 'PASSWORD', 'PassWord', 'Iloveyou']) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('compares after NFKC, so full-width letters do not hide a common password', async (t) => {
  t.equal(reasonOf('ｐａｓｓｗｏｒｄ'), 'common')
})

t.test('ignores invisible characters and separators when comparing', async (t) => {
  t.equal(reasonOf('pass\u200Bword'), 'common', 'zero-width space')
  t.equal(reasonOf('p a s s w o r d'), 'common', 'spaces')
  t.equal(reasonOf('pass-word'), 'common', 'hyphen')
})

t.test('refuses common passwords with digits, years or symbols added at either end', async (t) => {
  for (const password of ['password123', 'Password2024!', '#password1', '2024password', 'sunshine!!', 'football1990']) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('refuses common passwords followed by a date', async (t) => {
  for (const password of ['sunshine120190', 'sunshine01121990', 'sunshine19901201']) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('refuses common passwords with letters swapped for look-alike digits or symbols', async (t) => {
  for (const password of ['P@ssw0rd', 'p@ssw0rd!', 'sunsh1ne', '5unshine']) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('refuses a common password typed backwards or twice', async (t) => {
  t.equal(reasonOf('drowssap'), 'common')
  // zxcvbn explains a doubled word as a repetition of it.
  t.equal(reasonOf('sunshinesunshine'), 'repeated')
})

t.test('SECURITY 13: refuses passwords common in Indonesia, also with digits appended', async (t) => {
  for (const password of [
    'indonesia',
    'indonesia123',
    'Indonesia2024!',
    'bismillah',
    'Bismillah1',
    'sayang123',
    'Sayangku2024',
    'rahasia123',
    'katasandi',
    'kata sandi',
    'merdeka45',
    'merdeka1945',
    'jakarta123',
    'bandung2024',
    'akucintakamu',
    'alhamdulillah',
    'persib1933',
    'satupintu1',
  ]) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('accepts a passphrase with spaces and emoji', async (t) => {
  t.equal(reasonOf('kereta api 🚂 ke pantai senja', CITIZEN), undefined)
  t.equal(reasonOf('Gajah biru menari di atas awan 🐘☁️', CITIZEN), undefined)
})

t.test('accepts long random passwords such as a password manager makes', async (t) => {
  for (const password of ['8392017465839201', '#%&*(@!^', 'vY7$kq2!Rz0p', 'tr0ub4dor&3 horse']) {
    t.equal(reasonOf(password, CITIZEN), undefined, password)
  }
})

t.test('SECURITY 13: does not impose composition rules', async (t) => {
  t.equal(reasonOf('kuda lari cepat'), undefined, 'lower-case letters and spaces only')
  // Digits only are fine when long enough: zxcvbn reads most 8-digit strings as a date or
  // finds a common 6-digit password in them ("839201"), so the example has 12.
  t.equal(reasonOf('839201746583'), undefined, 'digits only')
})

t.test('refuses a single repeated character', async (t) => {
  t.equal(reasonOf('aaaaaaaa'), 'repeated')
  t.equal(reasonOf('11111111'), 'common', 'on the common list, which explains it first')
  t.equal(reasonOf('        '), 'repeated', 'spaces')
  t.equal(reasonOf('😀'.repeat(8)), 'repeated', 'emoji')
})

t.test('refuses a short piece repeated', async (t) => {
  t.equal(reasonOf('abababab'), 'repeated')
  t.equal(reasonOf('kopikopi'), 'repeated')
  t.equal(reasonOf('ab ab ab ab'), 'repeated')
})

t.test('refuses simple sequences and keyboard walks', async (t) => {
  for (const password of ['abcdefgh', 'hgfedcba', '13579135']) {
    t.equal(reasonOf(password), 'sequence', password)
  }
  // These are on zxcvbn's common list as well, which explains them with fewer guesses.
  for (const password of ['12345678', '87654321', 'qwertyui', 'asdfghjkl', '1qaz2wsx3edc']) {
    t.equal(reasonOf(password), 'common', password)
  }
})

t.test('refuses two sequences joined together', async (t) => {
  // All on zxcvbn's common list but one, which it explains as a repetition first.
  for (const password of ['qwerty123', 'abcd1234', '1 2 3 4 5 6 7 8']) {
    t.equal(reasonOf(password), 'common', password)
  }
  t.equal(reasonOf('aaaa1234'), 'repeated')
})

t.test('refuses passwords that are nearly all decoration', async (t) => {
  t.equal(reasonOf('abc!2024'), 'common')
  t.equal(reasonOf('x1234567'), 'common')
})

t.test("SECURITY 13: refuses a password made from the citizen's NIK", async (t) => {
  t.equal(reasonOf('3201011201900001', CITIZEN), 'uses_nik', 'the NIK itself')
  t.equal(reasonOf('3201-0112-0190-0001', CITIZEN), 'uses_nik', 'with separators')
  t.equal(reasonOf('NIK3201011201900001', CITIZEN), 'uses_nik', 'with a word')
  t.equal(reasonOf('budi 32010112', CITIZEN), 'uses_nik', 'a long piece of it')
  t.equal(reasonOf('３２０１０１１２０１９００００１', CITIZEN), 'uses_nik', 'in full-width digits')
})

t.test("SECURITY 13: refuses a password made from the citizen's birth date in any common form", async (t) => {
  for (const password of [
    '12011990',
    '19900112',
    '120190x!',
    '1990-01-12',
    '12/01/1990',
    'lahir 12-01-1990',
    'kopi12011990',
  ]) {
    t.equal(reasonOf(password, CITIZEN), 'uses_birth_date', password)
  }
})

t.test("SECURITY 13: refuses a password made from the citizen's name, in any case", async (t) => {
  for (const password of [
    'budisantoso',
    'Budi Santoso',
    'BUDI SANTOSO 1985',
    'santoso!!',
    'Santoso2024',
    'budibudi12',
    'b00d1s4nt0s0',
  ]) {
    t.equal(reasonOf(password, { name: 'Budi Santoso' }), 'uses_name', password)
  }
})

t.test('counts three-letter name parts, and a word that merely contains one stays fine', async (t) => {
  t.equal(reasonOf('ani12345!', { name: 'Ani Lestari' }), 'uses_name')
  t.equal(reasonOf('sri 2024 ok', { name: 'Sri Wahyuni' }), 'uses_name')
  t.equal(reasonOf('mechanical horse', { name: 'Ani' }), undefined, '"ani" inside "mechanical"')
})

t.test('refuses a password made from the email address or phone number', async (t) => {
  t.equal(reasonOf('budi.santoso85', CITIZEN), 'uses_email', 'the whole local part')
  t.equal(reasonOf('bsantoso85', { email: 'bsantoso85@example.id' }), 'uses_email')
  t.equal(reasonOf('081234567890', CITIZEN), 'uses_phone')
  t.equal(reasonOf('+62 812 3456 7890', CITIZEN), 'uses_phone')
  t.equal(reasonOf('kopi81234567890', CITIZEN), 'uses_phone')
  for (const phone of ['0812 3456 7890', '6281234567890', '81234567890']) {
    t.equal(reasonOf('0812-3456-7890', { phone }), 'uses_phone', `phone stored as ${phone}`)
  }
})

t.test("SECURITY 13: refuses a password made from the regency's name", async (t) => {
  for (const password of [
    'sukamaju',
    'Sukamaju2024',
    'SUKAMAJU!',
    'sukamaju jaya',
    '5ukamaju!',
    '#sukamaju1',
    'Kabupaten Sukamaju!',
  ]) {
    t.equal(reasonOf(password, CITIZEN), 'uses_regency', password)
  }
})

t.test("refuses a password made of several pieces of the citizen's data", async (t) => {
  t.equal(reasonOf('budi12011990', CITIZEN), 'uses_birth_date')
  t.equal(reasonOf('Sukamaju Budi', CITIZEN), 'uses_name')
})

t.test('SECURITY 13: accepts a passphrase that only mentions the name or the regency', async (t) => {
  // SP 800-63B-4 3.1.1.2: the whole password is compared, "not substrings or words that
  // might be contained therein". What is left without the citizen's data must still pass.
  t.equal(reasonOf('Aku cinta Sukamaju sejak kecil', CITIZEN), undefined)
  t.equal(reasonOf('budi suka makan ikan bakar', CITIZEN), undefined)
  t.equal(reasonOf('sukamaju password', CITIZEN), 'uses_regency', 'the rest is a common password')
})

t.test('accepts a context with every field missing or undefined', async (t) => {
  const empty: PasswordContext = {
    nik: undefined,
    birthDate: undefined,
    name: undefined,
    email: undefined,
    phone: undefined,
    regencyName: undefined,
  }
  t.equal(reasonOf('kuda lari cepat', empty), undefined)
  t.equal(reasonOf('kuda lari cepat', { nik: 'not a nik', birthDate: '12-01-1990', phone: '12' }), undefined)
})

t.test('normalises with NFKC for hashing and refuses what no password can be', async (t) => {
  t.equal(normalizePassword('ｐａｓｓ ｗｏｒｄ'), 'pass word')
  t.equal(normalizePassword('e\u0301clair'), '\u00E9clair', 'combining accent composed')
  t.equal(normalizePassword('kopi\u0000'), undefined)
  t.equal(normalizePassword('\uDC00 kopi'), undefined)
  t.equal(normalizePassword('x'.repeat(MAX_PASSWORD_LENGTH + 1)), undefined)
})

t.test('has a message in Indonesian and English for every error code', async (t) => {
  const codes: PasswordError[] = [
    'too_short',
    'too_long',
    'invalid_characters',
    'repeated',
    'sequence',
    'common',
    'uses_nik',
    'uses_birth_date',
    'uses_phone',
    'uses_name',
    'uses_email',
    'uses_regency',
  ]
  t.strictSame(Object.keys(passwordErrorMessages).sort(), [...codes].sort())
  for (const code of codes) {
    t.ok(passwordErrorMessages[code].id.length > 20, `${code} id`)
    t.ok(passwordErrorMessages[code].en.length > 20, `${code} en`)
  }
})
