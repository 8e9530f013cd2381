/** Output helpers for CLI verbs: `--json` for scripts, plain lines for people. */
export interface Io {
  out(line: string): void
  err(line: string): void
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2))
}

/**
 * "1 agency", "3 agencies": a count with its noun in the number it takes, for every line
 * a person reads (the plural is given where it is not the noun plus "s").
 */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** Aligned columns for a human reader. */
export function printTable(io: Io, rows: readonly (readonly string[])[]): void {
  const widths: number[] = []
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length)
    })
  for (const r of rows)
    io.out(
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
}
