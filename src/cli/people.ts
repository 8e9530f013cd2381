import { randomUUID } from 'node:crypto'
import type { Command } from 'commander'
import type { Kysely } from 'kysely'
import { createCitizen, findCitizenByIdentifier, setCitizenStatus, type Citizen } from '../accounts/citizens.ts'
import { accountErrorMessages, isAccountError } from '../accounts/errors.ts'
import {
  classifyIdentifier,
  formatPhone,
  maskContact,
  normalizeEmail,
  normalizePhone,
} from '../accounts/identifiers.ts'
import { resetOfficerFactors } from '../accounts/officer-factors.ts'
import {
  createOfficer,
  findOfficerByUsername,
  listOfficers,
  setOfficerStatus,
  type Officer,
} from '../accounts/officers.ts'
import { noticeOptionsOf, queueNotice } from '../accounts/notices.ts'
import { countOutbox, databaseOutbox, listOutbox } from '../accounts/outbox.ts'
import { outboxStatuses, type OutboxStatus } from '../db/tables/outbox.ts'
import { buildSenders } from '../delivery/runtime.ts'
import { DeliveryError } from '../delivery/senders.ts'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import { destroyAccountArtifacts } from '../idp/oidc/store.ts'
import { AdminError, withDatabase, type AdminContext } from './admin.ts'
import { counted, printJson, printTable } from './output.ts'

/** Everything oidc-provider keeps for an account: ending them ends every session and token. */
export const accountArtifactModels = [
  'Session',
  'AccessToken',
  'RefreshToken',
  'AuthorizationCode',
  'Grant',
  'Interaction',
] as const

/** Reads a password from standard input (never an argument: it would sit in shell history and `ps`). */
export async function readPasswordFromStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if ((stdin as NodeJS.ReadStream).isTTY) {
    throw new AdminError(
      'give the password on standard input, e.g. `printf %s "$PASSWORD" | satupintu citizens add …`',
      2,
    )
  }
  let text = ''
  for await (const chunk of stdin) {
    text += chunk.toString()
    if (text.length > 4096) throw new AdminError('the password on standard input is too long')
  }
  const line = text.split(/\r?\n/, 1)[0] ?? ''
  if (line === '') throw new AdminError('no password on standard input')
  return line
}

function explain(err: unknown): never {
  if (isAccountError(err)) {
    const msg = accountErrorMessages[err.code]
    throw new AdminError(`${err.code}: ${msg.en}`)
  }
  throw err
}

function view(c: Citizen) {
  return {
    id: c.id,
    nik: c.nik,
    name: c.name,
    birth_date: c.birthDate,
    gender: c.gender,
    email: c.email,
    email_verified: c.emailVerified,
    phone: c.phone,
    phone_verified: c.phoneVerified,
    nik_status: c.nikStatus,
    status: c.status,
    has_password: c.hasPassword,
    created_at: c.createdAt.toISOString(),
  }
}

async function lookUp(db: Kysely<Database>, identifier: string): Promise<Citizen> {
  const classified = classifyIdentifier(identifier)
  if (classified.kind === 'invalid') throw new AdminError('give a NIK, an email address or a mobile number', 2)
  const citizen = await findCitizenByIdentifier(db, classified)
  if (!citizen) throw new AdminError('no citizen with that identifier')
  return citizen
}

export function registerPeopleCommands(program: Command, ctx: AdminContext & { stdin?: NodeJS.ReadableStream }): void {
  const citizens = program.command('citizens').description('Citizen accounts: add, show, disable, enable.')

  citizens
    .command('add')
    .description('Register a citizen (the password is read from standard input).')
    .requiredOption('--nik <nik>', '16-digit NIK')
    .requiredOption('--name <name>', 'full name as on the KTP')
    .requiredOption('--birth-date <date>', 'YYYY-MM-DD')
    .requiredOption('--gender <gender>', 'female or male')
    .option('--email <email>', 'email address')
    .option('--phone <phone>', 'mobile number')
    .option('--json', 'machine-readable output')
    .action(
      async (o: {
        nik: string
        name: string
        birthDate: string
        gender: string
        email?: string
        phone?: string
        json?: boolean
      }) => {
        const password = await readPasswordFromStdin(ctx.stdin)
        await withDatabase(ctx, async ({ db }, config) => {
          const citizen = await createCitizen(
            db,
            {
              nik: o.nik,
              name: o.name,
              birthDate: o.birthDate,
              gender: o.gender,
              email: o.email ?? null,
              phone: o.phone ?? null,
              password,
              regencyName: config.regency.name,
            },
            { actor: 'cli' },
          ).catch(explain)
          if (o.json) return printJson(ctx.io, view(citizen))
          ctx.io.out(`registered ${citizen.id} (${citizen.name})`)
        })
      },
    )

  citizens
    .command('show <identifier>')
    .description('Show a citizen by NIK, email or phone. The look-up is recorded in the audit trail.')
    .requiredOption('--reason <text>', 'why you look this citizen up (kept in the audit trail)')
    .option('--json', 'machine-readable output')
    .action(async (identifier: string, o: { reason: string; json?: boolean }) => {
      const reason = o.reason.trim().slice(0, 200)
      if (reason === '') throw new AdminError('--reason must say why you look this citizen up', 2)
      await withDatabase(ctx, async ({ db }, config) => {
        const citizen = await lookUp(db, identifier)
        // The look-up is recorded and the citizen told of it, together (UU PDP art. 7).
        await db.transaction().execute(async (trx) => {
          await recordAudit(trx, { event: 'citizen.looked_up', actor: 'cli', subjectId: citizen.id, data: { reason } })
          await queueNotice(
            trx,
            { citizenId: citizen.id, kind: 'officer_lookup', data: { at: new Date(), officer: null, reason } },
            noticeOptionsOf(config),
          )
        })
        const v = view(citizen)
        if (o.json) return printJson(ctx.io, v)
        // Read by a person: the number as every page shows it (--json keeps E.164).
        const shown = { ...v, phone: v.phone === null ? null : formatPhone(v.phone) }
        for (const [k, val] of Object.entries(shown)) ctx.io.out(`${k.padEnd(16)} ${val === null ? '-' : String(val)}`)
      })
    })

  for (const [verb, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    citizens
      .command(`${verb} <identifier>`)
      .description(
        verb === 'disable'
          ? 'Disable a citizen: every session ends and every token and grant is revoked at once.'
          : 'Enable a disabled citizen again.',
      )
      .action(async (identifier: string) => {
        await withDatabase(ctx, async ({ db }) => {
          const citizen = await lookUp(db, identifier)
          const changed = await setCitizenStatus(db, citizen.id, status, { actor: 'cli' }).catch(explain)
          if (status === 'disabled') {
            const removed = await destroyAccountArtifacts(db, citizen.id, accountArtifactModels)
            ctx.io.out(
              `${citizen.id} disabled${changed ? '' : ' (already)'}; ${removed === 1 ? '1 session, token or grant' : `${removed} sessions, tokens and grants`} ended`,
            )
          } else {
            ctx.io.out(`${citizen.id} enabled${changed ? '' : ' (already)'}`)
          }
        })
      })
  }

  const officers = program
    .command('officers')
    .description('Officer accounts (counter officers, agency and system admins).')
  officers
    .command('add')
    .description('Create an officer account (the password is read from standard input).')
    .requiredOption('--username <username>', 'sign-in name')
    .requiredOption('--name <name>', 'full name')
    .requiredOption(
      '--role <role>',
      'counter_officer, agency_admin or system_admin (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--agency <id>', 'the agency an agency admin administers')
    .option('--json', 'machine-readable output')
    .action(async (o: { username: string; name: string; role: string[]; agency?: string; json?: boolean }) => {
      const password = await readPasswordFromStdin(ctx.stdin)
      await withDatabase(ctx, async ({ db }, config) => {
        const officer = await createOfficer(
          db,
          {
            username: o.username,
            name: o.name,
            roles: o.role,
            agencyId: o.agency ?? null,
            password,
            regencyName: config.regency.name,
          },
          { actor: 'cli' },
        ).catch(explain)
        const enrolment = { code: officer.enrolment.code, expires_at: officer.enrolment.expiresAt.toISOString() }
        if (o.json)
          return printJson(ctx.io, { id: officer.id, username: officer.username, roles: officer.roles, enrolment })
        ctx.io.out(`created officer ${officer.username} (${officer.roles.join(', ')})`)
        enrolmentHelp(officer.username, enrolment, config.idp.issuer)
      })
    })

  /** How the officer enrols: the code, once, and where to use it. */
  function enrolmentHelp(username: string, enrolment: { code: string; expires_at: string }, issuer: string) {
    ctx.io.out(`enrolment code (shown once, usable once, until ${enrolment.expires_at}): ${enrolment.code}`)
    ctx.io.out(
      `give it to ${username} in person; they sign in at ${issuer.replace(/\/+$/, '')}/petugas/masuk and set up an authenticator app with it`,
    )
  }

  async function officerNamed(db: Kysely<Database>, username: string): Promise<Officer> {
    const officer = await findOfficerByUsername(db, username)
    if (!officer) throw new AdminError('no officer with that username')
    return officer
  }

  officers
    .command('list')
    .description('List officers: roles, status, second factors and last sign-in.')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const rows = (await listOfficers(db)).map((r) => ({
          username: r.username,
          name: r.name,
          roles: [...r.roles],
          agency_id: r.agencyId,
          status: r.status,
          factors: [...r.factors],
          enrolment_pending: r.enrolmentPending,
          last_sign_in_at: r.lastSignInAt?.toISOString() ?? null,
        }))
        if (o.json) return printJson(ctx.io, rows)
        printTable(ctx.io, [
          ['USERNAME', 'NAME', 'ROLES', 'STATUS', 'FACTORS', 'LAST SIGN-IN'],
          ...rows.map((r) => [
            r.username,
            r.name,
            r.roles.join(','),
            r.status,
            r.factors.length > 0 ? r.factors.join(',') : r.enrolment_pending ? 'none (enrolment code issued)' : 'none',
            r.last_sign_in_at ?? 'never',
          ]),
        ])
        ctx.io.out(counted(rows.length, 'officer', 'officers'))
      })
    })

  for (const [verb, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    officers
      .command(`${verb} <username>`)
      .description(
        verb === 'disable'
          ? 'Disable an officer: every console session of theirs ends at once.'
          : 'Enable a disabled officer again.',
      )
      .action(async (username: string) => {
        await withDatabase(ctx, async ({ db }) => {
          const officer = await officerNamed(db, username)
          const changed = await setOfficerStatus(db, officer.id, status, { actor: 'cli' }).catch(explain)
          ctx.io.out(
            `${officer.username} ${status === 'disabled' ? 'disabled; their sessions ended' : 'enabled'}${changed ? '' : ' (already)'}`,
          )
        })
      })
  }

  officers
    .command('reset-factors <username>')
    .description(
      "Remove an officer's second factors (a lost phone): their sessions end and a new enrolment code is printed.",
    )
    .option('--json', 'machine-readable output')
    .action(async (username: string, o: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }, config) => {
        const officer = await officerNamed(db, username)
        const r = await resetOfficerFactors(db, officer.id, { actor: 'cli' })
        const enrolment = { code: r.code, expires_at: r.expiresAt.toISOString() }
        if (o.json) return printJson(ctx.io, { username: officer.username, sessions_ended: r.sessionsEnded, enrolment })
        ctx.io.out(
          `${officer.username}: second factors removed, ${r.sessionsEnded === 1 ? '1 session' : `${r.sessionsEnded} sessions`} ended`,
        )
        enrolmentHelp(officer.username, enrolment, config.idp.issuer)
      })
    })

  const outbox = program
    .command('outbox')
    .description('The outbox: codes and notices, and whether they were delivered.')
  outbox
    .command('list', { isDefault: true })
    .description('Show recent messages and their state (queued, sending, sent, failed = will retry, dead = given up).')
    .option('--limit <n>', 'how many', '20')
    .option('--status <status>', `only one state: ${outboxStatuses.join(', ')}`)
    .option('--json', 'machine-readable output')
    .action(async (o: { limit: string; status?: string; json?: boolean }) => {
      const limit = Number.parseInt(o.limit, 10)
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new AdminError('--limit must be a whole number from 1 to 1000', 2)
      if (o.status !== undefined && !(outboxStatuses as readonly string[]).includes(o.status)) {
        throw new AdminError(`--status must be one of ${outboxStatuses.join(', ')}`, 2)
      }
      const status = o.status as OutboxStatus | undefined
      await withDatabase(ctx, async ({ db }) => {
        const rows = await listOutbox(db, { limit, ...(status ? { status } : {}) })
        const counts = await countOutbox(db)
        if (o.json) return printJson(ctx.io, { counts, messages: rows })
        ctx.io.out(outboxStatuses.map((s) => `${s} ${counts[s]}`).join(' · '))
        printTable(ctx.io, [
          ['CREATED', 'STATUS', 'CHANNEL', 'KIND', 'RECIPIENT', 'TRIES', 'MESSAGE / LAST ERROR'],
          ...rows.map((r) => [
            r.created_at.toISOString(),
            r.status,
            r.channel,
            r.kind,
            r.channel === 'email' ? r.recipient : formatPhone(r.recipient),
            String(r.attempts),
            (r.status === 'failed' || r.status === 'dead' ? `${r.last_error ?? ''} | ` : '') +
              r.body.replace(/\s+/g, ' ').slice(0, 120),
          ]),
        ])
      })
    })

  outbox
    .command('send-test')
    .description(
      'Check the mail or SMS set-up: send a test message to an address or number now (or queue it, when this configuration delivers from the running process).',
    )
    .requiredOption('--to <address>', 'an e-mail address or a mobile number')
    .action(async (o: { to: string }) => {
      const email = normalizeEmail(o.to)
      const phone = email === undefined ? normalizePhone(o.to) : undefined
      if (email === undefined && phone === undefined)
        throw new AdminError('--to must be an e-mail address or a mobile number', 2)
      const channel = email !== undefined ? 'email' : 'sms'
      const recipient = (email ?? phone) as string
      const config = ctx.config()
      const test = {
        subject: 'Pesan uji Satu Pintu',
        body: `Pesan uji Satu Pintu (Kabupaten ${config.regency.name}): pengiriman ${channel === 'email' ? 'e-mail' : 'SMS'} berfungsi. / Satu Pintu test message: delivery works.`,
      }
      const direct =
        channel === 'email'
          ? config.delivery.email.transport === 'smtp'
          : config.delivery.sms.provider === 'http' || config.delivery.sms.provider === 'whatsapp'
      if (!direct) {
        await withDatabase(ctx, async ({ db }) => {
          await databaseOutbox(db).send({
            channel,
            recipient,
            kind: 'test',
            ...(channel === 'email' ? { subject: test.subject } : {}),
            body: test.body,
          })
        })
        const how =
          channel === 'email'
            ? `delivery.email.transport is ${config.delivery.email.transport}`
            : `delivery.sms.provider is ${config.delivery.sms.provider}`
        ctx.io.out(
          `queued a test ${channel} to ${maskContact(recipient)} (${how}: the running idp delivers it; see \`satupintu outbox\`)`,
        )
        return
      }
      const sender = buildSenders(config)[channel]
      if (sender === undefined) throw new AdminError(`no ${channel} sender is configured`)
      try {
        const result = await sender.send({
          id: randomUUID(),
          channel,
          recipient,
          subject: channel === 'email' ? test.subject : null,
          text: test.body,
          html: null,
          locale: 'id',
          kind: 'test',
          params: null,
        })
        ctx.io.out(
          `sent a test ${channel} to ${maskContact(recipient)} via ${sender.name}: provider message id ${result.messageId}`,
        )
      } catch (err) {
        if (err instanceof DeliveryError)
          throw new AdminError(`not sent (${err.permanent ? 'refused' : 'failed; would be retried'}): ${err.message}`)
        throw err
      } finally {
        await sender.close?.()
      }
    })
}
