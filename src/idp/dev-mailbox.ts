import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.ts'
import type { DevMailbox, MailboxEntry } from '../delivery/dev-mailbox.ts'

export interface DevMailboxRoutesOptions {
  config: Config
  mailbox: DevMailbox | undefined
}

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } },
  required: ['id'],
} as const

function isLoopback(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1'
}

function when(at: Date): string {
  return new Intl.DateTimeFormat('id-ID', { dateStyle: 'medium', timeStyle: 'medium' }).format(at)
}

function preview(e: MailboxEntry): string {
  const line = e.text.replace(/\s+/g, ' ').trim()
  return line.length > 160 ? `${line.slice(0, 157)}…` : line
}

/**
 * /dev/kotak-surat: the development mailbox (src/delivery/dev-mailbox.ts). Registered
 * only in development with a mailbox, and answered only to this machine: everywhere
 * else, and in production always, the path does not exist (404).
 */
export async function devMailboxRoutes(app: FastifyInstance, opts: DevMailboxRoutesOptions): Promise<void> {
  const { mailbox } = opts
  if (opts.config.env !== 'development' || mailbox === undefined) return

  function guard(req: FastifyRequest, reply: FastifyReply): boolean {
    if (isLoopback(req.socket.remoteAddress ?? '')) return true
    void reply.callNotFound()
    return false
  }

  function render(reply: FastifyReply, selected?: MailboxEntry) {
    const entries = mailbox!.entries().map((e) => ({
      id: e.id,
      channel: e.channel,
      at: when(e.at),
      to: e.to,
      subject: e.subject,
      preview: preview(e),
      href: `/dev/kotak-surat/${e.id}`,
    }))
    return reply.page('dev-kotak-surat', {
      entries,
      selected: selected && {
        ...selected,
        at: when(selected.at),
        htmlHref: selected.html !== null ? `/dev/kotak-surat/${selected.id}/html` : null,
      },
    })
  }

  app.get('/dev/kotak-surat', async (req, reply) => {
    if (!guard(req, reply)) return reply
    return render(reply)
  })

  app.get('/dev/kotak-surat/:id', { schema: { params: idParams } }, async (req, reply) => {
    if (!guard(req, reply)) return reply
    const entry = mailbox.find(Number((req.params as { id: string }).id))
    if (entry === undefined) return reply.callNotFound()
    return render(reply, entry)
  })

  // The HTML part as the mail client would show it: sandboxed, no script, nothing fetched.
  app.get('/dev/kotak-surat/:id/html', { schema: { params: idParams } }, async (req, reply) => {
    if (!guard(req, reply)) return reply
    const entry = mailbox.find(Number((req.params as { id: string }).id))
    if (entry?.html == null) return reply.callNotFound()
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
      )
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-store')
      .send(entry.html)
  })
}
