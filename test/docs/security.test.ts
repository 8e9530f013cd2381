import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  malformedTitles,
  markers,
  pendingAllowed,
  renderSecurityDoc,
  repoRoot,
  scanTitles,
  securityDocPath,
  securityTests,
  type SecurityTest,
} from '../../scripts/docs-security.ts'

const doc = fs.readFileSync(securityDocPath, 'utf8')

t.test(
  'docs/security.md lists the tests of each line as the test titles say (run `npm run docs:security`)',
  async (t) => {
    t.equal(doc, renderSecurityDoc(doc), 'the generated lists are stale: run `npm run docs:security`')
  },
)

t.test('every line of the bar, 1 to 43, has exactly one test list, in order', async (t) => {
  t.same(
    markers(doc).map((m) => m.line),
    Array.from({ length: 43 }, (_, i) => i + 1),
  )
})

t.test('lines 1–38 each have at least one test; only lines 39–42 may be pending, on their own issue', async (t) => {
  const tested = new Set(securityTests().map((x) => x.line))
  for (const m of markers(doc)) {
    if (m.pending !== undefined) {
      t.equal(m.pending, pendingAllowed.get(m.line), `line ${m.line} may be pending only on its own issue`)
      continue
    }
    t.ok(tested.has(m.line), `line ${m.line} has a test named "SECURITY ${m.line}: …"`)
  }
})

t.test(
  'a test title that starts with SECURITY has the form "SECURITY <n>: …" and names a line that exists',
  async (t) => {
    t.same(
      malformedTitles().map((x) => `${x.file}: ${x.title}`),
      [],
      'write "SECURITY 17: what it checks", one line per title',
    )
    const lines = new Set(markers(doc).map((m) => m.line))
    const unknown = securityTests().filter((x: SecurityTest) => !lines.has(x.line))
    t.same(
      unknown.map((x) => `${x.file}: SECURITY ${x.line}: ${x.what}`),
      [],
      'no such line in docs/security.md',
    )
  },
)

t.test('every relative link in docs/security.md names a file the repo has', async (t) => {
  const links = [...doc.matchAll(/\]\((\.\.\/[^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1] ?? '')
  t.ok(links.length > 0)
  for (const link of new Set(links)) t.ok(fs.existsSync(path.resolve(path.dirname(securityDocPath), link)), link)
  t.ok(path.resolve(path.dirname(securityDocPath), '..') === path.resolve(repoRoot), 'links are relative to docs/')
})

/** A test call in a fixture, written so that the scan of this very file does not find it. */
function call(title: string, fn = 't.test'): string {
  return `${fn}(${title}, async () => {})`
}

t.test('titles are found in every quoting style, across lines, and only the SECURITY <n>: form counts', async (t) => {
  const root = t.testdir({
    test: {
      x: {
        'a.test.ts': [
          call("'SECURITY 3: single \\'quoted\\''"),
          call('\n  "SECURITY 4: double quoted, on the next line",\n'),
          call('`SECURITY 5: a template with ${what}`', 'tt.test'),
          call("'SECURITY 6 (unit): malformed'"),
          call("'not a reference to SECURITY 7: at all'"),
          call("'SECURITY 8: skipped by name does not count'", 't.skip'),
        ].join('\n'),
        'helper.ts': call("'SECURITY 9: not a test file'"),
      },
    },
  })
  const titles = scanTitles(root)
  t.same(
    securityTests(titles).map((x) => [x.line, x.what, x.file]),
    [
      [3, "single 'quoted'", 'test/x/a.test.ts'],
      [4, 'double quoted, on the next line', 'test/x/a.test.ts'],
      [5, 'a template with ${what}', 'test/x/a.test.ts'],
    ],
  )
  t.same(
    malformedTitles(titles).map((x) => x.title),
    ['SECURITY 6 (unit): malformed'],
  )
})

t.test('a block lists its tests by file and position, escapes Markdown, and says when a line has none', async (t) => {
  const rendered = renderSecurityDoc(
    '1. x\n   <!-- tests 1 -->\n   <!-- /tests -->\n2. y\n   <!-- tests 2 -->\n   - stale\n   <!-- /tests -->\n',
    [
      { line: 1, what: "a title with `code` and [brackets] and a 'quote'", file: 'test/b.test.ts', offset: 5 },
      { line: 1, what: 'an earlier one', file: 'test/a.test.ts', offset: 9 },
    ],
  )
  t.equal(
    rendered,
    [
      '1. x',
      '   <!-- tests 1 -->',
      '   - an earlier one ([test/a.test.ts](../test/a.test.ts))',
      "   - a title with \\`code\\` and \\[brackets\\] and a 'quote' ([test/b.test.ts](../test/b.test.ts))",
      '   <!-- /tests -->',
      '2. y',
      '   <!-- tests 2 -->',
      '   - no test yet',
      '   <!-- /tests -->',
      '',
    ].join('\n'),
  )
})
