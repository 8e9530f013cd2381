import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RelyingParty } from '../accounts/passkeys.ts'
import type { Config } from '../config/schema.ts'

/**
 * The WebAuthn relying party of this idp: the RP ID is the configured issuer's host name
 * and the only origin accepted is the issuer's (WebAuthn §5.1.2, §7.1 steps 9 and 14),
 * from configuration and never from the request's Host (docs/security.md line 34). A page
 * reached on an alias host (idp.hostAliases) therefore cannot use a passkey: the browser
 * refuses an RP ID that is not its own host's.
 */
export function relyingPartyOf(config: Config): RelyingParty {
  const issuer = new URL(config.idp.issuer)
  return Object.freeze({ id: issuer.hostname, origin: issuer.origin, name: 'Satu Pintu' })
}

/** The library's browser bundle (a UMD file that defines `SimpleWebAuthnBrowser`). */
const browserBundle = path.join(
  path.dirname(fileURLToPath(import.meta.resolve('@simplewebauthn/browser'))),
  '..',
  'dist',
  'bundle',
  'index.umd.min.js',
)

/** Script files of the passkey pages, served by src/http/assets.ts under /assets/. */
export const passkeyAssets = Object.freeze({
  'simplewebauthn-browser.js': { path: browserBundle, type: 'text/javascript; charset=utf-8' },
  'passkey.js': {
    path: fileURLToPath(new URL('./assets/passkey.js', import.meta.url)),
    type: 'text/javascript; charset=utf-8',
  },
})

/** What a passkey page's layout loads, in order (the bundle defines what passkey.js uses). */
export const passkeyScripts = Object.freeze(['simplewebauthn-browser.js', 'passkey.js'])
