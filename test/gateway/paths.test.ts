import t from 'tap'
import { caseFolded, checkTarget, upstreamPathFor } from '../../src/gateway/proxy/paths.ts'

const refused: Array<[string, string]> = [
  ['/layanan/a/../b', 'a dot-dot segment'],
  ['/layanan/a/./b', 'a dot segment'],
  ['/layanan/a/%2e%2e/b', 'an encoded dot-dot segment'],
  ['/layanan/a/%2E%2e/b', 'a mixed-case encoded dot-dot segment'],
  ['/layanan/a/.%2e/b', 'a half-encoded dot-dot segment'],
  ['/layanan/a/%2e/b', 'an encoded dot segment'],
  ['/layanan/a/%252e%252e/b', 'a double-encoded dot-dot segment'],
  ['/layanan/a/%252fetc', 'a double-encoded slash'],
  ['/layanan/a/%25', 'a literal percent sign (would decode again)'],
  ['/layanan/a/..%2fb', 'dot-dot with an encoded slash'],
  ['/layanan/a/%2e%2e%2fb', 'an encoded dot-dot-slash'],
  ['/layanan/a/x%2Fy', 'an encoded slash inside a segment'],
  ['/layanan/a/..%5cb', 'dot-dot with an encoded backslash'],
  ['/layanan/a/x\\..\\b', 'raw backslashes'],
  ['/layanan/a/x%5cy', 'an encoded backslash'],
  ['/layanan/a/..;/b', 'the Tomcat "..;" form'],
  ['/layanan/a/x;jsessionid=1', 'a ; path parameter'],
  ['/layanan/a/x%3bjsessionid=1', 'an encoded ; path parameter'],
  ['/layanan/a/%c0%ae%c0%ae/b', 'overlong UTF-8 dots'],
  ['/layanan/a/%c0%af', 'an overlong UTF-8 slash'],
  ['/layanan/a/%e0%80%ae', 'a three-byte overlong dot'],
  ['/layanan/a/%ed%a0%80', 'an encoded UTF-16 surrogate'],
  ['/layanan/a/%e2%80', 'truncated UTF-8'],
  ['/layanan/a/%zz', 'an invalid escape'],
  ['/layanan/a/%2', 'a truncated escape'],
  ['/layanan/a/%u002e%u002e/b', 'IIS %u escapes'],
  ['/layanan/a/x%00.jpg', 'an encoded NUL'],
  ['/layanan/a/x%0d%0aSet-Cookie:a=b', 'encoded CR LF'],
  ['/layanan/a/x%7f', 'an encoded DEL'],
  ['/layanan/a/x%c2%85', 'a C1 control (NEL)'],
  ['/layanan/a/%ef%bc%8e%ef%bc%8e/b', 'full-width dots (NFKC "..")'],
  ['/layanan/a/%e2%80%a5/b', 'the two-dot leader (NFKC "..")'],
  ['/layanan/a/x%ef%bc%8fy', 'a full-width slash'],
  ['/layanan/a/x%e2%88%95y', 'a division slash'],
  ['/layanan/a/..%20/b', 'dot-dot followed by a space'],
  ['/layanan/a/izin.', 'a trailing dot (Windows drops it)'],
  ['/layanan/a/IZIN~1', 'an 8.3 short name'],
  ['/layanan/a/izin%20', 'a trailing space (Windows drops it)'],
  ['/layanan/a/...', 'three dots'],
  ['/layanan/a/..x', 'dot-dot at the start of a segment'],
  ['/layanan/a//b', 'an empty segment'],
  ['//evil.example/layanan/a/', 'a network-path reference'],
  ['http://evil.example/layanan/a/', 'an absolute-form request-target'],
  ['*', 'the asterisk form'],
  ['/layanan/a/x#frag', 'a fragment'],
  ['/layanan/a/x y', 'a raw space'],
  ['/layanan/a/x"y', 'a raw quote'],
  ['/layanan/a/<script>', 'raw angle brackets'],
  ['/layanan/a/caf\u00e9', 'raw non-ASCII'],
]

t.test('SECURITY 16: every traversal, encoding and separator trick is refused', async (t) => {
  for (const [target, what] of refused) {
    const r = checkTarget(target)
    t.equal(r.ok, false, `${what}: ${JSON.stringify(target)}`)
  }
})

t.test('ordinary paths are accepted and forwarded in their normal form below the prefix', async (t) => {
  const cases: Array<[string, string, string]> = [
    // target, decoded path, upstream path (base "/")
    ['/layanan/a', '/layanan/a', '/'],
    ['/layanan/a/', '/layanan/a/', '/'],
    ['/layanan/a/izin/formulir', '/layanan/a/izin/formulir', '/izin/formulir'],
    ['/layanan/a/izin/', '/layanan/a/izin/', '/izin/'],
    ['/layanan/a/caf%C3%A9', '/layanan/a/café', '/caf%C3%A9'],
    ['/layanan/a/%41%42', '/layanan/a/AB', '/AB'],
    ['/layanan/a/caf%c3%a9', '/layanan/a/café', '/caf%C3%A9'],
    ['/layanan/a/x[1]|^', '/layanan/a/x[1]|^', '/x%5B1%5D%7C%5E'],
    ['/layanan/a/%21%24%40', '/layanan/a/!$@', '/!$@'],
    ['/layanan/a/file.tar.gz', '/layanan/a/file.tar.gz', '/file.tar.gz'],
    ['/layanan/a/a..b', '/layanan/a/a..b', '/a..b'],
    ['/layanan/a/~user/x@y:z', '/layanan/a/~user/x@y:z', '/~user/x@y:z'],
    ['/layanan/a/laporan%202024', '/layanan/a/laporan 2024', '/laporan%202024'],
  ]
  for (const [target, decoded, upstream] of cases) {
    const r = checkTarget(target)
    if (!r.ok) {
      t.fail(`${target} refused: ${r.reason}`)
      continue
    }
    t.equal(r.target.decodedPath, decoded, `decoded ${target}`)
    t.equal(upstreamPathFor('/', r.target, 2), upstream, `upstream path of ${target}`)
  }
})

t.test('the upstream base path is kept in front of the forwarded segments', async (t) => {
  const r = checkTarget('/layanan/a/izin/1?x=1')
  if (!r.ok) throw new Error(r.reason)
  t.equal(upstreamPathFor('/aplikasi/', r.target, 2), '/aplikasi/izin/1')
  t.equal(upstreamPathFor('/aplikasi', r.target, 2), '/aplikasi/izin/1')
})

t.test('the query string is kept byte for byte, dots and escapes included', async (t) => {
  const target = '/layanan/a/cari?q=%2e%2e%2f..&x=1+2&y=%zz&z=a;b&&'
  const r = checkTarget(target)
  if (!r.ok) throw new Error(r.reason)
  t.equal(r.target.query, '?q=%2e%2e%2f..&x=1+2&y=%zz&z=a;b&&')
  const bare = checkTarget('/layanan/a/cari')
  t.equal(bare.ok ? bare.target.query : undefined, '')
})

t.test('an accepted path decodes to the same segments however often it is decoded again', async (t) => {
  // The property that keeps every accepted path inside the prefix: no segment of the
  // forwarded path is a dot segment or contains a separator after 1, 2 or 3 decodings.
  const alphabet = [
    'a',
    '.',
    '%2e',
    '%2E',
    '%25',
    '%2f',
    '%5c',
    '/',
    '\\',
    ';',
    '%3b',
    '%c0%ae',
    '%ef%bc%8e',
    ' ',
    '%20',
    '~',
    '%41',
    '%00',
    'é',
    '%c3%a9',
  ]
  let accepted = 0
  const problems: string[] = []
  let seed = 7
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  for (let i = 0; i < 20000; i++) {
    let rest = ''
    const len = 1 + rand(6)
    for (let j = 0; j < len; j++) rest += alphabet[rand(alphabet.length)]
    const r = checkTarget(`/layanan/a/${rest}`)
    if (!r.ok) continue
    accepted++
    const path = upstreamPathFor('/', r.target, 2)
    const depth = path.split('/').length
    let decoded = path
    for (let round = 0; round < 3; round++) {
      try {
        decoded = decodeURIComponent(decoded)
      } catch {
        problems.push(`${path}: no longer decodable after ${round} rounds`)
        break
      }
      const segments = decoded.split('/')
      if (segments.length !== depth) problems.push(`${path}: a separator appears after ${round + 1} decodings`)
      if (segments.some((s) => s === '.' || s === '..' || s.includes('\\')))
        problems.push(`${path}: a dot segment or backslash after ${round + 1} decodings`)
    }
  }
  t.same(problems, [], 'no accepted path changes meaning when decoded again')
  t.ok(accepted > 100, `accepted ${accepted} generated paths`)
})

t.test('SECURITY 16: the policy decides on the very path that is forwarded (/%70ub is /pub for both)', async (t) => {
  // Each spelling of one decoded path gives one forwarded path; the policy matched that one.
  const spellings = ['/layanan/a/pub', '/layanan/a/%70ub', '/layanan/a/%70%75%62', '/layanan/a/p%75b']
  const forwarded = new Set<string>()
  for (const target of spellings) {
    const r = checkTarget(target)
    if (!r.ok) throw new Error(r.reason)
    t.equal(r.target.decodedPath, '/layanan/a/pub', `decided as /pub: ${target}`)
    forwarded.add(upstreamPathFor('/', r.target, 2))
  }
  t.same([...forwarded], ['/pub'], 'every spelling is forwarded as /pub')
  // And generally: decoding the forwarded path once gives back what the policy decided on.
  for (const target of ['/layanan/a/caf%c3%a9/%7e%41', '/layanan/a/laporan%202024/x%40y', '/layanan/a/%E2%82%AC']) {
    const r = checkTarget(target)
    if (!r.ok) throw new Error(r.reason)
    t.equal(
      `/layanan/a${decodeURIComponent(upstreamPathFor('/', r.target, 2))}`.replace(/\/$/, ''),
      r.target.decodedPath.replace(/\/$/, ''),
      target,
    )
  }
})

t.test('case folding for policy lower-cases the decoded path', async (t) => {
  t.equal(caseFolded('/layanan/a/IZIN/Form'), '/layanan/a/izin/form')
})

t.test(
  'SECURITY 16: a protected service keeps its requirement under every spelling a case-insensitive server folds onto it',
  async (t) => {
    for (const spelling of [
      '/IZIN',
      '/%C4%B1z%C4%B1n',
      '/%EF%BD%89%EF%BD%9A%EF%BD%89%EF%BD%8E',
      '/Izin',
      '/izin::$DATA',
      '/izin:x',
      '/IZIN%3Ax',
    ]) {
      const target = checkTarget(spelling)
      t.ok(target.ok, `${spelling} is a path`)
      if (target.ok) t.equal(caseFolded(target.target.decodedPath), '/izin', `${spelling} folds onto /izin for policy`)
    }
    t.equal(caseFolded('/\u017Furat'), '/surat', 'long s folds onto s')
  },
)
