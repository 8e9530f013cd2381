import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { AppError } from '../../src/errors/app-error.ts'
import { errorCodes, type ErrorCode } from '../../src/errors/codes.ts'
import { projectRoot } from '../helpers/process.ts'

const doc = fs.readFileSync(path.join(projectRoot, 'docs', 'errors.md'), 'utf8')

t.test('every error code is documented in docs/errors.md with its status', async (t) => {
  for (const [code, def] of Object.entries(errorCodes)) {
    t.match(doc, new RegExp(`^\\| \`${code}\` \\| ${def.status} \\|`, 'm'), code)
  }
})

t.test('docs/errors.md documents no code that does not exist', async (t) => {
  const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1])
  t.same(documented.sort(), Object.keys(errorCodes).sort())
})

t.test('a 5xx error is never exposed, a 4xx is', async (t) => {
  for (const code of Object.keys(errorCodes) as ErrorCode[]) {
    const e = new AppError(code, 'detail')
    t.equal(e.expose, e.statusCode < 500, code)
  }
})
