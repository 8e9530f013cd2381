import { defineMessages } from '../http/i18n.ts'

/** Texts of the gateway's own pages (the portal, sign-out), Bahasa Indonesia first. */
export const gatewayMessages = defineMessages({
  id: {
    'portal.title': 'Layanan publik Kabupaten {name}',
    'portal.lead': 'Satu akun untuk semua layanan. Pilih layanan yang Anda perlukan.',
    'portal.signedInAs': 'Anda masuk sebagai {name}.',
    'portal.notSignedIn':
      'Anda belum masuk di portal ini. Layanan yang memerlukan akun akan meminta Anda masuk; jika Anda sudah masuk di Satu Pintu, kata sandi tidak ditanyakan lagi.',
    'portal.signIn': 'Masuk',
    'portal.signOut': 'Keluar',
    'portal.account': 'Akun Saya',
    'portal.open': 'Buka layanan',
    'portal.public': 'Tanpa masuk',
    'portal.needsAccount': 'Perlu masuk',
    'portal.needsVerified': 'Perlu akun terverifikasi',
    'portal.empty': 'Belum ada layanan yang terdaftar.',
    'portal.documents': 'Dokumen yang diperlukan: {list}',
    'keluar.title': 'Keluar dari {site}?',
    'keluar.lead': 'Anda masuk sebagai {name}. Sesi Anda di situs ini akan diakhiri.',
    'keluar.leadAnonymous': 'Sesi Anda di situs ini akan diakhiri.',
    'keluar.next': 'Setelah itu Satu Pintu menanyakan apakah Anda juga ingin keluar dari semua layanan lain.',
    'keluar.confirm': 'Ya, keluar',
    'keluar.cancel': 'Batal',
  },
  en: {
    'portal.title': 'Public services of {name} Regency',
    'portal.lead': 'One account for every service. Choose the service you need.',
    'portal.signedInAs': 'You are signed in as {name}.',
    'portal.notSignedIn':
      'You are not signed in on this portal. Services that need an account will ask you to sign in; if you are already signed in at Satu Pintu, you will not be asked for your password again.',
    'portal.signIn': 'Sign in',
    'portal.signOut': 'Sign out',
    'portal.account': 'My Account',
    'portal.open': 'Open service',
    'portal.public': 'No sign-in needed',
    'portal.needsAccount': 'Sign-in needed',
    'portal.needsVerified': 'Verified account needed',
    'portal.empty': 'No services are registered yet.',
    'portal.documents': 'Documents needed: {list}',
    'keluar.title': 'Sign out of {site}?',
    'keluar.lead': 'You are signed in as {name}. Your session on this site will end.',
    'keluar.leadAnonymous': 'Your session on this site will end.',
    'keluar.next': 'Satu Pintu then asks whether you also want to sign out of every other service.',
    'keluar.confirm': 'Yes, sign out',
    'keluar.cancel': 'Cancel',
  },
})
