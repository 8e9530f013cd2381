import type { Locale } from '../http/locale.ts'

/**
 * Every date and time a citizen reads, in one place: in the regency's own zone
 * (`regency.timeZone`), named as people there name it (WIB, WITA, WIT).
 */

function intlLocale(locale: Locale): string {
  return locale === 'id' ? 'id-ID' : 'en-GB'
}

/** "12 Januari 2026 pukul 14.05 WIB" / "12 January 2026 at 14:05 WIB". */
export function dateTime(d: Date, locale: Locale, timeZone: string): string {
  const time = new Intl.DateTimeFormat(intlLocale(locale), {
    timeZone,
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(d)
  return `${time} ${zoneName(timeZone)}`
}

/** "12 Januari 2026": the calendar day of `d` in the regency's zone. */
export function calendarDate(d: Date, locale: Locale, timeZone: string): string {
  return new Intl.DateTimeFormat(intlLocale(locale), {
    timeZone,
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d)
}

/** A date without a time (a birth date, "2001-01-12") as words; the text itself if it is not one. */
export function isoDateInWords(isoDate: string, locale: Locale): string {
  const d = new Date(`${isoDate}T00:00:00Z`)
  if (Number.isNaN(d.getTime())) return isoDate
  return new Intl.DateTimeFormat(intlLocale(locale), { timeZone: 'UTC', dateStyle: 'long' }).format(d)
}

const zoneNames: Readonly<Record<string, string>> = {
  'Asia/Jakarta': 'WIB',
  'Asia/Pontianak': 'WIB',
  'Asia/Makassar': 'WITA',
  'Asia/Jayapura': 'WIT',
}

/** "WIB", "WITA" or "WIT": the regency's zone as people there name it. */
export function zoneName(timeZone: string): string {
  return zoneNames[timeZone] ?? timeZone
}

/** The calendar day of `d` in the regency's zone, as a sortable key ("2026-12-02"). */
export function dayKey(d: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d)
}

/** "Rabu, 2 Desember 2026" / "Wednesday, 2 December 2026". */
export function dayHeading(d: Date, locale: Locale, timeZone: string): string {
  return new Intl.DateTimeFormat(intlLocale(locale), {
    timeZone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d)
}

/** "14.05 WIB" / "14:05 WIB". */
export function clockTime(d: Date, locale: Locale, timeZone: string): string {
  const time = new Intl.DateTimeFormat(intlLocale(locale), {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(d)
  return `${time} ${zoneName(timeZone)}`
}

/** Items grouped under their day, newest day first (the items come newest first). */
export function groupByDay<T>(
  items: readonly T[],
  at: (item: T) => Date,
  locale: Locale,
  timeZone: string,
): { day: string; heading: string; items: T[] }[] {
  const groups: { day: string; heading: string; items: T[] }[] = []
  for (const item of items) {
    const d = at(item)
    const day = dayKey(d, timeZone)
    const last = groups[groups.length - 1]
    if (last !== undefined && last.day === day) last.items.push(item)
    else groups.push({ day, heading: dayHeading(d, locale, timeZone), items: [item] })
  }
  return groups
}
