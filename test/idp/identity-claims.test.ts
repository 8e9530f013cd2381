// Identity claims through a real code flow (issue 14): identity_level with every sign-in,
// the NIK and OpenID Connect for Identity Assurance verified_claims only from an account
// whose NIK an officer proved in person, and only with the citizen's consent; discovery
// says what verified_claims holds.
import { decodeJwt } from 'jose'
import t from 'tap'
import { proveIdentityInPerson } from '../../src/accounts/identity.ts'
import { createOfficer } from '../../src/accounts/officers.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, registerClient, startIdp } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'

t.test('identity_level, nik and verified_claims follow the proof, through a real code flow', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const discovery = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >
    t.match(discovery, {
      verified_claims_supported: true,
      trust_frameworks_supported: ['id_satupintu'],
      evidence_supported: ['document'],
      documents_supported: ['ktp_el'],
      claims_in_verified_claims_supported: ['nik', 'name', 'birthdate', 'gender'],
    })
    t.ok((discovery.scopes_supported as string[]).includes('verified_claims'))
    for (const c of ['identity_level', 'nik', 'verified_claims'])
      t.ok((discovery.claims_supported as string[]).includes(c), `claims_supported has ${c}`)
    t.ok(Array.isArray(discovery.claim_types_supported), "oidc-provider's own metadata is still there")

    // An agency (not first-party: the citizen is asked) that may have the NIK and verified claims.
    const client = await registerClient(db, {
      redirectUris: [redirectUri],
      scopes: ['openid', 'profile', 'nik', 'verified_claims'],
      firstParty: false,
    })
    const scope = 'openid profile nik verified_claims'
    const flow = async () => {
      const tokens = await codeFlowTokens(
        idp.issuer,
        { clientId: client.clientId, secret: client.secret },
        new Browser(),
        { redirectUri, credentials: { username: budi.nik, password: budi.password }, scope },
      )
      const userinfo = (await (
        await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      ).json()) as Record<string, unknown>
      return { idToken: decodeJwt(tokens.id_token ?? ''), userinfo }
    }

    // Claimed only: the level in words of the facts, no NIK, no verified claims.
    const before = await flow()
    t.equal(before.idToken.identity_level, 'contact_verified', 'the ID token says how well the person was proven')
    t.equal(before.userinfo.identity_level, 'contact_verified')
    t.equal(before.userinfo.name, budi.name)
    t.notOk('nik' in before.userinfo, 'a claimed NIK is never released')
    t.notOk('verified_claims' in before.userinfo, 'nor verified claims')

    const officer = await createOfficer(db.db, {
      username: 'petugas.rina',
      name: 'Rina Petugas',
      roles: ['counter_officer'],
      password: 'meja loket nomor tiga biru',
      regencyName: 'Sukamaju',
    })
    const at = new Date('2026-12-02T02:30:00.000Z')
    await proveIdentityInPerson(
      db.db,
      { citizenId: citizen.id, officerId: officer.id, location: 'MPP Sukamaju, loket 2', evidence: 'ktp_el' },
      { now: at },
    )

    const after = await flow()
    t.equal(after.idToken.identity_level, 'in_person')
    t.equal(after.userinfo.nik, budi.nik, 'the proven NIK is released')
    t.same(after.userinfo.verified_claims, {
      verification: {
        trust_framework: 'id_satupintu',
        time: '2026-12-02T02:30:00Z',
        evidence: [
          {
            type: 'document',
            method: 'pipp',
            time: '2026-12-02T02:30:00Z',
            document_details: { type: 'ktp_el' },
            verifier: { organization: 'Pemerintah Kabupaten Sukamaju', location: 'MPP Sukamaju, loket 2' },
          },
        ],
      },
      claims: { nik: budi.nik, name: budi.name, birthdate: budi.birthDate, gender: 'male' },
    })
    t.notOk('verified_claims' in after.idToken, 'verified claims come from userinfo, not the ID token')

    // Without the scope (no consent to it), none of it.
    const plain = await codeFlowTokens(
      idp.issuer,
      { clientId: client.clientId, secret: client.secret },
      new Browser(),
      { redirectUri, credentials: { username: budi.nik, password: budi.password }, scope: 'openid profile' },
    )
    const info = (await (
      await fetch(`${idp.issuer}/me`, { headers: { authorization: `Bearer ${plain.access_token}` } })
    ).json()) as Record<string, unknown>
    t.notOk('verified_claims' in info)
    t.notOk('nik' in info)
    t.equal(info.identity_level, 'in_person')
  })
})
