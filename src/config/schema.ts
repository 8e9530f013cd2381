import { z } from 'zod'

/**
 * The configuration schema. Defaults live in config/default.yaml (and the per-environment
 * overlays beside it), not here: the schema only says what a valid value is, so that a
 * file, an overlay or an environment variable is checked by the same rules. Every key has
 * a description; docs/configuration.md is generated from this file (npm run docs:config)
 * and a test fails when the two drift.
 */

const portMessage = 'must be a port number from 1 to 65535'
const port = z.number().int(portMessage).min(1, portMessage).max(65535, portMessage)
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
const duration = (what: string) => z.number().int().positive().describe(what)

export const environments = ['development', 'production', 'test'] as const

/**
 * The longest an access token may live (idp.ttl.accessTokenSeconds and
 * clientCredentialsSeconds): also how long a record of a sign-out is kept for the
 * gateways (src/idp/oidc/session-revocation.ts), which must outlive every token it refuses.
 */
export const maxAccessTokenSeconds = 600

export const configSchema = z
  .strictObject({
    env: z
      .enum(environments)
      .describe('Deployment environment. `production` turns on the strict checks (https issuer, required secrets).'),
    dataDir: z
      .string()
      .min(1)
      .describe('Directory for local state: the embedded database, generated development secrets, stored documents.'),
    regency: z
      .strictObject({
        name: z
          .string()
          .min(2)
          .describe(
            'Name of the regency without the word "Kabupaten", e.g. "Sukamaju": shown on pages, and refused inside passwords.',
          ),
        timeZone: z
          .enum(['Asia/Jakarta', 'Asia/Pontianak', 'Asia/Makassar', 'Asia/Jayapura'])
          .describe(
            "The regency's time zone (WIB: Asia/Jakarta or Asia/Pontianak; WITA: Asia/Makassar; WIT: Asia/Jayapura): times in notices are shown in it, and the daily digest follows its days.",
          ),
      })
      .describe('The regional government this deployment serves.'),
    signInLevels: z
      .strictObject({
        phrSeconds: z
          .number()
          .int()
          .min(60)
          .max(3600)
          .describe(
            'A phishing-resistant sign-in (urn:satupintu:acr:phr) counts as such this long after it; then the session is urn:satupintu:acr:mfa. Both services use it.',
          ),
        mfaSeconds: z
          .number()
          .int()
          .min(300)
          .max(43200)
          .describe(
            'A two-factor sign-in (urn:satupintu:acr:mfa or above) counts as two factors at most this long after it (NIST SP 800-63B-4, AAL2: 12 hours); then the session is urn:satupintu:acr:pwd.',
          ),
        mfaIdleSeconds: z
          .number()
          .int()
          .min(60)
          .max(3600)
          .describe(
            "A two-factor session left unused this long falls to urn:satupintu:acr:pwd (SP 800-63B-4, AAL2: 30 minutes). Counted at the idp from the session's last use.",
          ),
      })
      .describe(
        'How long an elevated sign-in level lasts before the session falls back to a lower one (docs/reference.md, "Levels of sign-in").',
      ),
    log: z
      .strictObject({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .describe('Minimum level written to the JSON log.'),
      })
      .describe('Logging.'),
    database: z
      .strictObject({
        url: z
          .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
          .optional()
          .describe(
            'PostgreSQL connection URL. When unset, the embedded PGlite database under `database.pgliteDir` is used.',
          ),
        pgliteDir: z
          .string()
          .min(1)
          .describe('Data directory of the embedded PGlite database (used when `database.url` is unset).'),
        autoMigrate: z
          .boolean()
          .describe(
            'Apply pending migrations at start-up. When false, a server refuses to start while migrations are pending.',
          ),
        poolMax: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .describe('Maximum connections in the PostgreSQL pool of one process.'),
        connectTimeoutMs: duration(
          'How long a request may wait for a PostgreSQL connection (a free one from the pool, or a new one) before it fails with 503, in milliseconds.',
        ),
        statementTimeoutMs: duration(
          'Server-side statement timeout for PostgreSQL sessions (`statement_timeout`), in milliseconds.',
        ),
        queryTimeoutMs: duration(
          'Client-side deadline of one PostgreSQL query, in milliseconds: past it the connection is dropped and the request answers 503. It bounds what statement_timeout cannot, a database that does not answer at all (a network partition). Must be longer than `database.statementTimeoutMs`.',
        ),
      })
      .refine((d) => d.queryTimeoutMs > d.statementTimeoutMs, {
        path: ['queryTimeoutMs'],
        message: 'must be longer than database.statementTimeoutMs (the server should give up first)',
      })
      .describe('Database.'),
    http: z
      .strictObject({
        host: z.string().min(1).describe('Address the servers listen on.'),
        port: port
          .optional()
          .describe(
            'Port for a single service started by `satupintu idp` or `satupintu gateway` (the common PaaS convention). `satupintu start` uses the per-service ports.',
          ),
        trustProxy: z
          .array(z.string().min(1))
          .describe(
            'Addresses or CIDR ranges of trusted reverse proxies. Only from these are X-Forwarded-* headers believed.',
          ),
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .describe('Largest request body the services accept on their own routes, in bytes.'),
        maxHeaderBytes: z
          .number()
          .int()
          .min(4096)
          .max(1048576)
          .describe('Largest total size of request headers, in bytes (larger requests get 431).'),
        requestTimeoutMs: duration('Time a client has to send a whole request, in milliseconds.'),
        headersTimeoutMs: duration(
          'Time a client has to send the request line and headers, in milliseconds; a connection that has not by then is answered 408 and closed (slow-header attacks). Checked every second; a shorter `http.requestTimeoutMs` wins.',
        ),
        drainDelayMs: z
          .number()
          .int()
          .min(0)
          .max(120000)
          .describe(
            'On SIGTERM, how long /readyz answers 503 while everything else is still served, before the listeners stop accepting, in milliseconds: the time a load balancer needs to notice and stop sending. 0 closes at once.',
          ),
        keepAliveTimeoutMs: duration('How long an idle keep-alive connection stays open, in milliseconds.'),
        shutdownTimeoutMs: duration(
          'On SIGTERM, how long in-flight requests may take to finish before the process exits, in milliseconds.',
        ),
      })
      .describe('HTTP servers.'),
    idp: z
      .strictObject({
        issuer: httpUrl.describe(
          'Issuer identifier of the identity provider: its public base URL (https in production).',
        ),
        port: port.describe('Port of the identity provider.'),
        hostAliases: z
          .array(
            z
              .string()
              .regex(
                /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$/,
                'must be a lowercase host name or [IPv6 address], optionally with :port',
              ),
          )
          .describe(
            "Other host names (host or host:port) the idp answers for, besides the issuer's. Requests for any other host get 421; every URL the idp builds still uses the issuer. /healthz and /readyz answer on any host (load balancers probe by address).",
          ),
        freshSignInSeconds: z
          .number()
          .int()
          .min(60)
          .max(3600)
          .describe(
            'How recent a sign-in must be to change an e-mail address or phone number or to download the data export; an older one is asked for the password again.',
          ),
        ttl: z
          .strictObject({
            authorizationCodeSeconds: z
              .number()
              .int()
              .min(5)
              .max(60)
              .describe('Lifetime of an authorization code (at most 60 s; RFC 9700 §4.5 wants it short).'),
            accessTokenSeconds: z
              .number()
              .int()
              .min(30)
              .max(maxAccessTokenSeconds)
              .describe('Lifetime of an access token (at most 10 minutes).'),
            clientCredentialsSeconds: z
              .number()
              .int()
              .min(30)
              .max(maxAccessTokenSeconds)
              .describe('Lifetime of a client-credentials access token (at most 10 minutes).'),
            idTokenSeconds: z.number().int().min(60).max(3600).describe('Lifetime of an ID token.'),
            refreshTokenIdleSeconds: z
              .number()
              .int()
              .min(300)
              .describe('A refresh token expires after this long unused (each rotation starts it again).'),
            refreshTokenAbsoluteSeconds: z
              .number()
              .int()
              .min(300)
              .describe('No refresh token outlives this, counted from the sign-in that started the chain.'),
            refreshGraceSeconds: z
              .number()
              .int()
              .min(0)
              .max(60)
              .describe(
                'A rotated refresh token may be presented once more within this window (a lost response; RFC 9700 §4.14.2). 0 turns it off.',
              ),
            sessionIdleSeconds: z
              .number()
              .int()
              .min(60)
              .describe('A sign-in session ends after this long without use.'),
            sessionAbsoluteSeconds: z
              .number()
              .int()
              .min(300)
              .describe('A sign-in session ends this long after sign-in, used or not.'),
            interactionSeconds: z
              .number()
              .int()
              .min(60)
              .max(3600)
              .describe('Time a citizen has to finish signing in or consenting.'),
            grantSeconds: z.number().int().min(3600).describe('How long a consent (grant) is remembered.'),
          })
          .describe('Token and session lifetimes.'),
        keys: z
          .strictObject({
            refreshSeconds: z
              .number()
              .int()
              .min(5)
              .max(60)
              .describe('How often each instance reloads the key set (a rotation is picked up within this).'),
            publishDelaySeconds: z
              .number()
              .int()
              .min(0)
              .describe('A rotated-in key is published this long before it signs, so caches learn it first.'),
          })
          .describe('Signing-key rotation.'),
        rateLimits: z
          .strictObject({
            registrationsPerAddressPerHour: z
              .number()
              .int()
              .min(1)
              .describe(
                'Registrations one address may start in an hour (an MPP hall may share one address: keep it generous).',
              ),
            codeRequestsPerAddressPerHour: z
              .number()
              .int()
              .min(1)
              .describe(
                'Password-reset code requests one address may make in an hour (each may send an e-mail or SMS).',
              ),
          })
          .describe('Limits per source address on actions that cost something even when they succeed.'),
        backchannelLogoutHosts: z
          .array(z.string().min(1))
          .describe(
            "Host names (or IP addresses) of relying parties whose back-channel logout URI may be on a private or loopback network. Everything else stays behind oidc-provider's outbound guard.",
          ),
        gatewayResource: httpUrl
          .optional()
          .describe(
            'Resource indicator (RFC 8707) of the gateway; access tokens for it are JWTs. Default: gateway.publicUrl.',
          ),
        clientsFile: z
          .string()
          .min(1)
          .optional()
          .describe('YAML file of relying parties, applied at start-up (infrastructure as code).'),
        identity: z
          .strictObject({
            populationRegister: z
              .enum(['none'])
              .describe(
                'The population register (Dukcapil) that can prove a NIK belongs to a person (identity level `dukcapil`). `none` until the regency is granted access and an adapter is added (src/accounts/identity.ts, PopulationRegister): no account reaches that level, and nothing pretends to check.',
              ),
          })
          .describe(
            'Identity proofing: how well the person behind an account was proven (self_asserted, contact_verified, in_person, dukcapil), apart from how strongly they signed in (acr).',
          ),
      })
      .describe('Identity provider.'),
    gateway: z
      .strictObject({
        publicUrl: httpUrl.describe('Public base URL of the gateway (the portal).'),
        agencyHost: z
          .string()
          .regex(/^[a-z0-9.{}-]+(:\d{1,5})?$/, 'must be a host name template such as {agency}.layanan.example.go.id')
          .refine((v) => v.includes('{agency}'), 'must contain {agency}')
          .optional()
          .describe(
            "Host of each agency's own origin, `{agency}` replaced by the agency id (wildcard DNS and certificate, docs/operations.md); an agency may set its own `host`. Default: `{agency}.` followed by the host of gateway.publicUrl.",
          ),
        port: port.describe('Port of the gateway.'),
        agenciesFile: z
          .string()
          .min(1)
          .describe(
            'YAML file with the agencies, their upstreams and services (see docs/agency-integration.md). Relative paths are resolved from the working directory.',
          ),
        clientId: z
          .string()
          .min(1)
          .describe("The gateway's client id at the idp (it signs browsers in as a confidential OIDC client)."),
        clientSecret: z
          .string()
          .min(16)
          .optional()
          .describe(
            "The gateway's client secret at the idp. `satupintu start` registers the gateway and sets it itself; a separate gateway needs it.",
          ),
        session: z
          .strictObject({
            idleSeconds: z.number().int().min(60).describe('A gateway session ends after this long without a request.'),
            absoluteSeconds: z.number().int().min(300).describe('A gateway session ends this long after sign-in.'),
          })
          .describe('Browser sessions at the gateway.'),
        assertionSeconds: z
          .number()
          .int()
          .min(5)
          .max(60)
          .describe('Lifetime of the signed identity assertion sent to agencies (at most 60 s).'),
        upstreamTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(300000)
          .describe('Default time an agency backend has to answer; a service may set its own.'),
        maxBodyBytes: z
          .number()
          .int()
          .min(0)
          .describe('Default largest request body forwarded to an agency; a service may set its own.'),
        revocationPollMs: z
          .number()
          .int()
          .min(250)
          .max(60000)
          .describe(
            'How often each gateway instance reads the sessions the idp ended (sign-out, password reset, sign out everywhere): an access token of an ended session is refused within about this long.',
          ),
      })
      .describe('Gateway.'),
    metrics: z
      .strictObject({
        host: z
          .string()
          .min(1)
          .describe(
            'Address the metrics listeners listen on. The default, 127.0.0.1, lets only this machine scrape; on 0.0.0.0 `metrics.allow` decides who may.',
          ),
        idpPort: port
          .optional()
          .describe(
            "Port of the idp's `/metrics` (Prometheus text format), a listener of its own: never the public port. Unset: no metrics listener.",
          ),
        gatewayPort: port
          .optional()
          .describe(
            "Port of the gateway's `/metrics`, a listener of its own: never the public port. Unset: no metrics listener.",
          ),
        allow: z
          .array(z.string().min(1))
          .min(1)
          .describe(
            'Addresses or CIDR ranges that may scrape (`loopback` for 127.0.0.0/8 and ::1); anyone else gets 403.',
          ),
      })
      .describe('Prometheus metrics (docs/operations.md, "Metrics").'),
    demoAgency: z
      .strictObject({
        port: port.describe('Port of the demo agency backend started by `satupintu start`.'),
      })
      .describe('Demo agency backend (quick start only).'),
    documents: z
      .strictObject({
        storage: z
          .enum(['local', 'postgres', 's3'])
          .describe(
            'Where document bytes live: `local` (a directory, one machine only), `postgres` (the database itself: every instance shares it, one system to back up; small and medium regencies), or `s3` (an S3-compatible object store, `documents.s3`; large ones). See docs/operations.md.',
          ),
        storageDir: z
          .string()
          .min(1)
          .describe('Directory of the local document storage. A relative path is resolved from `dataDir`.'),
        s3: z
          .strictObject({
            bucket: z
              .string()
              .regex(
                /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
                'must be an S3 bucket name (3-63 lowercase letters, digits, dots, dashes)',
              )
              .optional()
              .describe('Bucket of the S3 document storage (required when documents.storage is s3).'),
            region: z.string().min(1).describe('Region of the bucket (any value for most S3-compatible servers).'),
            endpoint: httpUrl
              .optional()
              .describe(
                "Endpoint of an S3-compatible server (MinIO, Ceph RGW, a cloud's S3 API); unset for AWS S3 itself.",
              ),
            prefix: z
              .string()
              .regex(/^(?:[a-z0-9-]+\/)*$/, 'must be empty or end with "/" (lowercase letters, digits, dashes)')
              .describe('Key prefix inside the bucket, e.g. `documents/`.'),
            forcePathStyle: z
              .boolean()
              .describe('Path-style URLs (`endpoint/bucket/key`), as most S3-compatible servers need.'),
            serverSideEncryption: z
              .enum(['none', 'AES256', 'aws:kms'])
              .describe(
                'Server-side encryption asked for every object: `AES256` (keys the store manages), `aws:kms` (with documents.s3.kmsKeyId), or `none` for servers without it.',
              ),
            kmsKeyId: z.string().min(1).optional().describe('KMS key id or ARN for `aws:kms` server-side encryption.'),
            partSizeBytes: z
              .number()
              .int()
              .min(5 * 1024 * 1024)
              .max(512 * 1024 * 1024)
              .describe(
                'Size of each part of a streamed multipart upload (at least 5 MiB, as S3 requires); one part is held in memory per upload.',
              ),
            accessKeyId: z
              .string()
              .min(1)
              .optional()
              .describe("Access key id; unset to use the SDK's default credentials (instance role, shared files)."),
            secretAccessKey: z
              .string()
              .min(1)
              .optional()
              .describe('Secret access key (set it through S3_SECRET_ACCESS_KEY).'),
          })
          .describe('The S3-compatible document storage (documents.storage = s3).'),
        maxUploadBytes: z
          .number()
          .int()
          .min(1024)
          .max(2147483647)
          .describe(
            'Hard cap on one uploaded file, in bytes, whatever its type allows. Reading stops as soon as it is crossed.',
          ),
        retentionDays: z
          .number()
          .int()
          .min(0)
          .max(3650)
          .describe(
            'How long the bytes of a replaced version or a deleted document are kept before the purge job removes them, in days.',
          ),
        linkSeconds: z
          .number()
          .int()
          .min(10)
          .max(900)
          .describe('Lifetime of a signed document link given to an agency (at most 15 minutes).'),
        uploadTimeoutSeconds: z
          .number()
          .int()
          .min(30)
          .max(7200)
          .describe(
            "Time a citizen's document upload may take in all, for phones on poor connections; it must keep moving (a pause longer than http.requestTimeoutMs ends it).",
          ),
        grantDays: z
          .number()
          .int()
          .min(1)
          .max(3650)
          .describe(
            "How long a citizen's permission for an agency to fetch documents lasts, in days (shown on the consent page; revocable at any time).",
          ),
        types: z
          .array(
            z.strictObject({
              id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,39}$/, 'must be lowercase letters, digits and dashes (2-40)'),
              name: z.strictObject({ id: z.string().min(1).max(200), en: z.string().min(1).max(200) }),
              formats: z.array(z.enum(['pdf', 'jpeg', 'png'])).min(1, 'must list at least one format'),
              maxBytes: z.number().int().min(1),
              verificationExpected: z.boolean(),
            }),
          )
          .min(1, 'must list at least one document type')
          .describe(
            'Document types citizens can upload: `id`, `name` (`id` Indonesian, `en` English), `formats` (any of `pdf`, `jpeg`, `png`; checked by magic bytes), `maxBytes`, and `verificationExpected` (an officer checks it against the original).',
          ),
      })
      .superRefine((d, ctx) => {
        if (d.storage === 's3' && d.s3.bucket === undefined)
          ctx.addIssue({ code: 'custom', path: ['s3', 'bucket'], message: 'is required when documents.storage is s3' })
        if (d.s3.serverSideEncryption === 'aws:kms' && d.s3.kmsKeyId === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['s3', 'kmsKeyId'],
            message: 'is required when documents.s3.serverSideEncryption is aws:kms',
          })
        }
        if ((d.s3.accessKeyId === undefined) !== (d.s3.secretAccessKey === undefined)) {
          ctx.addIssue({
            code: 'custom',
            path: ['s3', 'secretAccessKey'],
            message: 'documents.s3.accessKeyId and secretAccessKey go together',
          })
        }
        const seen = new Set<string>()
        d.types.forEach((t, i) => {
          if (seen.has(t.id))
            ctx.addIssue({ code: 'custom', path: ['types', i, 'id'], message: `repeats the type id ${t.id}` })
          seen.add(t.id)
          if (new Set(t.formats).size !== t.formats.length) {
            ctx.addIssue({ code: 'custom', path: ['types', i, 'formats'], message: 'lists a format twice' })
          }
          if (t.maxBytes > d.maxUploadBytes) {
            ctx.addIssue({
              code: 'custom',
              path: ['types', i, 'maxBytes'],
              message: 'must not be larger than documents.maxUploadBytes',
            })
          }
        })
      })
      .describe('The citizen document vault: storage, retention, signed links and document types.'),
    delivery: z
      .strictObject({
        worker: z
          .strictObject({
            enabled: z
              .boolean()
              .describe(
                'Run the outbox worker in each idp process (and in `satupintu start`). Any number of instances share the work.',
              ),
            pollMs: z
              .number()
              .int()
              .min(100)
              .max(60000)
              .describe('How often the worker looks for messages that are due, in milliseconds.'),
            batch: z.number().int().min(1).max(500).describe('Messages one worker claims at a time.'),
            leaseSeconds: z
              .number()
              .int()
              .min(10)
              .max(3600)
              .describe(
                'How long a claimed message belongs to its worker. A worker that dies mid-send loses it after this, and another instance tries again (with the same idempotency key).',
              ),
            maxAttempts: z
              .number()
              .int()
              .min(1)
              .max(50)
              .describe('Attempts after which a message is given up (dead) and shown as such by `satupintu outbox`.'),
            backoffBaseSeconds: z
              .number()
              .int()
              .min(1)
              .max(3600)
              .describe(
                'First retry delay; each further attempt doubles it, with full jitter (a random delay up to the doubled value).',
              ),
            backoffMaxSeconds: z.number().int().min(1).max(86400).describe('Longest delay between two attempts.'),
          })
          .describe('The outbox worker (src/delivery/worker.ts).'),
        email: z
          .strictObject({
            transport: z
              .enum(['none', 'smtp', 'dev-mailbox'])
              .describe(
                'How e-mail leaves: `smtp` (delivery.email.smtp), `dev-mailbox` (development only: an SMTP server inside the process and the page /dev/kotak-surat), or `none` (messages wait in the outbox).',
              ),
            from: z
              .string()
              .min(3)
              .describe('The From address, e.g. `"Satu Pintu Sukamaju" <noreply@sukamajukab.go.id>`.'),
            smtp: z
              .strictObject({
                host: z.string().min(1).describe('SMTP server (your mail relay or provider).'),
                port: port.describe('SMTP port: 587 (submission, STARTTLS) or 465 (implicit TLS).'),
                secure: z
                  .boolean()
                  .describe(
                    'Implicit TLS from the first byte (port 465). False: plain connection upgraded with STARTTLS.',
                  ),
                requireTls: z
                  .boolean()
                  .describe(
                    'Refuse to send unless the server offers STARTTLS (no fallback to plain text). Always on in production.',
                  ),
                user: z
                  .string()
                  .min(1)
                  .optional()
                  .describe('SMTP user name (AUTH). Leave unset for a relay that needs no authentication.'),
                password: z.string().min(1).optional().describe('SMTP password. Give it through SMTP_PASSWORD.'),
                pool: z.boolean().describe('Keep connections open and reuse them (nodemailer pool).'),
                maxConnections: z.number().int().min(1).max(50).describe('Connections in the pool.'),
                connectionTimeoutMs: duration('Time to establish the connection, in milliseconds.'),
                socketTimeoutMs: duration('Longest silence from the server during a conversation, in milliseconds.'),
                tlsServerName: z
                  .string()
                  .min(1)
                  .optional()
                  .describe('Host name checked against the server certificate, when it differs from `host`.'),
                dkim: z
                  .strictObject({
                    domainName: z.string().min(3).describe('The signing domain (d=).'),
                    keySelector: z
                      .string()
                      .min(1)
                      .describe('The selector (s=): the DNS record is <selector>._domainkey.<domain>.'),
                    privateKey: z.string().min(100).describe('PEM private key. Give it through SMTP_DKIM_PRIVATE_KEY.'),
                  })
                  .optional()
                  .describe('Sign outgoing mail with DKIM (RFC 6376). Optional: a relay may sign instead.'),
              })
              .optional()
              .describe('SMTP settings, required when delivery.email.transport is smtp.'),
          })
          .describe('E-mail (nodemailer over SMTP).'),
        sms: z
          .strictObject({
            provider: z
              .enum(['none', 'http', 'whatsapp', 'dev-mailbox'])
              .describe(
                'How SMS leaves: `http` (a generic SMS gateway, delivery.sms.http), `whatsapp` (WhatsApp Business Cloud API, delivery.sms.whatsapp), `dev-mailbox` (development only) or `none`.',
              ),
            http: z
              .strictObject({
                url: httpUrl
                  .optional()
                  .describe(
                    "The gateway's endpoint; the message is POSTed to it as JSON. Required when delivery.sms.provider is http.",
                  ),
                secret: z
                  .string()
                  .min(16, 'must be at least 16 characters')
                  .optional()
                  .describe(
                    'Shared secret: the request carries HMAC-SHA256 of its body under it (header X-Signature: sha256=<hex>). Give it through SMS_HTTP_SECRET.',
                  ),
                signatureHeader: z
                  .string()
                  .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name')
                  .describe('Header that carries the signature.'),
                fields: z
                  .strictObject({
                    to: z.string().min(1).describe('Field for the phone number (E.164).'),
                    text: z.string().min(1).describe('Field for the text.'),
                    reference: z.string().min(1).describe('Field for our message id (also sent as Idempotency-Key).'),
                  })
                  .describe('Names of the JSON fields the gateway expects.'),
                extra: z
                  .record(z.string(), z.string())
                  .describe('Fixed fields added to every request (sender id, account…).'),
                messageIdField: z
                  .string()
                  .min(1)
                  .describe(
                    "Field of the JSON answer holding the gateway's message id (a dotted path, e.g. `data.id`).",
                  ),
                timeoutMs: duration('Time the gateway has to answer, in milliseconds.'),
              })
              .optional()
              .describe('The generic HTTP SMS gateway, required when delivery.sms.provider is http.'),
            whatsapp: z
              .strictObject({
                baseUrl: httpUrl.describe('Graph API base URL with version, e.g. https://graph.facebook.com/v21.0.'),
                phoneNumberId: z
                  .string()
                  .regex(/^[0-9]{5,20}$/, 'must be the numeric phone number id')
                  .optional()
                  .describe("The sending phone number's id in WhatsApp Business."),
                accessToken: z
                  .string()
                  .min(20)
                  .optional()
                  .describe('A system user access token. Give it through WHATSAPP_ACCESS_TOKEN.'),
                codeTemplate: z
                  .string()
                  .regex(/^[a-z0-9_]{1,512}$/, 'must be a template name')
                  .describe(
                    'Approved authentication template for codes (body {{1}} = the code, with a copy-code button).',
                  ),
                noticeTemplate: z
                  .string()
                  .regex(/^[a-z0-9_]{1,512}$/, 'must be a template name')
                  .describe('Approved utility template for notices (body {{1}} = the notice text).'),
                timeoutMs: duration('Time the API has to answer, in milliseconds.'),
              })
              .optional()
              .describe('WhatsApp Business Cloud API, required when delivery.sms.provider is whatsapp.'),
          })
          .describe('Messages to phones: SMS gateway or WhatsApp, one choice per deployment (per regency).'),
      })
      .superRefine((d, ctx) => {
        if (d.email.transport === 'smtp' && d.email.smtp === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['email', 'smtp'],
            message: 'is required when delivery.email.transport is smtp',
          })
        if (d.sms.provider === 'http') {
          if (d.sms.http === undefined)
            ctx.addIssue({
              code: 'custom',
              path: ['sms', 'http'],
              message: 'is required when delivery.sms.provider is http',
            })
          else {
            if (d.sms.http.url === undefined)
              ctx.addIssue({
                code: 'custom',
                path: ['sms', 'http', 'url'],
                message: 'is required when delivery.sms.provider is http',
              })
            if (d.sms.http.secret === undefined)
              ctx.addIssue({
                code: 'custom',
                path: ['sms', 'http', 'secret'],
                message: 'is required when delivery.sms.provider is http',
              })
          }
        }
        if (d.sms.provider === 'whatsapp') {
          if (d.sms.whatsapp === undefined)
            ctx.addIssue({
              code: 'custom',
              path: ['sms', 'whatsapp'],
              message: 'is required when delivery.sms.provider is whatsapp',
            })
          else {
            if (d.sms.whatsapp.phoneNumberId === undefined)
              ctx.addIssue({
                code: 'custom',
                path: ['sms', 'whatsapp', 'phoneNumberId'],
                message: 'is required when delivery.sms.provider is whatsapp',
              })
            if (d.sms.whatsapp.accessToken === undefined)
              ctx.addIssue({
                code: 'custom',
                path: ['sms', 'whatsapp', 'accessToken'],
                message: 'is required when delivery.sms.provider is whatsapp',
              })
          }
        }
        if (d.email.smtp?.user !== undefined && d.email.smtp.password === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['email', 'smtp', 'password'],
            message: 'is required when delivery.email.smtp.user is set',
          })
        if (d.worker.backoffMaxSeconds < d.worker.backoffBaseSeconds)
          ctx.addIssue({
            code: 'custom',
            path: ['worker', 'backoffMaxSeconds'],
            message: 'must not be shorter than delivery.worker.backoffBaseSeconds',
          })
      })
      .describe('Delivery of e-mail and SMS from the outbox (codes and notices).'),
    secrets: z
      .strictObject({
        keyEncryptionKey: z
          .string()
          .min(32, 'must be at least 32 characters')
          .optional()
          .describe(
            'Secret that encrypts signing keys at rest. Required in production; in development a generated one is kept under `dataDir` with a warning.',
          ),
      })
      .describe('Secrets. Give them through the environment, never in a committed file.'),
    demo: z
      .boolean()
      .describe(
        'Create demo data (a demo relying party, a demo citizen and a demo officer) at start-up. On for the quick start only.',
      ),
  })
  .superRefine((c, ctx) => {
    if (c.idp.ttl.refreshTokenAbsoluteSeconds < c.idp.ttl.refreshTokenIdleSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['idp', 'ttl', 'refreshTokenAbsoluteSeconds'],
        message: 'must not be shorter than idp.ttl.refreshTokenIdleSeconds',
      })
    }
    if (c.signInLevels.mfaSeconds < c.signInLevels.phrSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['signInLevels', 'mfaSeconds'],
        message: 'must not be shorter than signInLevels.phrSeconds',
      })
    }
    if (c.idp.ttl.sessionAbsoluteSeconds < c.idp.ttl.sessionIdleSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['idp', 'ttl', 'sessionAbsoluteSeconds'],
        message: 'must not be shorter than idp.ttl.sessionIdleSeconds',
      })
    }
    // Production refuses combinations that cannot be safe, naming the keys involved.
    if (c.env !== 'production') return
    if (!c.idp.issuer.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['idp', 'issuer'], message: 'must be an https URL when env is production' })
    }
    if (!c.gateway.publicUrl.startsWith('https://')) {
      ctx.addIssue({
        code: 'custom',
        path: ['gateway', 'publicUrl'],
        message: 'must be an https URL when env is production',
      })
    }
    if (c.secrets.keyEncryptionKey === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets', 'keyEncryptionKey'],
        message: 'is required when env is production',
      })
    }
    if (c.demo) {
      ctx.addIssue({ code: 'custom', path: ['demo'], message: 'must be false when env is production' })
    }
    if (c.delivery.email.transport === 'dev-mailbox') {
      ctx.addIssue({
        code: 'custom',
        path: ['delivery', 'email', 'transport'],
        message: 'must not be dev-mailbox when env is production',
      })
    }
    if (c.delivery.sms.provider === 'dev-mailbox') {
      ctx.addIssue({
        code: 'custom',
        path: ['delivery', 'sms', 'provider'],
        message: 'must not be dev-mailbox when env is production',
      })
    }
    if (c.delivery.email.smtp !== undefined && !c.delivery.email.smtp.secure && !c.delivery.email.smtp.requireTls) {
      ctx.addIssue({
        code: 'custom',
        path: ['delivery', 'email', 'smtp', 'requireTls'],
        message: 'must be true when env is production (codes must not cross the network in plain text)',
      })
    }
  })

export type Config = z.infer<typeof configSchema>

/** How an environment variable's text is turned into a value before validation. */
export type EnvKind = 'string' | 'int' | 'bool' | 'list'

/**
 * Environment variables and the configuration key each one sets. Environment variables
 * override the files. This table is the only mapping; the docs are generated from it.
 */
export const envVars = [
  { name: 'NODE_ENV', key: 'env', kind: 'string' },
  { name: 'SATUPINTU_DATA_DIR', key: 'dataDir', kind: 'string' },
  { name: 'SATUPINTU_REGENCY_NAME', key: 'regency.name', kind: 'string' },
  { name: 'LOG_LEVEL', key: 'log.level', kind: 'string' },
  { name: 'DATABASE_URL', key: 'database.url', kind: 'string' },
  { name: 'DOCUMENTS_STORAGE', key: 'documents.storage', kind: 'string' },
  { name: 'S3_BUCKET', key: 'documents.s3.bucket', kind: 'string' },
  { name: 'S3_REGION', key: 'documents.s3.region', kind: 'string' },
  { name: 'S3_ENDPOINT', key: 'documents.s3.endpoint', kind: 'string' },
  { name: 'S3_ACCESS_KEY_ID', key: 'documents.s3.accessKeyId', kind: 'string' },
  { name: 'S3_SECRET_ACCESS_KEY', key: 'documents.s3.secretAccessKey', kind: 'string' },
  { name: 'PGLITE_DATA_DIR', key: 'database.pgliteDir', kind: 'string' },
  { name: 'DATABASE_AUTO_MIGRATE', key: 'database.autoMigrate', kind: 'bool' },
  { name: 'DATABASE_POOL_MAX', key: 'database.poolMax', kind: 'int' },
  { name: 'DATABASE_CONNECT_TIMEOUT_MS', key: 'database.connectTimeoutMs', kind: 'int' },
  { name: 'DATABASE_STATEMENT_TIMEOUT_MS', key: 'database.statementTimeoutMs', kind: 'int' },
  { name: 'DATABASE_QUERY_TIMEOUT_MS', key: 'database.queryTimeoutMs', kind: 'int' },
  { name: 'HOST', key: 'http.host', kind: 'string' },
  { name: 'PORT', key: 'http.port', kind: 'int' },
  { name: 'TRUST_PROXY', key: 'http.trustProxy', kind: 'list' },
  { name: 'SHUTDOWN_TIMEOUT_MS', key: 'http.shutdownTimeoutMs', kind: 'int' },
  { name: 'SHUTDOWN_DRAIN_DELAY_MS', key: 'http.drainDelayMs', kind: 'int' },
  { name: 'ISSUER', key: 'idp.issuer', kind: 'string' },
  { name: 'IDP_PORT', key: 'idp.port', kind: 'int' },
  { name: 'IDP_HOST_ALIASES', key: 'idp.hostAliases', kind: 'list' },
  { name: 'GATEWAY_URL', key: 'gateway.publicUrl', kind: 'string' },
  { name: 'GATEWAY_PORT', key: 'gateway.port', kind: 'int' },
  { name: 'GATEWAY_AGENCIES_FILE', key: 'gateway.agenciesFile', kind: 'string' },
  { name: 'GATEWAY_CLIENT_ID', key: 'gateway.clientId', kind: 'string' },
  { name: 'GATEWAY_CLIENT_SECRET', key: 'gateway.clientSecret', kind: 'string' },
  { name: 'DEMO_AGENCY_PORT', key: 'demoAgency.port', kind: 'int' },
  { name: 'METRICS_HOST', key: 'metrics.host', kind: 'string' },
  { name: 'IDP_METRICS_PORT', key: 'metrics.idpPort', kind: 'int' },
  { name: 'GATEWAY_METRICS_PORT', key: 'metrics.gatewayPort', kind: 'int' },
  { name: 'METRICS_ALLOW', key: 'metrics.allow', kind: 'list' },
  { name: 'SATUPINTU_KEY_ENCRYPTION_SECRET', key: 'secrets.keyEncryptionKey', kind: 'string' },
  { name: 'SATUPINTU_DEMO', key: 'demo', kind: 'bool' },
  { name: 'OUTBOX_WORKER', key: 'delivery.worker.enabled', kind: 'bool' },
  { name: 'MAIL_TRANSPORT', key: 'delivery.email.transport', kind: 'string' },
  { name: 'MAIL_FROM', key: 'delivery.email.from', kind: 'string' },
  { name: 'SMTP_HOST', key: 'delivery.email.smtp.host', kind: 'string' },
  { name: 'SMTP_PORT', key: 'delivery.email.smtp.port', kind: 'int' },
  { name: 'SMTP_SECURE', key: 'delivery.email.smtp.secure', kind: 'bool' },
  { name: 'SMTP_USER', key: 'delivery.email.smtp.user', kind: 'string' },
  { name: 'SMTP_PASSWORD', key: 'delivery.email.smtp.password', kind: 'string' },
  { name: 'SMTP_DKIM_PRIVATE_KEY', key: 'delivery.email.smtp.dkim.privateKey', kind: 'string' },
  { name: 'SMS_PROVIDER', key: 'delivery.sms.provider', kind: 'string' },
  { name: 'SMS_HTTP_URL', key: 'delivery.sms.http.url', kind: 'string' },
  { name: 'SMS_HTTP_SECRET', key: 'delivery.sms.http.secret', kind: 'string' },
  { name: 'WHATSAPP_BASE_URL', key: 'delivery.sms.whatsapp.baseUrl', kind: 'string' },
  { name: 'WHATSAPP_PHONE_NUMBER_ID', key: 'delivery.sms.whatsapp.phoneNumberId', kind: 'string' },
  { name: 'WHATSAPP_ACCESS_TOKEN', key: 'delivery.sms.whatsapp.accessToken', kind: 'string' },
] as const satisfies readonly { name: string; key: string; kind: EnvKind }[]
