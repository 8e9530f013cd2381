import t from 'tap'
import { calendarDate, clockTime, dateTime, groupByDay, isoDateInWords } from '../../src/idp/times.ts'

const at = new Date('2026-01-12T07:05:00Z')

t.test('a moment is shown in the regency’s own zone, named as people there name it', async (t) => {
  t.equal(dateTime(at, 'id', 'Asia/Jakarta'), '12 Januari 2026 pukul 14.05 WIB')
  t.equal(dateTime(at, 'en', 'Asia/Jakarta'), '12 January 2026 at 14:05 WIB')
  t.equal(dateTime(at, 'id', 'Asia/Makassar'), '12 Januari 2026 pukul 15.05 WITA')
  t.equal(dateTime(at, 'id', 'Asia/Jayapura'), '12 Januari 2026 pukul 16.05 WIT')
  t.equal(clockTime(at, 'id', 'Asia/Makassar'), '15.05 WITA')
})

t.test('a calendar day follows the regency’s zone, not UTC', async (t) => {
  const lateEvening = new Date('2026-01-12T16:30:00Z') // 23.30 WIB, already 13 January in WIT
  t.equal(calendarDate(lateEvening, 'id', 'Asia/Jakarta'), '12 Januari 2026')
  t.equal(calendarDate(lateEvening, 'id', 'Asia/Jayapura'), '13 Januari 2026')
  const groups = groupByDay([lateEvening, at], (d) => d, 'id', 'Asia/Jayapura')
  t.same(
    groups.map((g) => g.heading),
    ['Selasa, 13 Januari 2026', 'Senin, 12 Januari 2026'],
  )
})

t.test('a date without a time is read as that date wherever the server is', async (t) => {
  t.equal(isoDateInWords('2001-01-12', 'id'), '12 Januari 2001')
  t.equal(isoDateInWords('not a date', 'id'), 'not a date')
})
