import fs from 'node:fs'
import t from 'tap'
import { configDocPath, renderConfigDoc } from '../../src/config/docs.ts'
import { envVars } from '../../src/config/schema.ts'

t.test('docs/configuration.md is generated from the schema and is up to date', async (t) => {
  const committed = fs.readFileSync(configDocPath, 'utf8')
  t.equal(committed, renderConfigDoc(), 'run `npm run docs:config` after changing the schema or config/default.yaml')
})

t.test('every environment variable appears in the documentation', async (t) => {
  const doc = renderConfigDoc()
  for (const v of envVars) t.match(doc, `\`${v.name}\``, v.name)
})
