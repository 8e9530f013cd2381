import { defineMessages } from '../../http/i18n.ts'

/**
 * Texts of "Akun Saya → Dokumen" (src/idp/documents/pages.ts): the citizen's documents,
 * uploads, versions, accesses and grants. Bahasa Indonesia first, in words a citizen
 * uses; merged into the idp's page catalogue in src/idp/app.ts. Document type names come
 * from configuration (`documents.types[].name`), never from here.
 */
export const documentMessages = defineMessages({
  id: {
    'akun.nav.documents': 'Dokumen saya',

    'dok.title': 'Dokumen saya',
    'dok.lead':
      'Unggah dokumen persyaratan sekali saja, lalu pakai untuk semua layanan. Instansi hanya dapat mengambil dokumen Anda bila Anda mengizinkannya, dan setiap pengambilan tercatat di sini.',
    'dok.notUploaded': 'Belum diunggah',
    'dok.photoTip':
      'Foto dari ponsel boleh, asalkan seluruh dokumen terlihat dan tulisannya terbaca. Foto yang lebih besar dari batasnya: perkecil dulu di aplikasi galeri (menu Edit → Ubah ukuran, pilih ukuran sedang), atau foto ulang dengan resolusi kamera lebih rendah.',
    'dok.uploadedAt': 'Diunggah',
    'dok.size': 'Ukuran',
    'dok.format': 'Jenis berkas',
    'dok.fileName': 'Nama berkas',
    'dok.status': 'Status',
    'dok.verified': 'Diverifikasi petugas',
    'dok.unverified': 'Belum diverifikasi',
    'dok.open': 'Lihat rincian',
    'dok.grantsLink': 'Instansi yang boleh mengambil dokumen Anda',
    'dok.retention': 'Versi lama dan dokumen yang Anda hapus disimpan {days} hari, lalu dihapus permanen.',
    'dok.and': 'dan',
    'dok.or': 'atau',
    'dok.size.mb': '{n} MB',
    'dok.size.kb': '{n} KB',
    'dok.size.bytes': '{n} byte',

    'dok.form.file': 'Pilih berkas {type}',
    'dok.form.fileShort': 'Pilih berkas',
    'dok.form.limit': '{formats}, paling besar {size}.',
    'dok.form.photos': 'Foto ({formats})',
    'dok.form.photoAdvice':
      'Foto dari ponsel sering lebih besar dari itu: perkecil dulu di aplikasi galeri (menu Edit → Ubah ukuran, pilih ukuran sedang), atau foto ulang dengan resolusi kamera lebih rendah.',
    'dok.form.pdfAdvice':
      'PDF yang terlalu besar: pindai ulang dengan resolusi lebih rendah (150 dpi sudah terbaca jelas).',
    'dok.check.formats': 'Berkas ini bukan {formats}. Pilih berkas lain.',
    'dok.check.photoTooLarge':
      'Foto ini {fileSize}, lebih besar dari batas {size}. Tekan "Perkecil foto": foto diperkecil di ponsel Anda sebelum dikirim.',
    'dok.check.photoTooLargeManual':
      'Foto ini {fileSize}, lebih besar dari batas {size}. Perkecil dulu di aplikasi galeri, atau foto ulang dengan resolusi kamera lebih rendah, lalu pilih lagi.',
    'dok.check.pdfTooLarge':
      'Berkas PDF ini {fileSize}, lebih besar dari batas {size}. Pindai ulang dengan resolusi lebih rendah (150 dpi sudah terbaca jelas), lalu pilih lagi.',
    'dok.check.shrink': 'Perkecil foto',
    'dok.check.shrinking': 'Memperkecil foto…',
    'dok.check.shrunk':
      'Foto sudah diperkecil menjadi {fileSize} ({width} × {height} piksel). Periksa tulisannya masih terbaca, lalu unggah.',
    'dok.check.shrinkFailed':
      'Foto ini tidak dapat diperkecil di sini. Perkecil dulu di aplikasi galeri, atau foto ulang dengan resolusi kamera lebih rendah, lalu pilih lagi.',
    'dok.check.preview': 'Foto setelah diperkecil',
    'dok.form.upload': 'Unggah',
    'dok.form.replace': 'Unggah versi baru',

    'dok.upload.title': 'Unggah {type}',
    'dok.upload.replaceTitle': 'Ganti {type}',
    'dok.upload.lead': 'Foto atau pindai dokumen asli dengan jelas: seluruh halaman terlihat dan tulisannya terbaca.',
    'dok.upload.replaceNote':
      'Anda sudah mengunggah dokumen ini pada {time}. Berkas baru menjadi versi terbaru yang diterima instansi; versi lama disimpan {days} hari, lalu dihapus.',
    'dok.upload.cancel': 'Batal',

    'dok.error.noFile': 'Pilih berkas yang akan diunggah.',
    'dok.error.empty': 'Berkas kosong. Pilih berkas yang berisi dokumen Anda.',
    'dok.error.formats': 'Berkas harus {formats}.',
    'dok.error.tooLarge': 'Ukuran berkas melebihi {size}. Perkecil ukuran foto atau hasil pindaian, lalu unggah lagi.',
    'dok.error.polyglot':
      'Berkas ini berisi data lain selain dokumen sehingga tidak dapat diterima. Simpan ulang dokumennya (misalnya foto atau pindai ulang), lalu unggah lagi.',
    'dok.error.malformed': 'Berkas rusak atau tidak lengkap. Simpan ulang dokumennya, lalu unggah lagi.',
    'dok.error.retry': 'Berkas belum dapat disimpan. Silakan unggah sekali lagi.',
    'dok.error.invalid': 'Berkas tidak dapat diterima. Silakan coba lagi.',

    'dok.notice.uploaded': 'Dokumen sudah diunggah.',
    'dok.notice.replaced': 'Versi baru sudah diunggah. Instansi yang Anda izinkan akan menerima versi ini.',
    'dok.notice.deleted': 'Dokumen sudah dihapus. Instansi tidak dapat mengambilnya lagi.',
    'dok.continue': 'Lanjutkan',
    'dok.continueLead': 'Dokumen Anda sudah tersimpan. Tekan "Lanjutkan" untuk kembali ke layanan yang Anda buka tadi.',

    'dok.detail.current': 'Versi terbaru',
    'dok.detail.version': 'Versi {n}',
    'dok.detail.download': 'Unduh',
    'dok.detail.downloadVersion': 'Unduh versi {n}',
    'dok.detail.verifiedNote': 'Petugas sudah mencocokkan versi ini dengan dokumen aslinya pada {time}.',
    'dok.detail.unverifiedNote':
      'Bila sebuah layanan memerlukan verifikasi, bawa dokumen aslinya ke loket MPP. Petugas akan mencocokkannya dengan berkas ini.',
    'dok.detail.replace': 'Ganti dengan berkas baru',
    'dok.detail.replaceLead': 'Berkas baru menjadi versi terbaru. Versi yang sekarang tetap tercatat di bawah.',
    'dok.detail.versions': 'Versi sebelumnya',
    'dok.detail.versionsLead':
      'Instansi hanya menerima versi terbaru. Versi lama disimpan {days} hari setelah diganti, lalu dihapus.',
    'dok.detail.replacedAt': 'Diganti',
    'dok.detail.accesses': 'Siapa yang sudah mengambil dokumen ini',
    'dok.detail.accessesNone': 'Belum ada instansi yang mengambil dokumen ini.',
    'dok.history.fetched': '{document} diambil oleh {agency}',
    'dok.history.fetchedFor': '{document} diambil oleh {agency} untuk {service}',
    'dok.detail.delete': 'Hapus dokumen ini',
    'dok.detail.deleteLead': 'Dokumen langsung hilang dari daftar Anda dan tidak dapat diambil instansi lagi.',

    'dok.delete.title': 'Hapus {type}?',
    'dok.delete.lead':
      'Dokumen ini, termasuk semua versinya, langsung hilang dari daftar Anda dan tidak dapat diambil instansi mana pun lagi. Berkasnya dihapus permanen setelah {days} hari.',
    'dok.delete.note': 'Dokumen yang sudah diambil instansi sebelumnya dikelola oleh instansi tersebut.',
    'dok.delete.confirm': 'Ya, hapus dokumen',
    'dok.delete.cancel': 'Batal',

    'dok.grants.title': 'Izin pengambilan dokumen',
    'dok.grants.lead':
      'Instansi berikut boleh mengambil dokumen Anda untuk layanan dan keperluan yang tertulis, sampai tanggal berakhirnya. Izin yang Anda cabut langsung berlaku.',
    'dok.grants.none': 'Belum ada instansi yang Anda izinkan mengambil dokumen.',
    'dok.grants.service': 'Layanan',
    'dok.grants.allServices': 'Semua layanan instansi ini',
    'dok.grants.types': 'Dokumen',
    'dok.grants.purpose': 'Keperluan',
    'dok.grants.given': 'Diberikan',
    'dok.grants.expires': 'Berlaku sampai',
    'dok.grants.revoke': 'Cabut izin',
    'dok.grants.revoked': 'Izin sudah dicabut. Instansi tersebut tidak dapat mengambil dokumen Anda lagi.',
    'dok.grants.past': 'Izin yang sudah berakhir',
    'dok.grants.endedRevoked': 'Dicabut',
    'dok.grants.endedExpired': 'Berakhir',
    'dok.grants.note': 'Dokumen yang sudah diambil instansi sebelum izin dicabut dikelola oleh instansi tersebut.',
    'dok.back': 'Kembali ke Dokumen saya',

    'dok.ask.title': 'Izin memakai dokumen Anda',
    'dok.ask.lead': '{agency} meminta akses ke {documents} Anda untuk layanan {service}. Izinkan?',
    'dok.ask.purpose': 'Tujuan',
    'dok.ask.who': 'Anda masuk sebagai {name}.',
    'dok.ask.note':
      'Instansi hanya dapat mengambil dokumen ini selama izin berlaku, paling lama sampai {until}. Anda dapat mencabut izin kapan saja di Akun Saya → Dokumen.',
    'dok.ask.allow': 'Izinkan',
    'dok.ask.deny': 'Tolak',
    'dok.ask.missingTitle': 'Dokumen belum diunggah',
    'dok.ask.missingLead': 'Layanan {service} dari {agency} memerlukan {documents}, yang belum Anda unggah.',
    'dok.ask.missingHow': 'Unggah sekali di sini; setelah itu Anda kembali ke {agency}.',
    'dok.ask.upload': 'Unggah {document}',
    'dok.ask.later': 'Nanti saja, kembali ke {agency}',
    'dok.ask.changed':
      'Pertanyaan ini sudah berubah, atau Anda sekarang masuk dengan akun lain. Silakan baca lagi, lalu jawab.',
    'dok.ask.leadWaiting': '{agency} meminta akses ke {documents} Anda untuk layanan {service}.',
    'dok.ask.have': 'Sudah ada di akun Anda:',
    'dok.ask.notYet': '{documents} belum Anda unggah',
    'dok.ask.uploadFirst':
      'Unggah dulu di sini. Setelah itu Anda kembali ke halaman ini dan baru memutuskan apakah mengizinkan.',
    'dok.ask.notNow': 'Belum bisa mengunggah sekarang? Pilih Tolak; Anda dapat membuka layanan ini lagi nanti.',
  },
  en: {
    'akun.nav.documents': 'My documents',

    'dok.title': 'My documents',
    'dok.lead':
      'Upload your requirement documents once and use them for every service. An agency can fetch your documents only when you allow it, and every fetch is recorded here.',
    'dok.notUploaded': 'Not uploaded yet',
    'dok.photoTip':
      'A phone photo is fine if the whole document shows and the text can be read. A photo larger than the limit: make it smaller in your gallery app first (Edit → Resize, choose a medium size), or take it again at a lower camera resolution.',
    'dok.uploadedAt': 'Uploaded',
    'dok.size': 'Size',
    'dok.format': 'File type',
    'dok.fileName': 'File name',
    'dok.status': 'Status',
    'dok.verified': 'Verified by an officer',
    'dok.unverified': 'Not verified yet',
    'dok.open': 'See details',
    'dok.grantsLink': 'Agencies allowed to fetch your documents',
    'dok.retention': 'Old versions and documents you delete are kept for {days} days, then removed for good.',
    'dok.and': 'and',
    'dok.or': 'or',
    'dok.size.mb': '{n} MB',
    'dok.size.kb': '{n} KB',
    'dok.size.bytes': '{n} bytes',

    'dok.form.file': 'Choose a file for {type}',
    'dok.form.fileShort': 'Choose a file',
    'dok.form.limit': '{formats}, at most {size}.',
    'dok.form.photos': 'A photo ({formats})',
    'dok.form.photoAdvice':
      'Phone photos are often larger than that: make it smaller in your gallery app first (Edit → Resize, choose a medium size), or take it again at a lower camera resolution.',
    'dok.form.pdfAdvice': 'A PDF that is too large: scan it again at a lower resolution (150 dpi reads clearly).',
    'dok.check.formats': 'This file is not {formats}. Choose another file.',
    'dok.check.photoTooLarge':
      'This photo is {fileSize}, larger than the {size} limit. Press "Make the photo smaller": it is made smaller on your phone before it is sent.',
    'dok.check.photoTooLargeManual':
      'This photo is {fileSize}, larger than the {size} limit. Make it smaller in your gallery app first, or take it again at a lower camera resolution, then choose it again.',
    'dok.check.pdfTooLarge':
      'This PDF is {fileSize}, larger than the {size} limit. Scan it again at a lower resolution (150 dpi reads clearly), then choose it again.',
    'dok.check.shrink': 'Make the photo smaller',
    'dok.check.shrinking': 'Making the photo smaller…',
    'dok.check.shrunk':
      'The photo is now {fileSize} ({width} × {height} pixels). Check that the text can still be read, then upload it.',
    'dok.check.shrinkFailed':
      'This photo cannot be made smaller here. Make it smaller in your gallery app first, or take it again at a lower camera resolution, then choose it again.',
    'dok.check.preview': 'The photo after making it smaller',
    'dok.form.upload': 'Upload',
    'dok.form.replace': 'Upload a new version',

    'dok.upload.title': 'Upload {type}',
    'dok.upload.replaceTitle': 'Replace {type}',
    'dok.upload.lead': 'Photograph or scan the original clearly: the whole page visible and the text readable.',
    'dok.upload.replaceNote':
      'You uploaded this document on {time}. The new file becomes the latest version agencies receive; the old one is kept for {days} days, then removed.',
    'dok.upload.cancel': 'Cancel',

    'dok.error.noFile': 'Choose the file to upload.',
    'dok.error.empty': 'The file is empty. Choose the file that holds your document.',
    'dok.error.formats': 'The file must be {formats}.',
    'dok.error.tooLarge': 'The file is larger than {size}. Make the photo or scan smaller, then upload it again.',
    'dok.error.polyglot':
      'This file holds other data besides the document, so it cannot be accepted. Save the document again (for example, photograph or scan it again), then upload it.',
    'dok.error.malformed': 'The file is damaged or incomplete. Save the document again, then upload it.',
    'dok.error.retry': 'The file could not be saved yet. Please upload it once more.',
    'dok.error.invalid': 'The file cannot be accepted. Please try again.',

    'dok.notice.uploaded': 'Your document has been uploaded.',
    'dok.notice.replaced': 'The new version has been uploaded. Agencies you allow will receive this version.',
    'dok.notice.deleted': 'The document has been deleted. Agencies can no longer fetch it.',
    'dok.continue': 'Continue',
    'dok.continueLead': 'Your document is saved. Press "Continue" to go back to the service you opened.',

    'dok.detail.current': 'Latest version',
    'dok.detail.version': 'Version {n}',
    'dok.detail.download': 'Download',
    'dok.detail.downloadVersion': 'Download version {n}',
    'dok.detail.verifiedNote': 'An officer checked this version against the original on {time}.',
    'dok.detail.unverifiedNote':
      'If a service needs verification, bring the original to an MPP counter. An officer will check it against this file.',
    'dok.detail.replace': 'Replace with a new file',
    'dok.detail.replaceLead': 'The new file becomes the latest version. The current one stays listed below.',
    'dok.detail.versions': 'Earlier versions',
    'dok.detail.versionsLead':
      'Agencies receive only the latest version. Old versions are kept for {days} days after being replaced, then removed.',
    'dok.detail.replacedAt': 'Replaced',
    'dok.detail.accesses': 'Who has fetched this document',
    'dok.detail.accessesNone': 'No agency has fetched this document yet.',
    'dok.history.fetched': '{document} fetched by {agency}',
    'dok.history.fetchedFor': '{document} fetched by {agency} for {service}',
    'dok.detail.delete': 'Delete this document',
    'dok.detail.deleteLead': 'The document disappears from your list at once and agencies can no longer fetch it.',

    'dok.delete.title': 'Delete {type}?',
    'dok.delete.lead':
      'This document, with all its versions, disappears from your list at once and no agency can fetch it any more. The files are removed for good after {days} days.',
    'dok.delete.note': 'Copies that agencies fetched before are managed by those agencies.',
    'dok.delete.confirm': 'Yes, delete the document',
    'dok.delete.cancel': 'Cancel',

    'dok.grants.title': 'Permissions to fetch documents',
    'dok.grants.lead':
      'These agencies may fetch your documents for the service and purpose shown, until the end date. A permission you withdraw ends at once.',
    'dok.grants.none': 'You have not allowed any agency to fetch your documents.',
    'dok.grants.service': 'Service',
    'dok.grants.allServices': 'Every service of this agency',
    'dok.grants.types': 'Documents',
    'dok.grants.purpose': 'Purpose',
    'dok.grants.given': 'Given',
    'dok.grants.expires': 'Valid until',
    'dok.grants.revoke': 'Withdraw permission',
    'dok.grants.revoked': 'The permission has been withdrawn. That agency can no longer fetch your documents.',
    'dok.grants.past': 'Permissions that have ended',
    'dok.grants.endedRevoked': 'Withdrawn',
    'dok.grants.endedExpired': 'Ended',
    'dok.grants.note': 'Documents an agency fetched before the permission was withdrawn are managed by that agency.',
    'dok.back': 'Back to My documents',

    'dok.ask.title': 'Permission to use your documents',
    'dok.ask.lead': '{agency} asks for access to your {documents} for the service {service}. Allow?',
    'dok.ask.purpose': 'Purpose',
    'dok.ask.who': 'You are signed in as {name}.',
    'dok.ask.note':
      'The agency can fetch these documents only while the permission lasts, at most until {until}. You can withdraw it at any time in My Account → Documents.',
    'dok.ask.allow': 'Allow',
    'dok.ask.deny': 'Deny',
    'dok.ask.missingTitle': 'Document not uploaded yet',
    'dok.ask.missingLead': 'The service {service} of {agency} needs your {documents}, which you have not uploaded yet.',
    'dok.ask.missingHow': 'Upload it once here; afterwards you go back to {agency}.',
    'dok.ask.upload': 'Upload {document}',
    'dok.ask.later': 'Not now, go back to {agency}',
    'dok.ask.changed':
      'This question has changed, or you are now signed in with another account. Please read it again, then answer.',
    'dok.ask.leadWaiting': '{agency} asks for access to your {documents} for the service {service}.',
    'dok.ask.have': 'Already in your account:',
    'dok.ask.notYet': 'You have not uploaded your {documents} yet',
    'dok.ask.uploadFirst':
      'Upload it here first. Afterwards you come back to this page and only then decide whether to allow it.',
    'dok.ask.notNow': 'Cannot upload it now? Choose Deny; you can open the service again later.',
  },
})

export type DocumentMessages = (typeof documentMessages)['id']
