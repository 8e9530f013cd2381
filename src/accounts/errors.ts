// The one error class of src/accounts. Its `code` is specific (nik_taken, password_weak…)
// so that a form can say exactly what to fix; `appCode` is the registry code of
// src/errors/codes.ts that the HTTP layer answers with (`toAppError()`).

import { AppError } from '../errors/app-error.ts'
import type { ErrorCode } from '../errors/codes.ts'
import { nikErrorMessages, type NikError } from './nik.ts'
import { passwordErrorMessages, type PasswordError } from './password-policy.ts'

export type AccountErrorCode =
  | 'nik_invalid'
  | 'nik_birth_date_mismatch'
  | 'nik_gender_mismatch'
  | 'birth_date_invalid'
  | 'gender_invalid'
  | 'name_invalid'
  | 'email_invalid'
  | 'phone_invalid'
  | 'contact_required'
  | 'password_weak'
  | 'password_too_long'
  | 'nik_taken'
  | 'nik_proven_elsewhere'
  | 'officer_not_allowed'
  | 'email_taken'
  | 'phone_taken'
  | 'username_invalid'
  | 'username_taken'
  | 'roles_invalid'
  | 'agency_required'
  | 'account_not_found'

/** The form field an error is about, so that a page can show the message next to it. */
export type AccountField =
  | 'nik'
  | 'name'
  | 'birthDate'
  | 'gender'
  | 'email'
  | 'phone'
  | 'password'
  | 'username'
  | 'roles'
  | 'agencyId'
  | 'account'

export interface LocalizedMessage {
  readonly id: string
  readonly en: string
}

const definitions: Record<AccountErrorCode, { appCode: ErrorCode; field: AccountField; message: LocalizedMessage }> = {
  nik_invalid: {
    appCode: 'validation_failed',
    field: 'nik',
    message: { id: 'NIK tidak valid. Periksa kembali NIK Anda.', en: 'This NIK is not valid. Please check it.' },
  },
  nik_birth_date_mismatch: {
    appCode: 'validation_failed',
    field: 'birthDate',
    message: {
      id: 'Tanggal lahir tidak sesuai dengan NIK. Periksa kembali tanggal lahir dan NIK Anda; bila keduanya sudah benar, datanglah ke loket MPP.',
      en: 'The date of birth does not match the NIK. Please check both; if both are right, please visit a counter at the MPP.',
    },
  },
  nik_gender_mismatch: {
    appCode: 'validation_failed',
    field: 'gender',
    message: {
      id: 'Jenis kelamin tidak sesuai dengan NIK. Periksa kembali isian Anda; bila sudah benar, datanglah ke loket MPP.',
      en: 'The gender does not match the NIK. Please check what you entered; if it is right, please visit a counter at the MPP.',
    },
  },
  birth_date_invalid: {
    appCode: 'validation_failed',
    field: 'birthDate',
    message: { id: 'Tanggal lahir tidak valid.', en: 'This date of birth is not valid.' },
  },
  gender_invalid: {
    appCode: 'validation_failed',
    field: 'gender',
    message: { id: 'Pilih jenis kelamin: perempuan atau laki-laki.', en: 'Choose a gender: female or male.' },
  },
  name_invalid: {
    appCode: 'validation_failed',
    field: 'name',
    message: {
      id: "Nama harus 1–100 karakter dan hanya berisi huruf, spasi, titik, tanda hubung (-) atau apostrof ('). Tulis nama seperti di KTP-el.",
      en: "A name has 1–100 characters: letters, spaces, full stops, hyphens (-) or apostrophes ('). Write it as on your KTP-el.",
    },
  },
  email_invalid: {
    appCode: 'validation_failed',
    field: 'email',
    message: {
      id: 'Alamat email tidak valid. Contoh: nama@contoh.id',
      en: 'This email address is not valid. Example: name@example.id',
    },
  },
  phone_invalid: {
    appCode: 'validation_failed',
    field: 'phone',
    message: {
      id: 'Nomor HP tidak valid. Tulis nomor HP Indonesia, misalnya 0812-3456-7890.',
      en: 'This mobile number is not valid. Enter an Indonesian mobile number, such as 0812-3456-7890.',
    },
  },
  contact_required: {
    appCode: 'validation_failed',
    field: 'email',
    message: {
      id: 'Isi alamat email atau nomor HP (atau keduanya), agar kami dapat mengirim kode verifikasi.',
      en: 'Enter an email address or a mobile number (or both), so that we can send you a verification code.',
    },
  },
  password_weak: {
    appCode: 'validation_failed',
    field: 'password',
    message: {
      id: 'Kata sandi ini tidak dapat dipakai. Pilih kata sandi lain.',
      en: 'This password cannot be used. Please choose another.',
    },
  },
  password_too_long: {
    appCode: 'payload_too_large',
    field: 'password',
    message: passwordErrorMessages.too_long,
  },
  nik_taken: {
    appCode: 'conflict',
    field: 'nik',
    message: {
      id: 'NIK ini sudah terdaftar. Silakan masuk, atau atur ulang kata sandi bila Anda lupa. Bila Anda tidak pernah mendaftar, datanglah ke loket MPP.',
      en: 'This NIK is already registered. Please sign in, or reset your password if you forgot it. If you never registered, please visit a counter at the MPP.',
    },
  },
  nik_proven_elsewhere: {
    appCode: 'conflict',
    field: 'nik',
    message: {
      id: 'NIK ini sudah terverifikasi pada akun lain. Verifikasi tidak dapat dipindahkan di loket; hubungi administrator Satu Pintu.',
      en: 'This NIK is already verified on another account. A verification cannot be moved at the counter; contact the Satu Pintu administrator.',
    },
  },
  officer_not_allowed: {
    appCode: 'forbidden',
    field: 'account',
    message: {
      id: 'Hanya petugas loket yang aktif yang dapat memverifikasi identitas.',
      en: 'Only an active counter officer can verify an identity.',
    },
  },
  email_taken: {
    appCode: 'conflict',
    field: 'email',
    message: {
      id: 'Alamat email ini sudah dipakai akun lain. Gunakan alamat lain, atau masuk dengan akun tersebut.',
      en: 'This email address is already used by another account. Use another address, or sign in with that account.',
    },
  },
  phone_taken: {
    appCode: 'conflict',
    field: 'phone',
    message: {
      id: 'Nomor HP ini sudah dipakai akun lain. Gunakan nomor lain, atau masuk dengan akun tersebut.',
      en: 'This mobile number is already used by another account. Use another number, or sign in with that account.',
    },
  },
  username_invalid: {
    appCode: 'validation_failed',
    field: 'username',
    message: {
      id: 'Nama pengguna harus 3–64 karakter: huruf kecil, angka, titik, garis bawah atau tanda hubung.',
      en: 'A username has 3–64 characters: lowercase letters, digits, full stops, underscores or hyphens.',
    },
  },
  username_taken: {
    appCode: 'conflict',
    field: 'username',
    message: { id: 'Nama pengguna ini sudah dipakai.', en: 'This username is already taken.' },
  },
  roles_invalid: {
    appCode: 'validation_failed',
    field: 'roles',
    message: {
      id: 'Pilih minimal satu peran: petugas loket, admin instansi, atau admin sistem.',
      en: 'Choose at least one role: counter officer, agency admin or system admin.',
    },
  },
  agency_required: {
    appCode: 'validation_failed',
    field: 'agencyId',
    message: {
      id: 'Admin instansi harus terhubung dengan satu instansi.',
      en: 'An agency admin must belong to an agency.',
    },
  },
  account_not_found: {
    appCode: 'not_found',
    field: 'account',
    message: { id: 'Akun tidak ditemukan.', en: 'The account was not found.' },
  },
}

/** The more precise reason behind `nik_invalid` or `password_weak`. */
export type AccountErrorReason = NikError | PasswordError

export class AccountError extends Error {
  readonly code: AccountErrorCode
  readonly field: AccountField
  readonly reason: AccountErrorReason | undefined
  /** Plain-language messages for the citizen, Bahasa Indonesia and English. */
  readonly messages: LocalizedMessage
  readonly appCode: ErrorCode

  constructor(code: AccountErrorCode, options: { reason?: AccountErrorReason; cause?: unknown } = {}) {
    const def = definitions[code]
    const messages = reasonMessage(code, options.reason) ?? def.message
    super(messages.en, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AccountError'
    this.code = code
    this.field = def.field
    this.reason = options.reason
    this.messages = messages
    this.appCode = def.appCode
  }

  /** The registry error the HTTP layer answers with; `details` says which field and why. */
  toAppError(): AppError {
    const details: Record<string, unknown> = { field: this.field, code: this.code }
    if (this.reason !== undefined) details.reason = this.reason
    return new AppError(this.appCode, this.messages.en, { cause: this, details })
  }
}

function reasonMessage(code: AccountErrorCode, reason: AccountErrorReason | undefined): LocalizedMessage | undefined {
  if (reason === undefined) return undefined
  if (code === 'nik_invalid' && reason in nikErrorMessages) return nikErrorMessages[reason as NikError]
  if (code === 'password_weak' && reason in passwordErrorMessages) return passwordErrorMessages[reason as PasswordError]
  return undefined
}

export function isAccountError(err: unknown): err is AccountError {
  return err instanceof AccountError
}

export const accountErrorMessages: Readonly<Record<AccountErrorCode, LocalizedMessage>> = Object.fromEntries(
  Object.entries(definitions).map(([code, def]) => [code, def.message]),
) as Record<AccountErrorCode, LocalizedMessage>
