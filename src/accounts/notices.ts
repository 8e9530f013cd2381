// Notices: what the citizen is told about their own account, so that a change they did
// not make cannot go unnoticed (NIST SP 800-63B-4 sec. 4.6 "notification of
// authenticator changes"; OWASP ASVS 5.0 V6.3.7 / V6.4.4 "notify the user after updates
// to authentication details"; UU PDP No. 27/2022 art. 7: the citizen may know who
// accessed their data).
//
// A notice is written to the transactional outbox in the caller's transaction: pass the
// transaction as `db`, so that a notice exists exactly when the change it reports does.
// The worker (src/delivery/worker.ts) delivers it.
//
// Who gets it: only *verified* contacts (docs/security.md line 37 — an unverified address may
// belong to someone else). An `urgent` notice (a credential changed) goes to every
// verified contact; the others to the verified e-mail, or the verified phone when there
// is no verified e-mail (an SMS costs the regency money). A contact change is sent to the
// *old* contact, which the caller names in `to`.
//
// Wording: Bahasa Indonesia first, English when the citizen chose it
// (notice_preferences.locale). E-mail as plain text plus simple HTML; SMS short (one
// 160-character segment where the data allows it). Nothing in a notice is a secret: it
// never carries a code, a password, a token or a NIK.

import type { Kysely } from 'kysely'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import type { OutboxChannel, OutboxLocale } from '../db/tables/outbox.ts'
import { databaseOutbox, type OutboxLogger } from './outbox.ts'

export type NoticeLocale = OutboxLocale

/** The data each kind of notice reports. Times are instants; they are shown in `timeZone`. */
export interface NoticeData {
  password_changed: { readonly at: Date }
  password_reset: { readonly at: Date }
  new_device_sign_in: { readonly at: Date; readonly device: string }
  second_factor_added: { readonly at: Date; readonly factor: SecondFactorName }
  second_factor_removed: { readonly at: Date; readonly factor: SecondFactorName }
  /**
   * No name: the new name is whatever the person with the session typed, and a notice from
   * the regency must not carry a stranger's words ("call this number…") to the owner.
   */
  passkey_renamed: { readonly at: Date }
  recovery_code_used: { readonly at: Date; readonly left: number }
  recovery_codes_renewed: { readonly at: Date }
  contact_changed: { readonly at: Date; readonly field: 'email' | 'phone'; readonly newContact: string | null }
  /** officer: the officer's name, or null for a system administrator (the CLI). */
  officer_lookup: { readonly at: Date; readonly officer: string | null; readonly reason: string }
  documents_fetched_digest: { readonly day: string; readonly fetches: readonly DocumentFetchSummary[] }
  sign_in_attempts: { readonly since: Date; readonly failures: number; readonly locked: boolean }
  /** An officer checked the KTP-el in person: the account holds its NIK now. Location in words. */
  identity_proven: { readonly at: Date; readonly location: string | null }
  /** Another account proved this account's NIK in person: the claim on it is gone. */
  nik_withdrawn: { readonly at: Date }
}

export type NoticeKind = keyof NoticeData

export type SecondFactorName = 'totp' | 'passkey' | 'sms' | 'recovery_codes'

export interface DocumentFetchSummary {
  readonly agency: string
  readonly document: string
  readonly count: number
}

interface KindSpec {
  /** To every verified contact, not only the preferred one. */
  readonly urgent: boolean
  /** The citizen may turn it off (only the digest: a security notice cannot be). */
  readonly optional: boolean
  readonly description: string
}

/** The catalogue: every kind, whether it is urgent, whether the citizen may opt out. */
export const noticeKinds: { readonly [K in NoticeKind]: KindSpec } = Object.freeze({
  password_changed: { urgent: true, optional: false, description: 'The password was changed from Akun Saya.' },
  password_reset: { urgent: true, optional: false, description: 'The password was set again with a reset code.' },
  new_device_sign_in: {
    urgent: false,
    optional: false,
    description: 'A sign-in from a device (browser) not seen before on this account.',
  },
  second_factor_added: {
    urgent: true,
    optional: false,
    description: 'A second factor (authenticator app, passkey…) was added.',
  },
  second_factor_removed: { urgent: true, optional: false, description: 'A second factor was removed.' },
  passkey_renamed: { urgent: false, optional: false, description: 'A passkey was given a new name.' },
  recovery_code_used: {
    urgent: true,
    optional: false,
    description: 'A recovery code was used to sign in in place of the second factor; says how many are left.',
  },
  recovery_codes_renewed: {
    urgent: true,
    optional: false,
    description: 'A new set of recovery codes was made; the old codes no longer work.',
  },
  contact_changed: {
    urgent: true,
    optional: false,
    description: 'The e-mail address or phone number was changed; sent to the old one.',
  },
  officer_lookup: {
    urgent: false,
    optional: false,
    description: 'An officer or administrator looked the account up, with the reason given.',
  },
  documents_fetched_digest: {
    urgent: false,
    optional: true,
    description: 'Daily: which agencies fetched which documents (the citizen may turn it off).',
  },
  sign_in_attempts: {
    urgent: false,
    optional: false,
    description: 'Failed sign-in attempts on the account, and whether it is locked for a while.',
  },
  identity_proven: {
    urgent: true,
    optional: false,
    description: "An officer checked the citizen's KTP-el in person: the NIK is verified on this account.",
  },
  nik_withdrawn: {
    urgent: true,
    optional: false,
    description:
      "The account's NIK was verified in person on another account: this account no longer carries it, and where to go if the NIK is the citizen's.",
  },
})

export interface RenderedNotice {
  readonly subject: string
  /** E-mail text part. */
  readonly text: string
  /** E-mail HTML part. */
  readonly html: string
  /** SMS text. */
  readonly sms: string
}

export interface RenderOptions {
  /** IANA time zone the times are shown in (the regency's: WIB, WITA or WIT). */
  readonly timeZone?: string
  /** Base URL of the idp, for the link to Akun Saya. */
  readonly issuer?: string
}

interface Parts {
  readonly subject: string
  /** The paragraphs of the message (plain text). */
  readonly lines: readonly string[]
  /** A list under the first paragraph (the digest). */
  readonly list?: readonly string[]
  readonly sms: string
  /** Ends with "if this was not you…". */
  readonly ifNotYou: boolean
}

const factorNames: Record<NoticeLocale, Record<SecondFactorName, string>> = {
  id: { totp: 'aplikasi autentikator', passkey: 'passkey', sms: 'kode SMS', recovery_codes: 'kode pemulihan' },
  en: { totp: 'authenticator app', passkey: 'passkey', sms: 'SMS code', recovery_codes: 'recovery codes' },
}

function formatTime(at: Date, locale: NoticeLocale, timeZone: string): string {
  return (
    new Intl.DateTimeFormat(locale === 'id' ? 'id-ID' : 'en-GB', {
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZone,
      timeZoneName: 'short',
    })
      .format(at)
      // English ICU data names Indonesia's zones by offset; people there say WIB, WITA, WIT.
      .replace(/GMT\+7$/, 'WIB')
      .replace(/GMT\+8$/, 'WITA')
      .replace(/GMT\+9$/, 'WIT')
  )
}

/** The wording of each kind, per language. */
function parts<K extends NoticeKind>(kind: K, data: NoticeData[K], locale: NoticeLocale, timeZone: string): Parts {
  const id = locale === 'id'
  const d = data as NoticeData[NoticeKind]
  const when = 'at' in d ? formatTime(d.at, locale, timeZone) : ''
  switch (kind) {
    case 'password_changed':
      return id
        ? {
            subject: 'Kata sandi Satu Pintu Anda diganti',
            lines: [`Kata sandi akun Satu Pintu Anda diganti pada ${when}.`],
            sms: `Satu Pintu: kata sandi Anda diganti ${when}. Bukan Anda? Atur ulang kata sandi segera.`,
            ifNotYou: true,
          }
        : {
            subject: 'Your Satu Pintu password was changed',
            lines: [`The password of your Satu Pintu account was changed on ${when}.`],
            sms: `Satu Pintu: your password was changed ${when}. Not you? Reset it now.`,
            ifNotYou: true,
          }
    case 'password_reset':
      return id
        ? {
            subject: 'Kata sandi Satu Pintu Anda diatur ulang',
            lines: [
              `Kata sandi akun Satu Pintu Anda diatur ulang dengan kode pada ${when}. Anda telah keluar dari semua perangkat.`,
            ],
            sms: `Satu Pintu: kata sandi Anda diatur ulang ${when}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'Your Satu Pintu password was reset',
            lines: [
              `The password of your Satu Pintu account was reset with a code on ${when}. You were signed out on every device.`,
            ],
            sms: `Satu Pintu: your password was reset ${when}. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    case 'new_device_sign_in': {
      const { device } = d as NoticeData['new_device_sign_in']
      return id
        ? {
            subject: 'Masuk dari perangkat baru',
            lines: [
              `Akun Satu Pintu Anda digunakan untuk masuk dari perangkat baru (${device}) pada ${when}.`,
              'Bila itu Anda, pesan ini boleh diabaikan.',
            ],
            sms: `Satu Pintu: masuk dari perangkat baru ${when}. Bukan Anda? Ganti kata sandi.`,
            ifNotYou: true,
          }
        : {
            subject: 'Sign-in from a new device',
            lines: [
              `Your Satu Pintu account was used to sign in from a new device (${device}) on ${when}.`,
              'If this was you, you can ignore this message.',
            ],
            sms: `Satu Pintu: sign-in from a new device ${when}. Not you? Change your password.`,
            ifNotYou: true,
          }
    }
    case 'second_factor_added': {
      const factor = factorNames[locale][(d as NoticeData['second_factor_added']).factor]
      return id
        ? {
            subject: 'Faktor kedua ditambahkan',
            lines: [`Faktor kedua (${factor}) ditambahkan ke akun Satu Pintu Anda pada ${when}.`],
            sms: `Satu Pintu: ${factor} ditambahkan ke akun Anda ${when}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'A second factor was added',
            lines: [`A second factor (${factor}) was added to your Satu Pintu account on ${when}.`],
            sms: `Satu Pintu: ${factor} added to your account ${when}. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    }
    case 'second_factor_removed': {
      const factor = factorNames[locale][(d as NoticeData['second_factor_removed']).factor]
      return id
        ? {
            subject: 'Faktor kedua dihapus',
            lines: [`Faktor kedua (${factor}) dihapus dari akun Satu Pintu Anda pada ${when}.`],
            sms: `Satu Pintu: ${factor} dihapus dari akun Anda ${when}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'A second factor was removed',
            lines: [`A second factor (${factor}) was removed from your Satu Pintu account on ${when}.`],
            sms: `Satu Pintu: ${factor} removed from your account ${when}. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    }
    case 'passkey_renamed':
      return id
        ? {
            subject: 'Nama passkey diganti',
            lines: [`Sebuah passkey di akun Satu Pintu Anda diberi nama baru pada ${when}.`],
            sms: `Satu Pintu: nama passkey di akun Anda diganti ${when}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'A passkey was renamed',
            lines: [`A passkey on your Satu Pintu account was given a new name on ${when}.`],
            sms: `Satu Pintu: a passkey on your account was renamed ${when}. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    case 'recovery_code_used': {
      const { left } = d as NoticeData['recovery_code_used']
      return id
        ? {
            subject: 'Kode pemulihan dipakai untuk masuk',
            lines: [
              `Sebuah kode pemulihan dipakai untuk masuk ke akun Satu Pintu Anda pada ${when}. Sisa kode pemulihan: ${left}.`,
              'Bila ponsel dengan aplikasi autentikator hilang, pasang faktor kedua baru di Akun Saya → Keamanan, lalu buat kode pemulihan baru.',
            ],
            sms: `Satu Pintu: kode pemulihan dipakai untuk masuk ${when}, sisa ${left}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'A recovery code was used to sign in',
            lines: [
              `A recovery code was used to sign in to your Satu Pintu account on ${when}. Recovery codes left: ${left}.`,
              'If the phone with your authenticator app is lost, set up a new second factor in My Account → Security, then make new recovery codes.',
            ],
            sms: `Satu Pintu: a recovery code was used to sign in ${when}, ${left} left. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    }
    case 'recovery_codes_renewed':
      return id
        ? {
            subject: 'Kode pemulihan baru dibuat',
            lines: [
              `Kode pemulihan baru dibuat untuk akun Satu Pintu Anda pada ${when}. Kode pemulihan yang lama tidak berlaku lagi.`,
            ],
            sms: `Satu Pintu: kode pemulihan baru dibuat ${when}; kode lama tidak berlaku. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'New recovery codes were made',
            lines: [
              `New recovery codes were made for your Satu Pintu account on ${when}. The old recovery codes no longer work.`,
            ],
            sms: `Satu Pintu: new recovery codes made ${when}; old ones no longer work. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    case 'contact_changed': {
      const { field, newContact } = d as NoticeData['contact_changed']
      const what = id
        ? field === 'email'
          ? 'Alamat e-mail'
          : 'Nomor ponsel'
        : field === 'email'
          ? 'The e-mail address'
          : 'The phone number'
      const to =
        newContact === null
          ? id
            ? 'dihapus'
            : 'removed'
          : id
            ? `diganti menjadi ${newContact}`
            : `changed to ${newContact}`
      return id
        ? {
            subject: `${what} akun Satu Pintu diganti`,
            lines: [
              `${what} akun Satu Pintu Anda ${to} pada ${when}. Pesan ini dikirim ke alamat lama Anda dan ke kontak lain yang terverifikasi.`,
            ],
            sms: `Satu Pintu: ${what.toLowerCase()} akun Anda ${newContact === null ? 'dihapus' : 'diganti'} ${when}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: `${what} of your Satu Pintu account was changed`,
            lines: [
              `${what} of your Satu Pintu account was ${to} on ${when}. This message goes to your old contact and to your other verified contact.`,
            ],
            sms: `Satu Pintu: ${field === 'email' ? 'e-mail' : 'phone'} of your account ${newContact === null ? 'removed' : 'changed'} ${when}. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    }
    case 'officer_lookup': {
      const { reason } = d as NoticeData['officer_lookup']
      const officer =
        (d as NoticeData['officer_lookup']).officer ?? (id ? 'Administrator sistem' : 'A system administrator')
      return id
        ? {
            subject: 'Petugas membuka data akun Anda',
            lines: [
              `${officer} membuka data akun Satu Pintu Anda pada ${when}.`,
              `Alasan yang dicatat: ${reason}`,
              'Semua akses tercatat dan dapat Anda lihat di Akun Saya.',
            ],
            sms: `Satu Pintu: petugas membuka data akun Anda ${when}. Alasan dan riwayat ada di Akun Saya.`,
            ifNotYou: false,
          }
        : {
            subject: 'An officer opened your account data',
            lines: [
              `${officer} opened the data of your Satu Pintu account on ${when}.`,
              `Reason recorded: ${reason}`,
              'Every access is recorded, and you can see it in My Account.',
            ],
            sms: `Satu Pintu: an officer opened your account data ${when}. Reason and history in My Account.`,
            ifNotYou: false,
          }
    }
    case 'documents_fetched_digest': {
      const { day, fetches } = d as NoticeData['documents_fetched_digest']
      const total = fetches.reduce((n, f) => n + f.count, 0)
      const list = fetches.map((f) =>
        id ? `${f.agency}: ${f.document} (${f.count}×)` : `${f.agency}: ${f.document} (${f.count}×)`,
      )
      const agencies = new Set(fetches.map((f) => f.agency)).size
      return id
        ? {
            subject: `Dokumen Anda diambil instansi (${day})`,
            lines: [
              `Pada ${day}, instansi mengambil dokumen Anda ${total} kali, dengan izin yang Anda berikan:`,
              'Izin dapat dicabut kapan saja di Akun Saya. Ringkasan harian ini dapat dimatikan di sana juga.',
            ],
            list,
            sms: `Satu Pintu: ${agencies} instansi mengambil dokumen Anda ${total} kali pada ${day}. Rincian di Akun Saya.`,
            ifNotYou: false,
          }
        : {
            subject: `Your documents were fetched by agencies (${day})`,
            lines: [
              `On ${day}, agencies fetched your documents ${total} times, with the permission you gave:`,
              'You can withdraw a permission at any time in My Account, and turn this daily summary off there too.',
            ],
            list,
            sms: `Satu Pintu: ${agencies} agencies fetched your documents ${total} times on ${day}. Details in My Account.`,
            ifNotYou: false,
          }
    }
    case 'sign_in_attempts': {
      const { since, failures, locked } = d as NoticeData['sign_in_attempts']
      const from = formatTime(since, locale, timeZone)
      return id
        ? {
            subject: 'Percobaan masuk ke akun Anda',
            lines: [
              `Sejak ${from} ada ${failures} percobaan masuk yang gagal ke akun Satu Pintu Anda.`,
              locked
                ? 'Untuk melindungi akun, masuk dengan kata sandi ditahan sebentar. Anda tetap dapat masuk dengan mengatur ulang kata sandi.'
                : 'Akun Anda tidak dikunci.',
            ],
            sms: `Satu Pintu: ${failures} percobaan masuk gagal ke akun Anda sejak ${from}. Bukan Anda? Ganti kata sandi.`,
            ifNotYou: true,
          }
        : {
            subject: 'Sign-in attempts on your account',
            lines: [
              `Since ${from} there were ${failures} failed attempts to sign in to your Satu Pintu account.`,
              locked
                ? 'To protect the account, password sign-in is paused for a while. You can still get in by resetting your password.'
                : 'Your account is not locked.',
            ],
            sms: `Satu Pintu: ${failures} failed sign-in attempts on your account since ${from}. Not you? Change your password.`,
            ifNotYou: true,
          }
    }
    case 'identity_proven': {
      const { location } = d as NoticeData['identity_proven']
      const where = location === null ? '' : id ? ` di ${location}` : ` at ${location}`
      return id
        ? {
            subject: 'NIK Anda sudah diverifikasi',
            lines: [
              `Petugas memeriksa KTP-el Anda${where} pada ${when}. NIK Anda kini terverifikasi pada akun Satu Pintu ini.`,
              'Instansi yang Anda izinkan dapat menerima NIK dan tanda bahwa identitas Anda sudah diperiksa.',
            ],
            sms: `Satu Pintu: NIK Anda terverifikasi oleh petugas ${when}. Bukan Anda? Hubungi petugas MPP.`,
            ifNotYou: true,
          }
        : {
            subject: 'Your NIK is verified',
            lines: [
              `An officer checked your KTP-el${where} on ${when}. Your NIK is now verified on this Satu Pintu account.`,
              'Services you allow may receive your NIK and the fact that your identity was checked.',
            ],
            sms: `Satu Pintu: your NIK was verified by an officer ${when}. Not you? Contact the MPP staff.`,
            ifNotYou: true,
          }
    }
    case 'nik_withdrawn':
      return id
        ? {
            subject: 'NIK tidak lagi tercatat pada akun Anda',
            lines: [
              `Pada ${when}, NIK yang tercatat pada akun Satu Pintu Anda diverifikasi petugas pada akun lain, dengan KTP-el pemiliknya. Karena itu NIK tersebut tidak lagi tercatat pada akun Anda.`,
              'Akun Anda tetap dapat dipakai, tetapi tidak lagi memakai NIK itu dan instansi tidak menerimanya dari akun ini.',
              'Bila NIK itu benar milik Anda, datanglah dengan KTP-el Anda ke loket Mal Pelayanan Publik (MPP) atau ke mobil layanan keliling. Petugas akan memeriksanya.',
            ],
            sms: `Satu Pintu: NIK di akun Anda diverifikasi di akun lain ${when}. Bila NIK itu milik Anda, bawa KTP-el ke loket MPP.`,
            ifNotYou: false,
          }
        : {
            subject: 'Your account no longer carries the NIK',
            lines: [
              `On ${when}, the NIK on your Satu Pintu account was verified by an officer on another account, with its owner's KTP-el. So your account no longer carries that NIK.`,
              'Your account still works, but it no longer uses that NIK and services do not receive it from this account.',
              'If the NIK is yours, bring your KTP-el to a Public Service Mall (MPP) counter or to the mobile service van. An officer will check it.',
            ],
            sms: `Satu Pintu: the NIK on your account was verified on another account ${when}. If it is yours, bring your KTP-el to MPP.`,
            ifNotYou: false,
          }
  }
  throw new Error(`notices: unknown kind ${String(kind)}`)
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}

/** The wording of a notice in one language: subject, text and HTML for e-mail, and the SMS. */
export function renderNotice<K extends NoticeKind>(
  kind: K,
  data: NoticeData[K],
  locale: NoticeLocale,
  options: RenderOptions = {},
): RenderedNotice {
  if (!Object.hasOwn(noticeKinds, kind)) throw new Error(`notices: unknown kind ${String(kind)}`)
  const p = parts(kind, data, locale, options.timeZone ?? 'Asia/Jakarta')
  const id = locale === 'id'
  const account = options.issuer === undefined ? undefined : new URL('/akun', options.issuer).href
  const reset = options.issuer === undefined ? undefined : new URL('/lupa-sandi', options.issuer).href
  const ifNotYou = p.ifNotYou
    ? id
      ? `Bila ini bukan Anda, segera atur ulang kata sandi${reset ? ` di ${reset}` : ''} dan hubungi petugas Mal Pelayanan Publik.`
      : `If this was not you, reset your password at once${reset ? ` at ${reset}` : ''} and contact the staff of the Public Service Mall.`
    : undefined
  const footer = id
    ? 'Pesan ini dikirim otomatis oleh Satu Pintu. Jangan membalas. Kami tidak pernah meminta kata sandi atau kode Anda.'
    : 'This message was sent automatically by Satu Pintu. Do not reply. We never ask for your password or codes.'
  const accountLine = account ? (id ? `Akun Saya: ${account}` : `My Account: ${account}`) : undefined

  const [first, ...rest] = p.lines
  const list = p.list && p.list.length > 0 ? [p.list.map((l) => `- ${l}`).join('\n')] : []
  const text = `${[first ?? '', ...list, ...rest, ...(ifNotYou ? [ifNotYou] : []), ...(accountLine ? [accountLine] : []), `-- \n${footer}`].join('\n\n')}\n`

  const para = (s: string) => `<p style="margin:0 0 1em">${escapeHtml(s)}</p>`
  const html = [
    '<!doctype html>',
    `<html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(p.subject)}</title></head>`,
    '<body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1b1b1b;background:#ffffff">',
    '<div style="max-width:36em">',
    `<h1 style="font-size:20px;margin:0 0 1em">${escapeHtml(p.subject)}</h1>`,
    para(first ?? ''),
    p.list && p.list.length > 0
      ? `<ul style="margin:0 0 1em;padding-left:1.25em">${p.list.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>`
      : '',
    ...rest.map(para),
    ifNotYou ? `<p style="margin:0 0 1em;font-weight:bold">${escapeHtml(ifNotYou)}</p>` : '',
    account
      ? `<p style="margin:0 0 1em"><a href="${escapeHtml(account)}">${id ? 'Buka Akun Saya' : 'Open My Account'}</a></p>`
      : '',
    `<p style="margin:2em 0 0;font-size:13px;color:#555">${escapeHtml(footer)}</p>`,
    '</div></body></html>',
  ].join('')
  return { subject: p.subject, text, html, sms: p.sms }
}

/** The render options of a deployment: its issuer (for links) and the regency's time zone. */
export function noticeOptionsOf(config: Pick<Config, 'idp' | 'regency'>): RenderOptions {
  return { issuer: config.idp.issuer, timeZone: config.regency.timeZone }
}

export interface NoticeRecipient {
  readonly channel: OutboxChannel
  readonly address: string
}

export interface QueueNoticeInput<K extends NoticeKind> {
  readonly citizenId: string
  readonly kind: K
  readonly data: NoticeData[K]
  /**
   * Send to these instead of the citizen's verified contacts: for contact_changed, the
   * old contact (verified before the change).
   */
  readonly to?: readonly NoticeRecipient[]
}

export interface QueueNoticeOptions extends RenderOptions {
  readonly logger?: OutboxLogger
  /** Override the citizen's language (default: their notice_preferences.locale, else Indonesian). */
  readonly locale?: NoticeLocale
}

/**
 * Queues a notice to the citizen, in `db` — pass the caller's transaction. Returns how
 * many messages were queued (0: no verified contact, or the citizen opted out of an
 * optional kind).
 */
export async function queueNotice<K extends NoticeKind>(
  db: Kysely<Database>,
  input: QueueNoticeInput<K>,
  options: QueueNoticeOptions = {},
): Promise<number> {
  const spec = noticeKinds[input.kind]
  if (spec === undefined) throw new Error(`notices: unknown kind ${String(input.kind)}`)
  const citizen = await db
    .selectFrom('citizens')
    .leftJoin('notice_preferences', 'notice_preferences.citizen_id', 'citizens.id')
    .select([
      'citizens.email',
      'citizens.email_verified',
      'citizens.phone',
      'citizens.phone_verified',
      'notice_preferences.locale',
      'notice_preferences.document_digest',
    ])
    .where('citizens.id', '=', input.citizenId)
    .executeTakeFirst()
  if (citizen === undefined) return 0
  if (input.kind === 'documents_fetched_digest' && citizen.document_digest === false) return 0

  let recipients: NoticeRecipient[]
  if (input.to !== undefined) {
    recipients = [...input.to]
  } else {
    const email =
      citizen.email !== null && citizen.email_verified
        ? { channel: 'email' as const, address: citizen.email }
        : undefined
    const phone =
      citizen.phone !== null && citizen.phone_verified ? { channel: 'sms' as const, address: citizen.phone } : undefined
    recipients = spec.urgent
      ? [email, phone].filter((r) => r !== undefined)
      : [email ?? phone].filter((r) => r !== undefined)
  }
  const locale: NoticeLocale = options.locale ?? citizen.locale ?? 'id'
  const rendered = renderNotice(input.kind, input.data, locale, options)
  const outbox = databaseOutbox(db, options.logger)
  for (const r of recipients) {
    await outbox.send(
      r.channel === 'email'
        ? {
            channel: 'email',
            recipient: r.address,
            subject: rendered.subject,
            body: rendered.text,
            html: rendered.html,
            kind: input.kind,
            locale,
            citizenId: input.citizenId,
          }
        : {
            channel: 'sms',
            recipient: r.address,
            body: rendered.sms,
            kind: input.kind,
            locale,
            citizenId: input.citizenId,
          },
    )
  }
  return recipients.length
}

/** Records the language the citizen reads (from the page they used last). */
export async function setNoticeLocale(db: Kysely<Database>, citizenId: string, locale: NoticeLocale): Promise<void> {
  if (locale !== 'id' && locale !== 'en') throw new Error(`notices: unknown locale ${String(locale)}`)
  await db
    .insertInto('notice_preferences')
    .values({ citizen_id: citizenId, locale })
    .onConflict((oc) =>
      oc
        .column('citizen_id')
        .doUpdateSet({ locale, updated_at: new Date() })
        .where('notice_preferences.locale', '<>', locale),
    )
    .execute()
}

/** Turns the daily digest of document fetches on or off. */
export async function setDocumentDigest(db: Kysely<Database>, citizenId: string, enabled: boolean): Promise<void> {
  await db
    .insertInto('notice_preferences')
    .values({ citizen_id: citizenId, document_digest: enabled })
    .onConflict((oc) => oc.column('citizen_id').doUpdateSet({ document_digest: enabled, updated_at: new Date() }))
    .execute()
}

export async function noticePreferences(
  db: Kysely<Database>,
  citizenId: string,
): Promise<{ locale: NoticeLocale; documentDigest: boolean }> {
  const row = await db
    .selectFrom('notice_preferences')
    .select(['locale', 'document_digest'])
    .where('citizen_id', '=', citizenId)
    .executeTakeFirst()
  return { locale: row?.locale ?? 'id', documentDigest: row?.document_digest ?? true }
}
