// Runs the demo agency on its own (the compose file uses this). It reads its settings
// from the environment directly: it plays an agency's system, not part of Satu Pintu.
import pino from 'pino'
import { buildDemoAgency } from './app.ts'

const port = Number.parseInt(process.env.DEMO_AGENCY_PORT ?? '8081', 10)
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(
    `demo-agency: DEMO_AGENCY_PORT must be a port number, got ${JSON.stringify(process.env.DEMO_AGENCY_PORT)}\n`,
  )
  process.exit(1)
}
// Behind the gateway: GATEWAY_URL is the gateway's public URL (the assertion's issuer),
// DEMO_AGENCY_ID this agency's id there (the audience), GATEWAY_JWKS_URL where to fetch
// its keys when that is not reachable at the public URL (e.g. inside a compose network).
const gatewayUrl = process.env.GATEWAY_URL
const jwksUrl = process.env.GATEWAY_JWKS_URL
const app = await buildDemoAgency({
  logger: pino({ name: 'demo-agency' }),
  ...(gatewayUrl
    ? {
        gateway: {
          url: gatewayUrl,
          agencyId: process.env.DEMO_AGENCY_ID ?? 'dinas-contoh',
          ...(jwksUrl ? { jwksUrl } : {}),
        },
      }
    : {}),
})
await app.listen({ host: process.env.HOST ?? '127.0.0.1', port })
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void app.close().then(() => process.exit(0))
  })
}
