import t from 'tap'
import { safeReturnPath } from '../../src/http/return-path.ts'

const opts = { fallback: '/home', maxLength: 64 }

t.test('a local path is kept as it is, query and fragment too', async (t) => {
  t.equal(safeReturnPath('/akun/dokumen?x=1#a', opts), '/akun/dokumen?x=1#a')
  t.equal(safeReturnPath('/', opts), '/')
})

t.test('anything that could leave our origin, or hide text, falls back', async (t) => {
  for (const bad of [
    '//evil.example/x',
    '/\\evil.example',
    '\\\\evil.example',
    'https://evil.example/',
    'javascript:alert(1)',
    '/a\nb',
    '/a\rSet-Cookie: x',
    '/a\u0000b',
    '/a\u007fb',
    '',
    `/${'a'.repeat(64)}`,
    undefined,
    42,
    ['/akun'],
  ]) {
    t.equal(safeReturnPath(bad, opts), '/home', JSON.stringify(bad))
  }
})
