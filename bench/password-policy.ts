/**
 * The cost of checkPassword (src/accounts/password-policy.ts), which runs zxcvbn on the
 * event loop of the idp for every registration, reset and password change:
 *
 *   node bench/password-policy.ts [--runs 30]
 *
 * Prints the median and the slowest run per kind of password, after a warm-up. zxcvbn's
 * work grows with length, so the policy scores the first SCORED_CODE_POINTS only; the
 * "zxcvbn, whole input" rows show what that cap saves.
 */
import { createRequire } from 'node:module'
import { ZxcvbnFactory } from '@zxcvbn-ts/core'
import { checkPassword, SCORED_CODE_POINTS, warmPasswordPolicy } from '../src/accounts/password-policy.ts'

const runsArg = process.argv.indexOf('--runs')
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30
const context = {
  nik: '3201011201900001',
  birthDate: '1990-01-12',
  name: 'Budi Santoso',
  email: 'budi@contoh.id',
  phone: '081234567890',
  regencyName: 'Sukamaju',
}
const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*'
const random = (n: number) =>
  Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('')
const phrase = (n: number) =>
  'gajah biru menari di atas awan tipis sambil minum kopi tubruk ya '.repeat(Math.ceil(n / 64)).slice(0, n)

function time(label: string, make: () => string, check: (p: string) => unknown): void {
  for (let i = 0; i < 3; i++) check(make())
  const ms: number[] = []
  for (let i = 0; i < runs; i++) {
    const p = make()
    const t0 = performance.now()
    check(p)
    ms.push(performance.now() - t0)
  }
  ms.sort((a, b) => a - b)
  console.log(
    `${label.padEnd(44)} median ${(ms[Math.floor(runs / 2)] ?? 0).toFixed(1).padStart(6)} ms   max ${(ms[runs - 1] ?? 0).toFixed(1).padStart(6)} ms`,
  )
}

let t0 = performance.now()
warmPasswordPolicy()
console.log(`first use (load the lists, build the dictionaries): ${(performance.now() - t0).toFixed(0)} ms`)
for (const n of [8, 64, 256]) {
  time(
    `checkPassword, ${n} random characters`,
    () => random(n),
    (p) => checkPassword(p, context),
  )
  time(
    `checkPassword, ${n}-character passphrase`,
    () => phrase(n),
    (p) => checkPassword(p, context),
  )
}
time(
  'checkPassword, 1000 characters (refused)',
  () => random(1000),
  (p) => checkPassword(p, context),
)

t0 = performance.now()
const require = createRequire(import.meta.url)
const common = require('@zxcvbn-ts/language-common') as {
  dictionary: Record<string, string[]>
  adjacencyGraphs: Record<string, Record<string, (string | null)[]>>
}
const whole = new ZxcvbnFactory({ dictionary: common.dictionary, graphs: common.adjacencyGraphs, maxLength: 1000 })
console.log(
  `(an uncapped zxcvbn with its default l33t limit, built in ${(performance.now() - t0).toFixed(0)} ms; the policy scores ${SCORED_CODE_POINTS})`,
)
for (const n of [64, 1000])
  time(
    `zxcvbn, whole input, ${n} random characters`,
    () => random(n),
    (p) => whole.check(p),
  )
