import type { ColumnType, Generated, Selectable } from 'kysely'
import { columns } from './columns.ts'

export const passkeyDeviceTypes = ['singleDevice', 'multiDevice'] as const
export type PasskeyDeviceType = (typeof passkeyDeviceTypes)[number]

/** A citizen's passkey (a WebAuthn credential; src/accounts/passkeys.ts). Several per citizen. */
export interface PasskeysTable {
  id: Generated<string>
  citizen_id: string
  /** base64url, unique across all accounts. */
  credential_id: string
  /** The WebAuthn user.id (base64url of 32 random bytes), the same on all of a citizen's passkeys. */
  user_handle: string
  /** COSE_Key. */
  public_key: Buffer | Uint8Array
  /** The signature counter (int8: `pg` gives a string, PGlite a number; read it with Number()). */
  counter: ColumnType<string | number, number | undefined, number>
  transports: ColumnType<string[], string[] | undefined, string[]>
  /** multiDevice: backup eligible, i.e. a synced passkey; singleDevice: bound to one authenticator. */
  device_type: PasskeyDeviceType
  backed_up: boolean
  aaguid: string
  /** The citizen's name for it ("Ponsel saya"). */
  name: string
  created_at: ColumnType<Date, Date | string | undefined, never>
  last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>
}

export const webauthnChallengePurposes = ['register', 'sign_in', 'second_factor'] as const
export type WebauthnChallengePurpose = (typeof webauthnChallengePurposes)[number]

/** A challenge given to a browser, single use, short lived, bound to what asked for it. */
export interface WebauthnChallengesTable {
  /** base64url, as the browser echoes it in clientDataJSON. */
  challenge: string
  purpose: WebauthnChallengePurpose
  /** `interaction:<uid>` or `session:<id>`: only that interaction or session may use it. */
  binding: string
  /** Registration and the second-factor step: the account it is for; a passwordless sign-in: null. */
  citizen_id: string | null
  /** Registration: the WebAuthn user.id given in the options, stored with the new passkey. */
  user_handle: ColumnType<string | null, string | null | undefined, string | null>
  expires_at: ColumnType<Date, Date | string, Date | string>
  created_at: ColumnType<Date, Date | string | undefined, never>
}

export type PasskeyRow = Selectable<PasskeysTable>

export const passkeysColumns = columns<PasskeysTable>({
  id: 'uuid',
  citizen_id: 'uuid',
  credential_id: 'text',
  user_handle: 'text',
  public_key: 'bytea',
  counter: 'int8',
  transports: '_text',
  device_type: 'text',
  backed_up: 'bool',
  aaguid: 'text',
  name: 'text',
  created_at: 'timestamptz',
  last_used_at: 'timestamptz?',
})

export const webauthnChallengesColumns = columns<WebauthnChallengesTable>({
  challenge: 'text',
  purpose: 'text',
  binding: 'text',
  citizen_id: 'uuid?',
  user_handle: 'text?',
  expires_at: 'timestamptz',
  created_at: 'timestamptz',
})
