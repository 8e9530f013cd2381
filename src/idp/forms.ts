import csrf from '@fastify/csrf-protection'
import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.ts'
import { AppError } from '../errors/app-error.ts'

/** Form bodies are small; anything bigger is refused before it is parsed (SECURITY.md line 11). */
export const formBodyLimit = 16 * 1024
/** Our forms have a handful of fields; hundreds are refused before any work is done. */
export const maxFormFields = 20

/**
 * What every plugin scope of the idp's HTML forms registers: urlencoded parsing with a
 * small limit, no JSON (a second way in is no way in), CSRF protection with one cookie
 * for all of them (so one token serves every page), and the field-count guard.
 * `token` reads the CSRF token where a scope keeps it (a multipart upload's first part).
 */
export async function registerForms(
  app: FastifyInstance,
  config: Config,
  options: { token?: (req: FastifyRequest) => string | undefined; beforeCsrf?: () => Promise<void> } = {},
): Promise<void> {
  await app.register(formbody, { bodyLimit: formBodyLimit })
  app.removeContentTypeParser('application/json')
  if (options.beforeCsrf) await options.beforeCsrf()
  await app.register(csrf, {
    cookieKey: 'sp_csrf',
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', secure: config.idp.issuer.startsWith('https://') },
    getToken: options.token ?? ((req) => (req.body as { _csrf?: string } | undefined)?._csrf),
  })
  app.addHook('preValidation', async (req) => {
    if (req.body && typeof req.body === 'object' && Object.keys(req.body).length > maxFormFields) {
      throw new AppError('bad_request', 'Too many form fields.')
    }
  })
}
