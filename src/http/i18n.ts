import type { Locale } from './locale.ts'

/**
 * A message catalogue: the same keys in every locale. Messages are plain text with
 * `{name}` placeholders; templates escape them, so they never contain HTML.
 */
export type Messages = Readonly<Record<string, string>>

export type Catalogue<M extends Messages = Messages> = {
  readonly id: M
  readonly en: { readonly [K in keyof M]: string }
}

/** The placeholder names in a message literal: `'Hi {name}, {n} new'` → `'name' | 'n'`. */
export type ParamNames<S extends string> = S extends `${string}{${infer P}}${infer Rest}` ? P | ParamNames<Rest> : never

export type ParamValue = string | number

/** Arguments after the key: none for a message without placeholders, else all of them. */
export type ParamsArg<S extends string> = string extends S
  ? [params?: Readonly<Record<string, ParamValue>>]
  : [ParamNames<S>] extends [never]
    ? []
    : [params: Readonly<Record<ParamNames<S>, ParamValue>>]

export type Translate<M extends Messages = Messages> = {
  <K extends keyof M & string>(key: K, ...params: ParamsArg<M[K]>): string
  /** For templates, which are not type-checked: does the catalogue have this key? */
  has(key: string): key is keyof M & string
  readonly locale: Locale
}

const placeholder = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g
// A tag-like sequence: messages are text, markup belongs in templates.
const markup = /<[A-Za-z/!?]/

/**
 * Declares a catalogue. The type of `en` is derived from `id`, so a key missing from
 * either locale, or only in one, fails to compile. The same rules are checked at run
 * time (for catalogues built in plain JS or merged), together with matching
 * placeholders and the absence of markup, so a mistake stops start-up instead of
 * showing a citizen a half-translated page.
 */
export function defineMessages<const M extends Record<string, string>>(messages: {
  id: M
  en: { readonly [K in keyof M]: string }
}): Catalogue<M> {
  checkCatalogue(messages)
  return Object.freeze({ id: Object.freeze({ ...messages.id }), en: Object.freeze({ ...messages.en }) })
}

/** Joins catalogues (shared + a service's own); a key defined twice is refused. */
export function mergeMessages<A extends Messages, B extends Messages>(
  a: Catalogue<A>,
  b: Catalogue<B>,
): Catalogue<A & B> {
  for (const key of Object.keys(b.id)) {
    if (Object.hasOwn(a.id, key)) throw new Error(`i18n: message "${key}" is defined twice`)
  }
  const merged = { id: { ...a.id, ...b.id }, en: { ...a.en, ...b.en } }
  checkCatalogue(merged)
  return Object.freeze(merged) as unknown as Catalogue<A & B>
}

function checkCatalogue(messages: { id: Messages; en: Messages }): void {
  const idKeys = Object.keys(messages.id)
  const enKeys = new Set(Object.keys(messages.en))
  for (const key of idKeys) {
    if (!enKeys.has(key)) throw new Error(`i18n: message "${key}" has no "en" text`)
    enKeys.delete(key)
  }
  for (const key of enKeys) throw new Error(`i18n: message "${key}" has no "id" text`)
  for (const key of idKeys) {
    const id = messages.id[key] ?? ''
    const en = messages.en[key] ?? ''
    for (const [locale, text] of [
      ['id', id],
      ['en', en],
    ] as const) {
      if (markup.test(text)) throw new Error(`i18n: message "${key}" (${locale}) contains markup`)
    }
    const idParams = [...id.matchAll(placeholder)]
      .map((m) => m[1])
      .sort()
      .join(',')
    const enParams = [...en.matchAll(placeholder)]
      .map((m) => m[1])
      .sort()
      .join(',')
    if (idParams !== enParams) {
      throw new Error(`i18n: message "${key}" has placeholders {${idParams}} in "id" but {${enParams}} in "en"`)
    }
  }
}

/**
 * Returns `t(key, params?)` for one locale. A missing key or placeholder value throws:
 * templates are not type-checked, and a visible `{name}` or key on a citizen's page is
 * worse than a failing test.
 */
export function translator<M extends Messages>(messages: Catalogue<M>, locale: Locale): Translate<M> {
  const table: Messages = messages[locale]
  const t = (key: string, params?: Readonly<Record<string, ParamValue>>): string => {
    const text = Object.hasOwn(table, key) ? table[key] : undefined
    if (text === undefined) throw new Error(`i18n: no message "${key}"`)
    return text.replace(placeholder, (_match, name: string) => {
      const value = params && Object.hasOwn(params, name) ? params[name] : undefined
      if (value === undefined) throw new Error(`i18n: message "${key}" needs a value for {${name}}`)
      return String(value)
    })
  }
  const has = (key: string): boolean => Object.hasOwn(table, key)
  // The typed call signature (a conditional rest parameter per key) cannot be written
  // on the implementation; the run-time checks above enforce the same contract.
  return Object.assign(t, { has, locale }) as unknown as Translate<M>
}

/**
 * The HTTP statuses that have their own error page text; error.eta shows the general
 * 400 or 500 text for any other status.
 */
export const errorPageStatuses = [400, 401, 403, 404, 405, 410, 413, 415, 429, 500, 502, 503, 504] as const

export type ErrorPageStatus = (typeof errorPageStatuses)[number]

/** Messages used by the shared layout, the error page and the form partials. */
export const commonMessages = defineMessages({
  id: {
    'site.name': 'Satu Pintu — MPP Digital',
    'site.official': 'Situs resmi Pemerintah Kabupaten {name}',
    'site.regency': 'Kabupaten {name}',
    'layout.skipToContent': 'Langsung ke isi utama',
    'layout.languageSwitch': 'Pilih bahasa',
    'layout.languageId': 'Bahasa Indonesia',
    'layout.languageEn': 'English',
    'footer.owner': 'Mal Pelayanan Publik Digital, Pemerintah Kabupaten {name}',
    'footer.safety':
      'Petugas kami tidak pernah meminta kata sandi atau kode verifikasi Anda, baik lewat telepon, SMS, maupun WhatsApp.',
    'form.optional': '(tidak wajib)',
    'form.errorPrefix': 'Kesalahan:',
    'alert.errorTitle': 'Ada yang perlu diperbaiki',
    'error.reference': 'Kode referensi',
    'error.referenceHint': 'Sebutkan kode ini kepada petugas jika Anda meminta bantuan.',
    'error.home': 'Kembali ke beranda',
    'error.400.title': 'Permintaan tidak dapat diproses',
    'error.400.text': 'Ada isian atau tautan yang tidak lengkap atau tidak sesuai. Silakan kembali dan coba lagi.',
    'error.401.title': 'Silakan masuk terlebih dahulu',
    'error.401.text': 'Untuk membuka halaman ini, Anda perlu masuk dengan akun Satu Pintu Anda.',
    'error.403.title': 'Anda tidak memiliki akses ke halaman ini',
    'error.403.text':
      'Akun Anda tidak diizinkan membuka halaman ini. Jika menurut Anda ini keliru, hubungi petugas di loket layanan.',
    'error.404.title': 'Halaman tidak ditemukan',
    'error.404.text':
      'Alamat yang Anda buka tidak ada atau sudah dipindahkan. Periksa kembali alamatnya, atau mulai dari beranda.',
    'error.405.title': 'Halaman tidak dapat dibuka dengan cara ini',
    'error.405.text': 'Permintaan ini tidak didukung oleh halaman tersebut. Silakan mulai lagi dari beranda.',
    'error.410.title': 'Sudah tidak tersedia',
    'error.410.text':
      'Yang Anda buka sudah berakhir atau dihapus, misalnya tautan yang kedaluwarsa atau dokumen yang sudah dihapus. Mulai lagi dari beranda.',
    'error.413.title': 'Berkas terlalu besar',
    'error.413.text':
      'Berkas atau isian yang Anda kirim melebihi ukuran yang diizinkan. Perkecil ukuran berkas, misalnya foto atau hasil pindai dengan resolusi lebih rendah, lalu coba lagi.',
    'error.415.title': 'Jenis berkas atau isian tidak didukung',
    'error.415.text':
      'Halaman ini tidak menerima bentuk kiriman tersebut. Untuk dokumen, kirim berkas PDF, JPEG, atau PNG melalui formulir unggah.',
    'error.429.title': 'Terlalu banyak percobaan',
    'error.429.text':
      'Anda mencoba terlalu sering dalam waktu singkat. Demi keamanan akun Anda, tunggu beberapa menit, lalu coba lagi.',
    'error.500.title': 'Terjadi gangguan pada sistem kami',
    'error.500.text': 'Maaf, ini kesalahan di pihak kami, bukan kesalahan Anda. Silakan coba lagi beberapa saat lagi.',
    'error.502.title': 'Layanan instansi sedang bermasalah',
    'error.502.text':
      'Sistem instansi yang Anda tuju memberikan jawaban yang tidak semestinya. Silakan coba lagi beberapa saat lagi.',
    'error.503.title': 'Layanan sedang tidak tersedia',
    'error.503.text':
      'Layanan sedang dalam pemeliharaan atau sedang sangat sibuk. Silakan coba lagi beberapa saat lagi.',
    'error.504.title': 'Layanan instansi terlalu lama menjawab',
    'error.504.text':
      'Sistem instansi yang Anda tuju tidak menjawab tepat waktu. Jika Anda baru saja mengirim formulir, periksa dulu apakah sudah tercatat sebelum mengirim ulang.',
  },
  en: {
    'site.name': 'Satu Pintu — MPP Digital',
    'site.official': 'An official website of the {name} Regency Government',
    'site.regency': '{name} Regency',
    'layout.skipToContent': 'Skip to main content',
    'layout.languageSwitch': 'Choose language',
    'layout.languageId': 'Bahasa Indonesia',
    'layout.languageEn': 'English',
    'footer.owner': 'Digital Public Service Mall, {name} Regency Government',
    'footer.safety':
      'Our officers never ask for your password or verification code, whether by phone, SMS or WhatsApp.',
    'form.optional': '(optional)',
    'form.errorPrefix': 'Error:',
    'alert.errorTitle': 'There is a problem',
    'error.reference': 'Reference code',
    'error.referenceHint': 'Quote this code to an officer if you ask for help.',
    'error.home': 'Back to the home page',
    'error.400.title': 'We could not process your request',
    'error.400.text': 'Something in the form or link was incomplete or not valid. Please go back and try again.',
    'error.401.title': 'Please sign in first',
    'error.401.text': 'You need to sign in with your Satu Pintu account to open this page.',
    'error.403.title': 'You do not have access to this page',
    'error.403.text':
      'Your account is not allowed to open this page. If you think this is a mistake, ask an officer at the service counter.',
    'error.404.title': 'Page not found',
    'error.404.text':
      'The address you opened does not exist or has moved. Check the address, or start again from the home page.',
    'error.405.title': 'This page cannot be opened this way',
    'error.405.text': 'This page does not support that kind of request. Please start again from the home page.',
    'error.410.title': 'No longer available',
    'error.410.text':
      'What you opened has ended or been deleted, for example an expired link or a deleted document. Start again from the home page.',
    'error.413.title': 'The file is too large',
    'error.413.text':
      'The file or form you sent is larger than allowed. Make the file smaller, for example a photo or scan at a lower resolution, then try again.',
    'error.415.title': 'This kind of file or form is not supported',
    'error.415.text':
      'This page does not accept what was sent. For documents, send a PDF, JPEG or PNG file through the upload form.',
    'error.429.title': 'Too many attempts',
    'error.429.text':
      'You have tried too often in a short time. To keep your account safe, wait a few minutes, then try again.',
    'error.500.title': 'Something went wrong on our side',
    'error.500.text':
      'Sorry, this is a fault in our system, not something you did. Please try again in a little while.',
    'error.502.title': 'The agency service is having problems',
    'error.502.text':
      'The agency system you are trying to reach gave an unexpected answer. Please try again in a little while.',
    'error.503.title': 'The service is not available right now',
    'error.503.text': 'The service is under maintenance or very busy. Please try again in a little while.',
    'error.504.title': 'The agency service took too long to answer',
    'error.504.text':
      'The agency system you are trying to reach did not answer in time. If you just sent a form, check whether it was recorded before sending it again.',
  },
})
