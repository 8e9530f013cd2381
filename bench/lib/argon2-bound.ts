/**
 * The physical bound for password sign-ins: argon2id verifications per second at the
 * parameters the idp uses (src/accounts/passwords.ts), with the same library, run as its
 * own process on the server CPUs with UV_THREADPOOL_SIZE sized like the idp's.
 *
 *   UV_THREADPOOL_SIZE=1 node bench/lib/argon2-bound.ts <seconds>
 *
 * Keeps twice the thread pool's size of verifications in flight; prints one JSON line.
 */
import argon2 from 'argon2'
import { argon2Options, DUMMY_HASH, preparePassword } from '../../src/accounts/passwords.ts'

const seconds = Math.min(60, Number(process.argv[2] ?? 10))
const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4)
// The hash a sign-in verifies against carries argon2Options (a test in the project checks DUMMY_HASH's).
const password = preparePassword('kata sandi yang salah sekali')
let ops = 0
const start = performance.now()
const deadline = start + seconds * 1000

async function worker(): Promise<void> {
  for (let n = 0; n < 1_000_000 && performance.now() < deadline; n++) {
    await argon2.verify(DUMMY_HASH, password)
    ops++
  }
}

await Promise.all(Array.from({ length: Math.max(1, threads * 2) }, () => worker()))
const elapsed = (performance.now() - start) / 1000
// The process's own CPU time (all threads: the pool's verifications included).
const cpu = process.cpuUsage()
process.stdout.write(
  `ARGON2 ${JSON.stringify({ ops, seconds: elapsed, opsPerSecond: ops / elapsed, cpuMicros: cpu.user + cpu.system, threads, params: { m: argon2Options.memoryCost, t: argon2Options.timeCost, p: argon2Options.parallelism } })}\n`,
)
