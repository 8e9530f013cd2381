/**
 * Debian's Chromium for the browser tests and the screenshot scripts, launched one way
 * (playwright-core cannot download a browser here; .ci/run installs the Debian package):
 * headless, no sandbox (CI runs as root), and nothing that reaches past 127.0.0.1.
 */
import fs from 'node:fs'
import { type Browser, type BrowserContextOptions, chromium } from 'playwright-core'

export const chromiumPath = '/usr/bin/chromium'

/** No GPU, no QUIC, and no background traffic: updates, sync and field trials stay off. */
export const chromiumArgs: readonly string[] = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
])

/** Why a browser test is skipped, or false when Chromium is there (for tap's `skip`). */
export function chromiumMissing(): string | false {
  return fs.existsSync(chromiumPath) ? false : 'Debian chromium is not installed (.ci/run installs it)'
}

/** A Chromium, closed when `t` ends (when given; a script closes its own). */
export async function launchChromium(t?: { teardown: (fn: () => unknown) => void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs] })
  t?.teardown(() => browser.close())
  return browser
}

/** The cheap phone the citizen pages are made for: 360 × 740, Bahasa Indonesia. */
export const phone: BrowserContextOptions = Object.freeze({ viewport: { width: 360, height: 740 }, locale: 'id-ID' })
