// The client side of src/db/pglite-server.ts: when the embedded database's data
// directory is held by a running Satu Pintu process that serves it, a second process
// (a `satupintu` verb beside `npm start`) connects to that process instead of being
// refused.

import fs from 'node:fs'
import { serverFilePath, type ServerFile } from './pglite-server.ts'

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The URL of the process serving `pgliteDir`, if a live one does (and it is not this one). */
export function servedPglite(pgliteDir: string): { url: string; pid: number } | undefined {
  let file: ServerFile
  try {
    file = JSON.parse(fs.readFileSync(serverFilePath(pgliteDir), 'utf8')) as ServerFile
  } catch {
    return undefined
  }
  if (!Number.isInteger(file.pid) || !Number.isInteger(file.port) || typeof file.password !== 'string') return undefined
  if (file.pid === process.pid || !isAlive(file.pid)) return undefined
  return {
    url: `postgres://satupintu:${encodeURIComponent(file.password)}@127.0.0.1:${file.port}/postgres`,
    pid: file.pid,
  }
}
