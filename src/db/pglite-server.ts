// Serves the process's PGlite to other local processes over the PostgreSQL wire protocol
// (PostgreSQL docs, "Frontend/Backend Protocol"), so that `satupintu` verbs work beside a
// running `npm start`: they connect with `pg` as to any server (src/db/pglite-served.ts).
//
// Why not @electric-sql/pglite-socket: its releases pin one exact PGlite version (ours is
// newer), it checks no credential, and it does not coordinate with the owning process's
// own queries, which would then run inside a client's open transaction. Here:
//   * loopback only (127.0.0.1, a port chosen by the system), and a password: 32 random
//     bytes in `<pgliteDir>.server.json`, mode 0600, next to the data directory's lock;
//     compared in constant time (cleartext password auth, which on loopback never leaves
//     the machine);
//   * the session gate (src/db/pglite-gate.ts): a client holds PGlite from a message
//     until the session is idle again, so transactions never interleave;
//   * a client that disconnects mid-transaction is rolled back; one that holds the session
//     idle for `idleHoldMs` is cut off, so a stuck CLI cannot stall the quick start.
// Limits: one PGlite session serves everybody in turn. It is for one machine and for the
// quick start; production uses PostgreSQL (docs/operations.md).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import type { SessionGate } from './pglite-gate.ts'

const SSL_REQUEST = 80877103
const CANCEL_REQUEST = 80877102
const GSSENC_REQUEST = 80877104
const PROTOCOL_3 = 196608

export interface ServerFile {
  readonly pid: number
  readonly port: number
  readonly password: string
}

/** `<dir>.server.json`: where a served PGlite's address and credential are kept. */
export function serverFilePath(pgliteDir: string): string {
  return `${path.resolve(pgliteDir)}.server.json`
}

export interface PgliteServer {
  readonly port: number
  close(): Promise<void>
}

export interface ServeOptions {
  readonly dir: string
  readonly idleHoldMs?: number
  readonly onError?: (err: Error) => void
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.write(type, 0, 'latin1')
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

function errorResponse(code: string, text: string): Buffer {
  return message('E', Buffer.concat([Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${text}\0`, 'utf8'), Buffer.from([0])]))
}

/** The transaction status of the last ReadyForQuery in a backend response, if any. */
function lastReadyStatus(response: Uint8Array): string | undefined {
  const buf = Buffer.from(response.buffer, response.byteOffset, response.byteLength)
  let status: string | undefined
  let pos = 0
  while (pos + 5 <= buf.length) {
    const type = buf[pos]
    const len = buf.readInt32BE(pos + 1)
    if (type === 0x5a && pos + 5 < buf.length) status = String.fromCharCode(buf[pos + 5] as number)
    pos += 1 + len
  }
  return status
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export async function servePglite(client: PGlite, gate: SessionGate, options: ServeOptions): Promise<PgliteServer> {
  const password = randomBytes(32).toString('base64url')
  const expected = sha256(password)
  const idleHoldMs = options.idleHoldMs ?? 30_000
  const sockets = new Set<net.Socket>()

  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.setNoDelay(true)
    let buf = Buffer.alloc(0)
    let phase: 'startup' | 'password' | 'ready' | 'closed' = 'startup'
    let startup: Buffer | undefined
    let release: (() => void) | undefined
    let idleTimer: NodeJS.Timeout | undefined
    let chain: Promise<void> = Promise.resolve()

    const armIdle = () => {
      clearTimeout(idleTimer)
      // Only while holding the session: an idle client that holds nothing costs nothing.
      if (release !== undefined) idleTimer = setTimeout(() => socket.destroy(), idleHoldMs).unref()
    }

    const cleanup = async () => {
      clearTimeout(idleTimer)
      if (release === undefined) return
      try {
        // End an unfinished extended-query sequence, then any open transaction.
        await client.execProtocolRaw(message('S', Buffer.alloc(0)))
        if (client.isInTransaction()) await client.exec('ROLLBACK')
      } catch (err) {
        options.onError?.(err as Error)
      } finally {
        release()
        release = undefined
      }
    }

    const exec = async (msg: Buffer) => {
      if (release === undefined) release = await gate.acquire()
      if (phase === 'closed') return
      const response = await client.execProtocolRaw(new Uint8Array(msg))
      if (socket.writable) socket.write(response)
      const status = lastReadyStatus(response)
      if (status === 'I' && release !== undefined) {
        release()
        release = undefined
      }
      armIdle()
    }

    const process = async () => {
      for (;;) {
        if (phase === 'closed') return
        if (phase === 'startup') {
          if (buf.length < 8) return
          const len = buf.readInt32BE(0)
          const code = buf.readInt32BE(4)
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            buf = buf.subarray(8)
            socket.write('N')
            continue
          }
          if (code === CANCEL_REQUEST || code !== PROTOCOL_3 || len < 8 || len > 10_000) {
            socket.destroy()
            return
          }
          if (buf.length < len) return
          startup = Buffer.from(buf.subarray(0, len))
          buf = buf.subarray(len)
          phase = 'password'
          // AuthenticationCleartextPassword (code 3).
          const body = Buffer.alloc(4)
          body.writeInt32BE(3, 0)
          socket.write(message('R', body))
          continue
        }
        if (buf.length < 5) return
        const type = String.fromCharCode(buf[0] as number)
        const len = buf.readInt32BE(1)
        if (len < 4 || len > 256 * 1024 * 1024) {
          socket.destroy()
          return
        }
        if (buf.length < 1 + len) return
        const msg = Buffer.from(buf.subarray(0, 1 + len))
        buf = buf.subarray(1 + len)
        if (phase === 'password') {
          const given = type === 'p' ? msg.subarray(5, msg.length - 1).toString('utf8') : ''
          if (type !== 'p' || !timingSafeEqual(sha256(given), expected)) {
            socket.end(errorResponse('28P01', 'password authentication failed'))
            phase = 'closed'
            return
          }
          phase = 'ready'
          await exec(startup as Buffer)
          continue
        }
        if (type === 'X') {
          socket.end()
          return
        }
        await exec(msg)
      }
    }

    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      clearTimeout(idleTimer)
      chain = chain.then(process).catch((err: unknown) => {
        options.onError?.(err as Error)
        socket.destroy()
      })
    })
    socket.on('error', () => {
      // A client that went away: cleaned up on close.
    })
    socket.on('close', () => {
      sockets.delete(socket)
      chain = chain.then(() => {
        phase = 'closed'
        return cleanup()
      })
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const file = serverFilePath(options.dir)
  const tmp = `${file}.${process.pid}.tmp`
  const content: ServerFile = { pid: process.pid, port, password }
  fs.writeFileSync(tmp, JSON.stringify(content), { mode: 0o600 })
  fs.renameSync(tmp, file)

  return {
    port,
    async close() {
      try {
        const current = JSON.parse(fs.readFileSync(file, 'utf8')) as ServerFile
        if (current.pid === process.pid) fs.rmSync(file, { force: true })
      } catch {
        // Already gone.
      }
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
