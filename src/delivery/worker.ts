// The outbox worker: runs in every idp process (and in `satupintu start`); any number of
// instances share the work through the database.
//
//   * Claim: due rows are taken with `FOR UPDATE SKIP LOCKED` (two workers never take the
//     same row, and neither waits for the other) and marked `sending` with a lease. A row
//     whose worker died mid-send is due again once its lease has run out.
//   * Send, then mark `sent` with the provider's message id, only if the lease is still
//     ours. The row id is the idempotency key (HTTP gateways: Idempotency-Key; e-mail: the
//     Message-ID), so a send repeated after a crash is recognisable as the same message.
//     Delivery is at-least-once: a crash between the provider's acceptance and our update
//     can repeat a message; it can never lose one.
//   * A failure is retried with exponential backoff and full jitter ("Exponential Backoff
//     And Jitter", AWS Architecture Blog, 2015), until `maxAttempts`; then the row is dead,
//     and `satupintu outbox` shows it. A refusal that retrying cannot fix (an SMTP 5xx, an
//     HTTP 4xx) is dead at once. A code whose lifetime has passed is not sent at all.
//   * The log names the row id, channel, kind, provider and a masked recipient — never the
//     text, which holds the code.

import { randomInt, randomUUID } from 'node:crypto'
import os from 'node:os'
import { sql, type Kysely } from 'kysely'
import { maskRecipient } from '../accounts/outbox.ts'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import type { OutboxChannel, OutboxRow } from '../db/tables/outbox.ts'
import { DeliveryError, redactContacts, type OutgoingMessage, type Sender } from './senders.ts'

export type WorkerConfig = Config['delivery']['worker']

export interface WorkerLogger {
  info(obj: Record<string, unknown>, msg: string): void
  warn(obj: Record<string, unknown>, msg: string): void
  error(obj: Record<string, unknown>, msg: string): void
}

export interface WorkerDeps {
  readonly db: Kysely<Database>
  readonly senders: Partial<Record<OutboxChannel, Sender>>
  readonly config: WorkerConfig
  readonly logger: WorkerLogger
  /** Identifies this worker on the rows it claims. */
  readonly workerId?: string
  /** Clock, for tests. */
  readonly now?: () => Date
  /** Extra periodic work (the daily digest); errors are logged, never fatal. */
  readonly periodic?: ReadonlyArray<{
    readonly name: string
    readonly everyMs: number
    run(now: Date): Promise<unknown>
  }>
}

/** The delay before attempt `attempts + 1`: full jitter over an exponentially growing cap. */
export function backoffSeconds(
  attempts: number,
  config: Pick<WorkerConfig, 'backoffBaseSeconds' | 'backoffMaxSeconds'>,
  random: (max: number) => number = (max) => randomInt(0, max + 1),
): number {
  const cap = Math.min(config.backoffMaxSeconds, config.backoffBaseSeconds * 2 ** Math.max(0, attempts - 1))
  return Math.max(1, random(Math.floor(cap)))
}

/**
 * Claims up to `limit` due rows for `workerId` until `now + leaseSeconds`. Only channels
 * with a sender are claimed: an instance without an SMS provider leaves SMS to others.
 */
export async function claimDue(
  db: Kysely<Database>,
  input: { workerId: string; now: Date; limit: number; leaseSeconds: number; channels: readonly OutboxChannel[] },
): Promise<OutboxRow[]> {
  if (input.channels.length === 0) return []
  const leaseUntil = new Date(input.now.getTime() + input.leaseSeconds * 1000)
  const { rows } = await sql<OutboxRow>`
    update outbox set status = 'sending', lease_until = ${leaseUntil}, claimed_by = ${input.workerId}, attempts = attempts + 1
    where id in (
      select id from outbox
      where status in ('queued', 'failed', 'sending')
        and next_attempt_at <= ${input.now}
        and (status <> 'sending' or lease_until < ${input.now})
        and channel in (${sql.join(input.channels)})
      order by next_attempt_at
      limit ${input.limit}
      for update skip locked
    )
    returning *`.execute(db)
  return rows
}

function toMessage(row: OutboxRow): OutgoingMessage {
  return {
    id: row.id,
    channel: row.channel,
    recipient: row.recipient,
    subject: row.subject,
    text: row.body,
    html: row.html,
    locale: row.locale,
    kind: row.kind,
    params: row.params,
  }
}

export interface OutboxWorker {
  /** One round: claim and process what is due. Returns how many rows it handled. */
  runOnce(): Promise<number>
  /** Starts polling every `pollMs`. */
  start(): void
  /** Stops polling and waits for the round in progress. */
  stop(): Promise<void>
}

export function createOutboxWorker(deps: WorkerDeps): OutboxWorker {
  const workerId = deps.workerId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const now = deps.now ?? (() => new Date())
  const channels = (Object.keys(deps.senders) as OutboxChannel[]).filter((c) => deps.senders[c] !== undefined)
  const lastPeriodic = new Map<string, number>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false

  async function finish(row: OutboxRow, set: Record<string, unknown>): Promise<boolean> {
    // Only while the lease is ours: a worker that was too slow must not overwrite the
    // outcome of the one that took over.
    const r = await deps.db
      .updateTable('outbox')
      .set({ ...set, lease_until: null })
      .where('id', '=', row.id)
      .where('claimed_by', '=', workerId)
      .where('status', '=', 'sending')
      .executeTakeFirst()
    return r.numUpdatedRows > 0n
  }

  async function handle(row: OutboxRow): Promise<void> {
    const log = {
      outboxId: row.id,
      channel: row.channel,
      kind: row.kind,
      recipient: maskRecipient(row.recipient),
      attempt: row.attempts,
    }
    const at = now()
    if (row.expires_at !== null && row.expires_at.getTime() <= at.getTime()) {
      await finish(row, { status: 'dead', dead_at: at, last_error: 'expired before it could be delivered' })
      deps.logger.warn(log, 'message expired before delivery')
      return
    }
    const sender = deps.senders[row.channel]
    if (sender === undefined) return
    try {
      const result = await sender.send(toMessage(row))
      const done = now()
      await finish(row, {
        status: 'sent',
        sent_at: done,
        provider: sender.name,
        provider_message_id: result.messageId.slice(0, 500),
        last_error: null,
      })
      deps.logger.info({ ...log, provider: sender.name, providerMessageId: result.messageId }, 'message sent')
    } catch (err) {
      const failure =
        err instanceof DeliveryError
          ? err
          : new DeliveryError(`${sender.name}: ${err instanceof Error ? err.message : String(err)}`, {
              permanent: false,
              cause: err,
            })
      const reason = redactContacts(failure.message)
      const failedAt = now()
      if (failure.permanent || row.attempts >= deps.config.maxAttempts) {
        await finish(row, { status: 'dead', dead_at: failedAt, last_error: reason, provider: sender.name })
        deps.logger.error(
          { ...log, provider: sender.name, error: reason, permanent: failure.permanent },
          'message given up',
        )
      } else {
        const delay = backoffSeconds(row.attempts, deps.config)
        await finish(row, {
          status: 'failed',
          next_attempt_at: new Date(failedAt.getTime() + delay * 1000),
          last_error: reason,
          provider: sender.name,
        })
        deps.logger.warn(
          { ...log, provider: sender.name, error: reason, retryInSeconds: delay },
          'message not sent; will retry',
        )
      }
    }
  }

  async function runPeriodic(at: Date): Promise<void> {
    for (const job of deps.periodic ?? []) {
      const last = lastPeriodic.get(job.name) ?? 0
      if (at.getTime() - last < job.everyMs) continue
      lastPeriodic.set(job.name, at.getTime())
      try {
        await job.run(at)
      } catch (err) {
        deps.logger.error({ job: job.name, err }, 'periodic outbox job failed')
      }
    }
  }

  async function runOnce(): Promise<number> {
    const at = now()
    await runPeriodic(at)
    const rows = await claimDue(deps.db, {
      workerId,
      now: at,
      limit: deps.config.batch,
      leaseSeconds: deps.config.leaseSeconds,
      channels,
    })
    // One at a time per channel keeps a slow provider from holding leases it cannot use;
    // the channels run side by side.
    const byChannel = new Map<OutboxChannel, OutboxRow[]>()
    for (const r of rows) byChannel.set(r.channel, [...(byChannel.get(r.channel) ?? []), r])
    await Promise.all(
      [...byChannel.values()].map(async (list) => {
        for (const r of list) await handle(r)
      }),
    )
    return rows.length
  }

  function schedule(delayMs: number): void {
    if (stopped) return
    timer = setTimeout(() => {
      timer = undefined
      const round = runOnce()
        .then((n) => schedule(n >= deps.config.batch ? 0 : deps.config.pollMs))
        .catch((err: unknown) => {
          // The database is down, say: try again at the next poll.
          deps.logger.error({ err }, 'outbox worker round failed')
          schedule(deps.config.pollMs)
        })
      running = round
    }, delayMs)
    timer.unref()
  }

  return {
    runOnce,
    start() {
      stopped = false
      if (timer === undefined) schedule(0)
    },
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      await running?.catch(() => {})
      await Promise.all(Object.values(deps.senders).map((s) => s?.close?.()))
    },
  }
}
