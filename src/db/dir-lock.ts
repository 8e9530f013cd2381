import fs from 'node:fs'

export interface DirLock {
  release(): void
}

/**
 * An exclusive lock file holding the owner's pid, created with O_EXCL. A lock left by a
 * process that no longer exists (killed, power loss) is taken over, so a crash never
 * leaves a stale lock behind; a lock of a live process is refused with a clear message.
 */
export function acquireDirLock(lockPath: string): DirLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx', 0o600)
      fs.writeSync(fd, String(process.pid))
      fs.closeSync(fd)
      let released = false
      return {
        release() {
          if (released) return
          released = true
          try {
            if (fs.readFileSync(lockPath, 'utf8').trim() === String(process.pid)) fs.unlinkSync(lockPath)
          } catch {
            // Already gone: nothing to release.
          }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const owner = Number.parseInt(safeRead(lockPath), 10)
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `the embedded database is in use by another Satu Pintu process (pid ${owner}); stop it first, or set DATABASE_URL to use PostgreSQL`,
        )
      }
      if (owner === process.pid) {
        throw new Error('the embedded database is already open in this process')
      }
      // Stale: its owner is gone. Remove and try once more.
      fs.rmSync(lockPath, { force: true })
    }
  }
  throw new Error(`could not take the lock ${lockPath}`)
}

function safeRead(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8')
  } catch {
    return ''
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
