/**
 * A stranger's unreadable multipart POST to the upload route is refused as the sender's
 * mistake (400/403/415), before the sign-in check, and never answers 500 (issue 10).
 */
import t from 'tap'
import { eachDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'
import { tempDir } from '../documents/fixtures.ts'

t.test("SECURITY 31: a stranger's malformed multipart upload is a plain refusal, never a 500", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idp = await startIdp(t, db, { dataDir: tempDir(t) })
    const url = `${idp.issuer}/akun/dokumen/unggah/ktp`
    const bodies: Array<[string, string, string]> = [
      [
        'no boundary',
        'multipart/form-data',
        '--x\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nabc\r\n--x--\r\n',
      ],
      ['a broken part header', 'multipart/form-data; boundary=x', '--x\r\nContent-Disposition\r\n\r\nabc\r\n--x--\r\n'],
      [
        'cut off before the first part ends',
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nab',
      ],
      ['garbage', 'multipart/form-data; boundary=x', 'not multipart at all'],
    ]
    for (const [what, type, body] of bodies) {
      for (const accept of ['text/html', 'application/json']) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': type, accept }, body })
        const text = await res.text()
        t.ok([400, 403, 415].includes(res.status), `${what} (${accept}): ${res.status}, not a 500`)
        t.notMatch(text, /at [\w.]+ \(|node:internal|busboy/i, `${what}: no stack trace`)
      }
    }
  })
})
