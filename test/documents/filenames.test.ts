import { parse as parseContentDisposition } from 'content-disposition'
import t, { type Test } from 'tap'
import {
  asciiFileName,
  contentDisposition,
  decodeOriginalName,
  displayFileName,
  encodeOriginalName,
  MAX_DISPLAY_NAME_CHARS,
} from '../../src/documents/filenames.ts'

/** Nothing that could break a header, a path, or the order in which text is shown. */
function assertSafe(t: Test, name: string) {
  t.notMatch(name, /[\u0000-\u001f\u007f-\u009f]/u, 'no control characters')
  t.notMatch(name, /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u, 'no bidi controls')
  t.notMatch(name, /[/\\]/, 'no path separators')
  t.notMatch(name, /\.\./, 'no ..')
  t.notMatch(name, /^[.\s]|[.\s]$/u, 'no leading or trailing dot or space')
  t.ok(Array.from(name).length <= MAX_DISPLAY_NAME_CHARS, 'at most 120 characters')
  t.ok(name.length > 0, 'not empty')
}

t.test('SECURITY 26: ../../x becomes a plain name without any path', async (t) => {
  t.equal(displayFileName('../../x'), 'x')
  t.equal(displayFileName('..\\..\\windows\\system32\\x.pdf', 'application/pdf'), 'x.pdf')
  t.equal(displayFileName('C:\\fakepath\\ktp.jpg', 'image/jpeg'), 'ktp.jpg')
  t.equal(displayFileName('..', 'image/png'), 'dokumen.png')
  t.equal(displayFileName('\uff0e\uff0e\uff0fetc\uff0fpasswd'), 'passwd', 'fullwidth dots and solidi (NFKC) too')
  assertSafe(t, displayFileName('../../x'))
})

t.test('SECURITY 26: a.jpg.php holding a JPEG is offered as a .jpg', async (t) => {
  t.equal(displayFileName('a.jpg.php', 'image/jpeg'), 'a.jpg.jpg')
  t.equal(displayFileName('scan', 'application/pdf'), 'scan.pdf')
  t.equal(displayFileName('foto.JPEG', 'image/jpeg'), 'foto.JPEG')
  t.equal(displayFileName('a.jpg.php'), 'a.jpg.php', 'without a media type the name is only made safe')
})

t.test(
  'SECURITY 26: %00 and a real NUL are harmless: %00 stays text, NUL is removed, and neither survives decoding in the ASCII fallback',
  async (t) => {
    t.equal(displayFileName('ktp%00.php.jpg', 'image/jpeg'), 'ktp%00.php.jpg')
    t.equal(displayFileName('ktp\u0000.php.jpg', 'image/jpeg'), 'ktp.php.jpg')
    t.equal(asciiFileName('ktp%00.jpg'), 'ktp_00.jpg')
    t.equal(contentDisposition('ktp%00.jpg'), `attachment; filename=ktp_00.jpg; filename*=UTF-8''ktp%2500.jpg`)
  },
)

t.test('SECURITY 26: U+202E (right-to-left override) and the other bidi controls are removed', async (t) => {
  const name = displayFileName('foto\u202Egpj.exe', 'image/jpeg')
  t.equal(name, 'fotogpj.exe'.replace('.exe', '.jpg'))
  assertSafe(t, name)
  t.equal(displayFileName('a\u2066b\u2067c\u2068d\u2069e\u202Af\u202Bg\u202Ch\u202Di\u200Fj.pdf'), 'abcdefghij.pdf')
})

t.test('SECURITY 26: CR and LF cannot split a header', async (t) => {
  const name = displayFileName('ktp\r\nSet-Cookie: x=1\r\n.jpg', 'image/jpeg')
  t.equal(name, 'ktpSet-Cookie_ x=1.jpg')
  const header = contentDisposition(name)
  t.notMatch(header, /[\r\n]/)
  t.equal(header, `attachment; filename="ktpSet-Cookie_ x=1.jpg"`)
})

t.test('SECURITY 26: a 300-character name is cut to 120 keeping the extension', async (t) => {
  const name = displayFileName(`${'a'.repeat(296)}.pdf`, 'application/pdf')
  t.equal(name.length, 120)
  t.ok(name.endsWith('.pdf'))
  const emoji = displayFileName(`${'😀'.repeat(300)}.png`, 'image/png')
  t.equal(Array.from(emoji).length, 120, 'counted in code points, never cutting a surrogate pair')
  t.ok(emoji.toWellFormed() === emoji)
  t.equal(encodeOriginalName('x'.repeat(300)).length, 255, 'the stored original is capped at 255 code points')
})

t.test('the original name is stored percent-encoded and decodes back exactly', async (t) => {
  for (const raw of ['Kartu Keluarga (scan).pdf', '../../x', 'a\r\nb', '\u202Egpj.exe', 'ijazah_Ābc_日本.jpg', '%00']) {
    const enc = encodeOriginalName(raw)
    t.match(enc, /^[A-Za-z0-9%._~-]*$/, `${JSON.stringify(raw)} encoded`)
    t.equal(decodeOriginalName(enc), raw)
  }
  t.equal(decodeOriginalName(encodeOriginalName('a\ud800b')), 'a\ufffdb', 'a lone surrogate becomes U+FFFD')
  t.equal(decodeOriginalName('%E0%A4%A'), '', 'a broken encoding decodes to nothing')
})

t.test('Content-Disposition follows RFC 6266 with an ASCII fallback and the exact UTF-8 name', async (t) => {
  t.equal(
    contentDisposition('Akta Kelahiran.pdf'),
    `attachment; filename="Akta Kelahiran.pdf"`,
    'an ASCII name needs no filename*',
  )
  t.equal(
    contentDisposition('Surat Pernyataan Ölçü.pdf'),
    `attachment; filename="Surat Pernyataan Olcu.pdf"; filename*=UTF-8''Surat%20Pernyataan%20%C3%96l%C3%A7%C3%BC.pdf`,
  )
  t.equal(contentDisposition('日本.jpg'), `attachment; filename=__.jpg; filename*=UTF-8''%E6%97%A5%E6%9C%AC.jpg`)
  t.equal(contentDisposition("it's (1)*.pdf"), `attachment; filename="it's (1)*.pdf"`)
  t.equal(asciiFileName('a"b\\c.pdf'), 'a_b_c.pdf')
  for (const name of ['Akta Kelahiran.pdf', 'Surat Pernyataan Ölçü.pdf', '日本.jpg', "it's (1)*.pdf", 'ktp%00.jpg']) {
    const parsed = parseContentDisposition(contentDisposition(name))
    t.equal(parsed.type, 'attachment')
    t.equal(
      parsed.parameters['filename*'] ?? parsed.parameters.filename,
      name,
      `${name}: an RFC 8187 reader gets the exact name back`,
    )
  }
})

t.test('Windows-reserved characters and device names are defused', async (t) => {
  t.equal(displayFileName('a<b>c:d"e|f?g*h.pdf'), 'a_b_c_d_e_f_g_h.pdf')
  t.equal(displayFileName('CON.pdf'), '_CON.pdf')
  t.equal(displayFileName('nul', 'image/png'), '_nul.png')
  t.equal(displayFileName('  . ktp .  '), 'ktp')
})
