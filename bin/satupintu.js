#!/usr/bin/env node
// Entry point of the `satupintu` command. Node runs the TypeScript sources directly
// (type stripping), which needs Node.js 22.18 or newer; say so plainly on an older one.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `satupintu: Node.js ${process.versions.node} is too old; Node.js 22.18 or newer is required (npm install provides one under node_modules/.bin, used by the npm scripts)\n`,
  )
  process.exit(1)
}
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
