/**
 * Writes the test lists of docs/security.md: under each numbered line of the security bar,
 * every test whose title is `SECURITY <n>: <what it checks>`, with a link to its file.
 *
 *   node scripts/docs-security.ts           print the doc as it should be
 *   node scripts/docs-security.ts --write   rewrite docs/security.md (npm run docs:security)
 *
 * Only the blocks between `<!-- tests N -->` and `<!-- /tests -->` are generated; the text of the
 * bar around them is written by hand. test/docs/security.test.ts fails when a block is stale,
 * when a line 1–38 has no test, and when a title starts like a reference but is not one.
 *
 * Titles are found in the source text, not by running the tests: the first argument of every
 * `test(` / `t.test(` call that is a string literal (a template literal is taken as written,
 * `${…}` and all). A test marked skip or todo by option still counts; keep those rare.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('..', import.meta.url))
export const securityDocPath = path.join(repoRoot, 'docs', 'security.md')

/** Lines of the bar that belong to later issues: their block may say "pending" instead of listing tests. */
export const pendingAllowed: ReadonlyMap<number, string> = new Map([
  [39, 'issue 14'],
  [40, 'issue 15'],
  [41, 'issue 16'],
  [42, 'issue 17'],
])

export interface SecurityTest {
  line: number
  /** The title after `SECURITY <n>: `. */
  what: string
  /** Repository-relative, with forward slashes. */
  file: string
  /** Where in the file, for ordering only (never written: line numbers would go stale). */
  offset: number
}

export interface TestTitle {
  title: string
  file: string
  offset: number
}

const titleCall = /\btest\(\s*(['"`])((?:\\[\s\S]|(?!\1)[^\\])*)\1/g
export const referenceTitle = /^SECURITY (\d+): (\S[\s\S]*)$/

function unescapeLiteral(literal: string): string {
  return literal.replace(/\\([\s\S])/g, (_, c: string) => ({ n: '\n', t: '\t' })[c] ?? c)
}

function testFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f))
    .sort()
}

/** Every literal test title under test/, in file order. */
export function scanTitles(root = repoRoot): TestTitle[] {
  const found: TestTitle[] = []
  for (const abs of testFiles(path.join(root, 'test'))) {
    const file = path.relative(root, abs).split(path.sep).join('/')
    const source = fs.readFileSync(abs, 'utf8')
    for (const m of source.matchAll(titleCall))
      found.push({ title: unescapeLiteral(m[2] ?? ''), file, offset: m.index })
  }
  return found
}

/** The titles that reference a line of the bar. */
export function securityTests(titles: TestTitle[] = scanTitles()): SecurityTest[] {
  const tests: SecurityTest[] = []
  for (const { title, file, offset } of titles) {
    const m = referenceTitle.exec(title)
    if (m) tests.push({ line: Number(m[1]), what: m[2] ?? '', file, offset })
  }
  return tests
}

/** Titles that start like a reference to the bar but do not have the form `SECURITY <n>: …`. */
export function malformedTitles(titles: TestTitle[] = scanTitles()): TestTitle[] {
  return titles.filter(({ title }) => /^\s*SECURITY\b/i.test(title) && !referenceTitle.test(title))
}

function markdownText(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`)
}

const block = /^([ \t]*)<!-- tests (\d+)(?: pending: ([^>]*?))? -->\n[\s\S]*?^[ \t]*<!-- \/tests -->$/gm

export interface Marker {
  line: number
  pending?: string
}

/** The `<!-- tests N -->` markers of the doc, in order. */
export function markers(doc: string): Marker[] {
  return [...doc.matchAll(block)].map((m) =>
    m[3] === undefined ? { line: Number(m[2]) } : { line: Number(m[2]), pending: m[3] },
  )
}

/** The doc with every test block rewritten from `tests`. */
export function renderSecurityDoc(doc: string, tests: SecurityTest[] = securityTests()): string {
  const byLine = new Map<number, SecurityTest[]>()
  for (const t of tests) byLine.set(t.line, [...(byLine.get(t.line) ?? []), t])
  return doc.replace(block, (_all, indent: string, n: string, pending: string | undefined) => {
    const line = Number(n)
    const mine = (byLine.get(line) ?? []).sort((a, b) =>
      a.file < b.file ? -1 : a.file > b.file ? 1 : a.offset - b.offset,
    )
    const items =
      mine.length > 0
        ? mine.map((t) => `${indent}- ${markdownText(t.what)} ([${t.file}](../${t.file}))`)
        : [`${indent}- ${pending === undefined ? 'no test yet' : `pending — ${pending}`}`]
    const open = pending === undefined ? `<!-- tests ${line} -->` : `<!-- tests ${line} pending: ${pending} -->`
    return [`${indent}${open}`, ...items, `${indent}<!-- /tests -->`].join('\n')
  })
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const text = renderSecurityDoc(fs.readFileSync(securityDocPath, 'utf8'))
  if (process.argv.includes('--write')) fs.writeFileSync(securityDocPath, text)
  else process.stdout.write(text)
  for (const t of malformedTitles()) process.stderr.write(`not a SECURITY <n>: title: ${t.file}: ${t.title}\n`)
}
