import { defineMessages } from '../http/i18n.ts'

/** Texts of the gateway's own pages (the portal), Bahasa Indonesia first. */
export const gatewayMessages = defineMessages({
  id: {
    'portal.title': 'Layanan publik Kabupaten {name}',
    'portal.lead': 'Satu akun untuk semua layanan. Pilih layanan yang Anda perlukan.',
    'portal.signedInAs': 'Anda masuk sebagai {name}.',
    'portal.notSignedIn': 'Anda belum masuk. Layanan yang memerlukan akun akan meminta Anda masuk.',
    'portal.signIn': 'Masuk',
    'portal.signOut': 'Keluar',
    'portal.account': 'Akun Saya',
    'portal.open': 'Buka layanan',
    'portal.public': 'Tanpa masuk',
    'portal.needsAccount': 'Perlu masuk',
    'portal.needsVerified': 'Perlu akun terverifikasi',
    'portal.empty': 'Belum ada layanan yang terdaftar.',
    'portal.documents': 'Dokumen yang diperlukan: {list}',
  },
  en: {
    'portal.title': 'Public services of {name} Regency',
    'portal.lead': 'One account for every service. Choose the service you need.',
    'portal.signedInAs': 'You are signed in as {name}.',
    'portal.notSignedIn': 'You are not signed in. Services that need an account will ask you to sign in.',
    'portal.signIn': 'Sign in',
    'portal.signOut': 'Sign out',
    'portal.account': 'My Account',
    'portal.open': 'Open service',
    'portal.public': 'No sign-in needed',
    'portal.needsAccount': 'Sign-in needed',
    'portal.needsVerified': 'Verified account needed',
    'portal.empty': 'No services are registered yet.',
    'portal.documents': 'Documents needed: {list}',
  },
})
