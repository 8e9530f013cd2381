// Words common in Indonesian passwords that the (mostly English) zxcvbn lists lack:
// religious phrases, patriotic words, places, football clubs, terms of endearment, words for
// "password", and the service's own name (SP 800-63B-4 names "the name of the service" as a
// context-specific word). src/accounts/password-policy.ts gives them to zxcvbn as one more
// dictionary, so its l33t, reversal, repetition and date handling applies to them too:
// "indonesia123" and "Sayang2024!" need no entries of their own. Lower case; spaces are
// taken out before comparing. Keep it short: a word earns its place by being guessed first.
export const indonesianWords: readonly string[] = [
  // religious phrases
  'bismillah', 'bismillahirrahmanirrahim', 'alhamdulillah', 'subhanallah', 'insyaallah',
  'inshaallah', 'masyaallah', 'mashaallah', 'astaghfirullah', 'allahuakbar', 'lailahaillallah',
  'assalamualaikum', 'amin', 'aamiin', 'haleluya', 'puji tuhan', 'tuhanyesus', 'yesuskristus',
  'tuhanberkati', 'om swastiastu',
  // country and patriotism
  'indonesia', 'indonesiaraya', 'merdeka', 'merahputih', 'garuda', 'garudaindonesia',
  'pancasila', 'bhinnekatunggalika', 'nusantara', 'nkri', 'nkrihargamati', 'proklamasi',
  'tujuhbelasagustus',
  // places
  'jakarta', 'bandung', 'surabaya', 'semarang', 'yogyakarta', 'jogjakarta', 'jogja', 'yogya',
  'medan', 'makassar', 'palembang', 'malang', 'bali', 'denpasar', 'bogor', 'depok', 'bekasi',
  'tangerang', 'solo', 'surakarta', 'padang', 'pekanbaru', 'balikpapan', 'manado', 'jayapura',
  'ambon', 'kupang', 'lombok', 'aceh', 'papua', 'kalimantan', 'sumatera', 'sulawesi', 'jawa',
  // love and family
  'sayang', 'sayangku', 'sayangkamu', 'akusayangkamu', 'cinta', 'cintaku', 'akucintakamu',
  'cintakamu', 'kekasih', 'kekasihku', 'pacarku', 'suamiku', 'istriku', 'anakku', 'mamaku',
  'mamah', 'mama', 'papa', 'papah', 'mamapapa', 'ibu', 'ibuku', 'bapak', 'bapakku', 'ayah',
  'ayahku', 'bunda', 'bundaku', 'keluarga', 'keluargaku', 'sahabat', 'sahabatku', 'selamanya',
  'cintasejati', 'rindu', 'bahagia', 'ganteng', 'cantik', 'manis',
  // "password", "secret" and friends
  'katasandi', 'kata sandi', 'sandi', 'sandiku', 'katakunci', 'kunci', 'rahasia', 'rahasiaku',
  'rahasiakita', 'passwordku', 'paswordku', 'pasword', 'masuk', 'login', 'daftar', 'admin',
  'administrator', 'percobaan', 'coba', 'cobacoba', 'tes', 'testing',
  // everyday words, clubs, characters
  'sukses', 'rezeki', 'rejeki', 'berkah', 'barokah', 'semangat', 'mantap', 'mantul', 'anjay',
  'kampret', 'kucing', 'kucingku', 'anjing', 'doraemon', 'upin', 'upinipin', 'persib',
  'persija', 'persebaya', 'arema', 'aremania', 'bobotoh', 'jakmania', 'bonek', 'pssi',
  'timnas', 'bintang', 'matahari', 'pelangi', 'melati', 'mawar', 'indomie', 'kopi',
  'kopisusu', 'nasigoreng',
  // the service, the civil registry, the identity card
  'satupintu', 'satu pintu', 'dukcapil', 'disdukcapil', 'kependudukan', 'ktp', 'ektp',
  'ktpelektronik', 'kartukeluarga', 'pemkab', 'pemda', 'kabupaten', 'kelurahan', 'kecamatan',
]
