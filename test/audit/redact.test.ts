import t from 'tap'
import { maskNik, maskNiksIn } from '../../src/audit/redact.ts'

const MALE = '3201011201900001'

t.test('masks a NIK to its first four and last four digits', async (t) => {
  t.equal(maskNik(MALE), '3201********0001')
  t.equal(maskNik('３２０１ ０１１２ ０１９０ ０００１'), '3201********0001', 'normalised first')
})

t.test('never shows the district or birth date digits when masking', async (t) => {
  const masked = maskNik('9512345678901234')
  t.equal(masked.length, 16)
  t.equal(masked.slice(4, 12), '********')
  t.notMatch(masked, /345678/)
})

t.test('masks anything that is not a well-formed NIK completely', async (t) => {
  for (const input of ['hunter2', '320101120190000', 'my password is 3201011201900001', '']) {
    t.equal(maskNik(input), '****************', JSON.stringify(input))
  }
})

t.test('masks NIK-shaped runs inside text, grouped or not, but not longer digit runs', async (t) => {
  t.equal(maskNiksIn('nik3201011201900001 ok'), 'nik3201********0001 ok')
  t.equal(maskNiksIn('KTP 3201 0112 0190 0001.'), 'KTP 3201********0001.')
  t.equal(maskNiksIn('320101-120190-0001'), '3201********0001')
  t.equal(maskNiksIn('id 12345678901234567890'), 'id 12345678901234567890')
})
