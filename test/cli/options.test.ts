/**
 * The CLI's required options and its errors: a required option says so in --help; a
 * missing one is named, with what it is for; and with --json every error is one JSON
 * object ({ error: code, message }) on stderr, stdout empty, exit non-zero.
 */
import t from 'tap'
import type { Command } from 'commander'
import { buildProgram, main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'

async function run(args: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, {
    io,
    env: { NODE_ENV: 'test', SATUPINTU_DATA_DIR: '/nonexistent/satupintu-cli-options' },
  })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

function leaves(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  if (cmd.commands.length === 0) return [{ path, cmd }]
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]))
}

t.test('citizens show --help marks --reason as required, and only it', async (t) => {
  const r = await run(['citizens', 'show', '--help'])
  t.equal(r.code, 0)
  const options = r.out.slice(r.out.indexOf('Options:'))
  t.match(options, /--reason <text>\s+why you look this citizen up \(kept in the audit\s+trail\)\s+\(required\)/)
  t.notMatch(options.split('\n').find((l) => l.includes('--json')) ?? '', /required/)
})

t.test('every required option of every command says so in its --help', async (t) => {
  const { program } = buildProgram({ io: { out: () => undefined, err: () => undefined } })
  let checked = 0
  for (const { path, cmd } of leaves(program)) {
    const required = cmd.options.filter((o) => o.mandatory)
    if (required.length === 0) continue
    const r = await run([...path, '--help'])
    const help = r.out.replace(/\s+/g, ' ')
    for (const o of required) {
      checked++
      t.match(
        help,
        new RegExp(
          `${o.flags.replace(/[<>[\]]/g, '\\$&')} ${o.description.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^-]*\\(required\\)`,
        ),
        `${path.join(' ')} ${o.flags}`,
      )
    }
  }
  t.ok(checked >= 10, `${checked} required options checked`)
})

t.test('a missing required option is named, with what it is for, before anything is opened', async (t) => {
  const r = await run(['citizens', 'show', '3201011201900001'])
  t.equal(r.code, 2)
  t.equal(r.out, '')
  t.equal(
    r.err,
    'satupintu: citizens show needs --reason <text>: why you look this citizen up (kept in the audit trail)\n(run `satupintu citizens show --help` for usage)',
  )
})

t.test('with --json, errors are one JSON object on stderr and stdout stays empty', async (t) => {
  const cases: [string[], number, string, RegExp][] = [
    [
      ['citizens', 'show', '3201011201900001', '--json'],
      2,
      'missing_option',
      /^citizens show needs --reason <text>: why you look/,
    ],
    [
      ['clients', 'add', '--name', 'Dinas Uji', '--json'],
      2,
      'missing_option',
      /^clients add needs --agency <id>: agency id/,
    ],
    [['migrate', '--frobnicate', '--json'], 2, 'unknown_option', /^unknown option '--frobnicate'/],
    [
      ['agencies', 'check', '--file', '/nonexistent/agencies.yaml', '--json'],
      1,
      'config_invalid',
      /agenciesFile cannot be read/,
    ],
  ]
  for (const [args, code, error, message] of cases) {
    const r = await run(args)
    const what = args.join(' ')
    t.equal(r.code, code, `${what}: exit ${code}`)
    t.equal(r.out, '', `${what}: nothing on stdout`)
    t.equal(r.err.split('\n').length, 1, `${what}: one line`)
    const body = JSON.parse(r.err) as Record<string, unknown>
    t.same(Object.keys(body).sort(), ['error', 'message'], what)
    t.equal(body.error, error, what)
    t.match(body.message, message, what)
  }
})

t.test('without --json the same errors stay in words', async (t) => {
  const r = await run(['agencies', 'check', '--file', '/nonexistent/agencies.yaml'])
  t.equal(r.code, 1)
  t.match(r.err, /^satupintu: config: gateway\.agenciesFile cannot be read/)
})
