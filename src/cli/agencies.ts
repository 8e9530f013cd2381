import type { Command } from 'commander'
import { loadAgencies, tableDefaults } from '../gateway/agencies.ts'
import type { AdminContext } from './admin.ts'
import { counted, printJson, printTable } from './output.ts'

export function registerAgencyCommands(program: Command, ctx: AdminContext): void {
  const agencies = program.command('agencies').description('Agencies behind the gateway (config/agencies.yaml).')
  agencies
    .command('check')
    .description('Validate the agencies file and print the route table (exit 1 with the reason when it is not valid).')
    .option('--file <file>', 'the file to check (default: gateway.agenciesFile)')
    .option('--json', 'machine-readable output')
    .action((opts: { file?: string; json?: boolean }) => {
      const config = ctx.config()
      const table = loadAgencies(opts.file ?? config.gateway.agenciesFile, tableDefaults(config))
      const rows = table.agencies.flatMap((a) =>
        a.services.map((s) => ({
          route: `${a.origin}${s.path === '/' ? '/*' : `${s.path}/*`}`,
          agency: a.id,
          service: s.id,
          upstream: new URL(s.path === '/' ? '' : s.path.slice(1), a.upstream).toString(),
          access: s.access,
          min_acr: s.minAcr ?? '',
          scopes: s.scopes,
          documents: s.documents,
          timeout_ms: s.timeoutMs,
          max_body_bytes: s.maxBodyBytes,
          host: a.host,
          app_clients: a.appClients,
        })),
      )
      if (opts.json) return printJson(ctx.io, { agencies: table.agencies.length, routes: rows })
      printTable(ctx.io, [
        ['ROUTE', 'AGENCY', 'SERVICE', 'UPSTREAM', 'ACCESS', 'MIN ACR', 'TIMEOUT'],
        ...rows.map((r) => [
          r.route,
          r.agency,
          r.service,
          r.upstream,
          r.access,
          r.min_acr || '-',
          `${r.timeout_ms} ms`,
        ]),
      ])
      ctx.io.out(`${counted(table.agencies.length, 'agency', 'agencies')}, ${counted(rows.length, 'route')}: valid`)
    })
}
