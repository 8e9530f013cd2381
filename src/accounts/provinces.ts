// Province codes as used in the first two digits of a NIK.
//
// Source: the Ministry of Home Affairs' (Kemendagri) code list for administrative regions
// (Kepmendagri No. 100.1.1-6117 Tahun 2022, which added the four provinces created in Papua
// in 2022). These are Kemendagri codes, not BPS (Statistics Indonesia) codes: the two lists
// differ in Papua (BPS numbers Papua Barat 91 and Papua 94), and a NIK uses Kemendagri's.
//
// Why there is no table of former codes: a NIK keeps the region codes of its first
// registration for life (UU 24/2013; PP 37/2007 art. 37 fixes the 16-digit structure), so a
// code must never be refused only because its region was renamed or split later. We looked
// for codes that have left the list:
//   * Renames kept their codes: Irian Jaya became Papua (91) by UU 21/2001, Irian Jaya Barat
//     became Papua Barat (92) by PP 24/2007.
//   * Splits only added codes; the parent codes stay current: Kalimantan Utara (65) from
//     Kalimantan Timur (64) by UU 20/2012; the four 2022 provinces (93–96) from Papua (91)
//     and Papua Barat (92). NIKs registered before a split keep 64/91/92 and stay valid.
//   * The only code that ever disappeared is 54, Timor Timur, which left Indonesia in 1999.
//     NIKs in the 16-digit SIAK structure were issued from the mid-2000s (PP 37/2007) and
//     nationally from 2011, after 1999, so no NIK can carry 54. Older SIMDUK-era KTP numbers
//     used a different code scheme (Jawa Barat was "10", for example); they are not NIKs, and
//     refusing them is right: the citizen should type the NIK printed on their KTP-el or
//     family card (Kartu Keluarga).
// So the set of codes that can appear in a NIK is exactly the current list below. If a real
// NIK with another code ever turns up, add it here with its source rather than loosening the
// check.
export const PROVINCES = {
  '11': 'Aceh',
  '12': 'Sumatera Utara',
  '13': 'Sumatera Barat',
  '14': 'Riau',
  '15': 'Jambi',
  '16': 'Sumatera Selatan',
  '17': 'Bengkulu',
  '18': 'Lampung',
  '19': 'Kepulauan Bangka Belitung',
  '21': 'Kepulauan Riau',
  // UU 2/2024 renames the province "Daerah Khusus Jakarta"; the code stays 31.
  '31': 'DKI Jakarta',
  '32': 'Jawa Barat',
  '33': 'Jawa Tengah',
  '34': 'DI Yogyakarta',
  '35': 'Jawa Timur',
  '36': 'Banten',
  '51': 'Bali',
  '52': 'Nusa Tenggara Barat',
  '53': 'Nusa Tenggara Timur',
  '61': 'Kalimantan Barat',
  '62': 'Kalimantan Tengah',
  '63': 'Kalimantan Selatan',
  '64': 'Kalimantan Timur',
  '65': 'Kalimantan Utara',
  '71': 'Sulawesi Utara',
  '72': 'Sulawesi Tengah',
  '73': 'Sulawesi Selatan',
  '74': 'Sulawesi Tenggara',
  '75': 'Gorontalo',
  '76': 'Sulawesi Barat',
  '81': 'Maluku',
  '82': 'Maluku Utara',
  '91': 'Papua',
  '92': 'Papua Barat',
  // Created in 2022: UU 14/2022, UU 15/2022, UU 16/2022 and UU 29/2022.
  '93': 'Papua Selatan',
  '94': 'Papua Tengah',
  '95': 'Papua Pegunungan',
  '96': 'Papua Barat Daya',
} as const satisfies Record<string, string>

export type ProvinceCode = keyof typeof PROVINCES

// Object.hasOwn rather than `in`, so that inherited keys such as "constructor" never count.
export function isProvinceCode(code: string): code is ProvinceCode {
  return Object.hasOwn(PROVINCES, code)
}

export function provinceName(code: string): string | undefined {
  return isProvinceCode(code) ? PROVINCES[code] : undefined
}
