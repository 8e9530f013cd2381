/**
 * The direction of dependencies, checked on every `npm test` (docs/architecture.md):
 *
 *   main | cli → idp | gateway → http, accounts | documents | audit | keys → db → config | errors
 *
 * The gateway never imports the idp (it could run on another machine, and must); only
 * src/idp/oidc/ imports oidc-provider (src/idp/app.ts mounts it); domain modules never
 * import Fastify; migrations are frozen in time and import no application code; the demo
 * agency depends on nothing in src/. Type-only imports count too: a type from a higher layer is a dependency on it.
 */
const domain = '^src/(accounts|documents|audit|keys|db|config|errors)/'

module.exports = {
  forbidden: [
    {
      name: 'gateway-never-imports-idp',
      comment: 'The gateway talks to the idp over OIDC only (discovery, JWKS, tokens).',
      severity: 'error',
      from: { path: '^src/gateway/' },
      to: { path: '^src/idp/' },
    },
    {
      name: 'idp-never-imports-gateway',
      severity: 'error',
      from: { path: '^src/idp/' },
      to: { path: '^src/gateway/' },
    },
    {
      name: 'only-idp-oidc-imports-oidc-provider',
      comment:
        'src/idp/oidc/ is the only importer of oidc-provider; the other areas use its port ' +
        '(src/idp/oidc/port.ts). src/idp/app.ts, the composition of the idp, mounts it.',
      severity: 'error',
      from: { pathNot: '^src/idp/oidc/|^src/idp/app\\.ts$' },
      to: { path: '^node_modules/oidc-provider/' },
    },
    {
      name: 'no-deep-imports-of-oidc-provider',
      comment: 'Never oidc-provider/lib/*: its internals change without notice (STYLE.md habit 3).',
      severity: 'error',
      from: {},
      to: { path: '^node_modules/oidc-provider/lib/(?!index\\.js$)' },
    },
    {
      name: 'domain-modules-never-import-fastify',
      comment: 'Accounts, documents, audit, keys, db, config and errors are usable without HTTP.',
      severity: 'error',
      from: { path: domain },
      to: { path: '^node_modules/(fastify|@fastify/)' },
    },
    {
      name: 'domain-modules-never-point-up',
      severity: 'error',
      from: { path: domain },
      to: { path: '^src/(idp|gateway|http|cli)/|^src/(main|server|demo)\\.ts$' },
    },
    {
      name: 'http-is-shared-and-points-down',
      comment: 'src/http holds pieces both services use; it knows neither of them.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/(idp|gateway|cli)/|^src/(main|server|demo)\\.ts$' },
    },
    {
      name: 'audit-is-below-accounts-and-documents',
      comment: 'Everything records audit entries; the trail depends on none of its writers.',
      severity: 'error',
      from: { path: '^src/audit/' },
      to: { path: '^src/(accounts|documents|keys)/' },
    },
    {
      name: 'db-points-only-to-config-and-errors',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/(accounts|documents|audit|keys)/' },
    },
    {
      name: 'config-and-errors-are-leaves',
      severity: 'error',
      from: { path: '^src/(config|errors)/' },
      to: { path: '^src/(?!config/|errors/)' },
    },
    {
      name: 'migrations-are-frozen',
      comment: 'A migration takes Kysely<any> and never imports application code (kysely docs).',
      severity: 'error',
      from: { path: '^migrations/' },
      to: { path: '^src/' },
    },
    {
      name: 'examples-stand-alone',
      comment: 'The demo agency is written as an agency would write it, with nothing of ours.',
      severity: 'error',
      from: { path: '^examples/' },
      to: { path: '^src/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
}
