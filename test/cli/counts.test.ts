/**
 * Counts in the CLI's plain output read as English: "1 agency", "3 routes", never
 * "1 agencies" or "route(s)".
 */
import path from 'node:path'
import t from 'tap'
import { main } from '../../src/cli/main.ts'
import { counted, type Io } from '../../src/cli/output.ts'
import { projectRoot } from '../helpers/process.ts'

async function run(args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, { io, env: { NODE_ENV: 'test' } })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

t.test('a count takes the noun in its number', async (t) => {
  t.equal(counted(0, 'route'), '0 routes')
  t.equal(counted(1, 'route'), '1 route')
  t.equal(counted(2, 'agency', 'agencies'), '2 agencies')
  t.equal(counted(1, 'agency', 'agencies'), '1 agency')
  t.equal(counted(1, 'audit entry', 'audit entries'), '1 audit entry')
})

t.test('agencies check on the shipped file (one agency) says "1 agency"', async (t) => {
  const r = await run(['agencies', 'check', '--file', path.join(projectRoot, 'config', 'agencies.yaml')])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /^1 agency, 3 routes: valid$/m)
  t.notMatch(r.out, /1 agencies|\(s\)/)
})
