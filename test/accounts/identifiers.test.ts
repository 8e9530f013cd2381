import t from 'tap'
import {
  classifyIdentifier,
  formatPhone,
  maskContact,
  normalizeEmail,
  normalizePhone,
} from '../../src/accounts/identifiers.ts'

t.test('shows a mobile number one way everywhere: 0812-3456-7890, masked 0812-****-*890', async (t) => {
  t.equal(formatPhone('+6281234567890'), '0812-3456-7890')
  t.equal(formatPhone('+62811234567'), '0811-2345-67', 'the shortest')
  t.equal(formatPhone('+62812345678901'), '0812-3456-78901', 'the longest')
  t.equal(formatPhone('+6521234567'), '+6521234567', 'not an Indonesian mobile number: as it is')
  t.equal(maskContact('+6281234567890'), '0812-****-*890')
  t.equal(maskContact('budi.santoso@contoh.id'), 'b***@contoh.id')
  t.equal(maskContact('something else'), '***')
})

t.test('normalises Indonesian mobile numbers in every usual form to E.164', async (t) => {
  for (const input of [
    '081234567890',
    '0812-3456-7890',
    '0812 3456 7890',
    '6281234567890',
    '+6281234567890',
    '+62 812-3456-7890',
    ' (0812) 3456.7890 ',
    '０８１２３４５６７８９０',
  ]) {
    t.equal(normalizePhone(input), '+6281234567890', input)
  }
  t.equal(normalizePhone('0811234567'), '+62811234567', '10 digits with the 0 is the shortest')
  t.equal(normalizePhone('0812345678901'), '+62812345678901', '13 digits with the 0 is the longest')
})

t.test('refuses what is not an Indonesian mobile number', async (t) => {
  for (const input of [
    '081234567',
    '08123456789012',
    '0221234567',
    '+6521234567',
    '81234567890',
    '0812a4567890',
    '0812\u200b34567890',
    '',
    '+62',
  ]) {
    t.equal(normalizePhone(input), undefined, JSON.stringify(input))
  }
})

t.test('normalises an email address: trimmed, lowercased, IDN domain in ASCII', async (t) => {
  t.equal(normalizeEmail('  Budi.Santoso@Contoh.ID '), 'budi.santoso@contoh.id')
  t.equal(normalizeEmail('siti+mpp@mail.go.id'), 'siti+mpp@mail.go.id')
  t.equal(normalizeEmail('ani@bücher.de'), 'ani@xn--bcher-kva.de')
})

t.test('refuses addresses that are not sane', async (t) => {
  for (const input of [
    'budi',
    'budi@',
    '@contoh.id',
    'budi@contoh',
    'bu di@contoh.id',
    'budi..s@contoh.id',
    '.budi@contoh.id',
    'budi@-contoh.id',
    'budi@contoh.i',
    'a@b@contoh.id',
    `${'a'.repeat(65)}@contoh.id`,
    `budi@${'a'.repeat(250)}.id`,
    'budi@contoh.id\u0000',
  ]) {
    t.equal(normalizeEmail(input), undefined, JSON.stringify(input))
  }
})

t.test('classifies a NIK, an email and a phone number and gives their stored form', async (t) => {
  t.strictSame(classifyIdentifier('3201011201900001'), { kind: 'nik', value: '3201011201900001' })
  t.strictSame(classifyIdentifier(' 3201 0112 0190 0001 '), { kind: 'nik', value: '3201011201900001' })
  const fullWidth = [...'3201011201900001'].map((d) => String.fromCodePoint(0xff10 + Number(d))).join('')
  t.strictSame(classifyIdentifier(fullWidth), { kind: 'nik', value: '3201011201900001' }, 'full-width digits')
  t.strictSame(classifyIdentifier('Budi@Contoh.id'), { kind: 'email', value: 'budi@contoh.id' })
  t.strictSame(classifyIdentifier('0812-3456-7890'), { kind: 'phone', value: '+6281234567890' })
  t.strictSame(
    classifyIdentifier('6281234567890'),
    { kind: 'phone', value: '+6281234567890' },
    '62… is a phone, not a NIK of province 62',
  )
})

t.test('classifies anything else as invalid, including a NIK that fails its structure check', async (t) => {
  for (const input of [
    '',
    'budi',
    '3201011201900000',
    '3201013201900001',
    '320101120190000',
    '32010112019000011',
    '3201\u200b011201900001',
    "' or 1=1 --",
    'x'.repeat(10_000),
    'budi@contoh',
  ]) {
    t.strictSame(classifyIdentifier(input), { kind: 'invalid' }, JSON.stringify(input.slice(0, 40)))
  }
})
