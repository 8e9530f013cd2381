/**
 * Scope → message key describing, in plain words, what the citizen releases with it: the
 * consent page asks with these words, and Akun Saya → Instansi lists what each agency has
 * with the same ones. The order is the order both pages list them in.
 */
export const scopeItems: Readonly<Record<string, string>> = {
  openid: 'claim.openid',
  profile: 'claim.profile',
  email: 'claim.email',
  phone: 'claim.phone',
  address: 'claim.address',
  nik: 'claim.nik',
  verified_claims: 'claim.verified_claims',
  offline_access: 'consent.offline',
  gateway: 'claim.gateway',
}

export const scopeOrder: readonly string[] = Object.keys(scopeItems)
