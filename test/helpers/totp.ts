/** An authenticator app for tests: a confirmed TOTP factor, and its codes at any time. */
import { Secret, TOTP } from 'otpauth'
import { confirmTotpEnrolment, pendingTotpEnrolment } from '../../src/accounts/second-factors.ts'
import type { TestDatabase } from './db.ts'
import { testKek } from './idp.ts'

export const secondFactorKeys = { sealer: testKek, recoveryKey: testKek.derive('recovery codes') }

export function codeAt(secret: string, at: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: at,
  })
}

/** Turns on the app for the account, confirmed two minutes ago: codes of now and the steps around it are unused. */
export async function enrolTotp(db: TestDatabase, citizenId: string): Promise<string> {
  const enrolment = await pendingTotpEnrolment(db.db, secondFactorKeys, citizenId, 'x')
  if (!enrolment) throw new Error('no enrolment')
  const past = new Date(Date.now() - 120_000)
  const ok = await confirmTotpEnrolment(db.db, secondFactorKeys, citizenId, codeAt(enrolment.secret, past.getTime()), {
    now: past,
  })
  if (!ok.ok) throw new Error('not confirmed')
  return enrolment.secret
}
