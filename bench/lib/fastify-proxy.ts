/**
 * Reference floor for our gateway (r): a hand-written Fastify + @fastify/reply-from proxy
 * with no checks at all, the same libraries and versions as the gateway, logger off.
 * What any Node proxy on this stack pays before doing anything of its own.
 *
 *   node bench/lib/fastify-proxy.ts <port> <backendPort>
 */
import replyFrom from '@fastify/reply-from'
import Fastify from 'fastify'

const port = Number(process.argv[2] ?? 0)
const backendPort = Number(process.argv[3] ?? 0)
const app = Fastify({ logger: false, keepAliveTimeout: 72_000 })
await app.register(replyFrom, { base: `http://127.0.0.1:${backendPort}/`, undici: { connections: 128, pipelining: 1 } })
app.get('/*', (req, reply) => {
  void reply.from(req.url)
})
await app.listen({ host: '127.0.0.1', port })
process.stdout.write(`fastify proxy listening on ${port}\n`)
const stop = () => {
  void app.close().then(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
