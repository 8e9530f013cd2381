import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t, { type Test } from 'tap'
import { DocumentError, type DocumentErrorCode } from '../../src/documents/errors.ts'
import { createInspector, isMarkupMediaType, sniffFormat } from '../../src/documents/sniff.ts'
import type { DocumentFormat } from '../../src/documents/types.ts'
import { chunked, generated, jpeg, pdf, png, PNG_IEND, zip } from './fixtures.ts'

const ALL: DocumentFormat[] = ['pdf', 'jpeg', 'png']

/** Runs `input` through an inspector; resolves to the format, or rejects with the DocumentError. */
async function inspect(
  input: Buffer | Readable,
  formats: DocumentFormat[] = ALL,
  maxBytes = 5 * 1024 * 1024,
): Promise<DocumentFormat | undefined> {
  const inspector = createInspector({ formats, maxBytes })
  const sink = new Writable({ write: (_c, _e, cb) => cb() })
  await pipeline(Buffer.isBuffer(input) ? Readable.from([input]) : input, inspector, sink)
  return inspector.format
}

async function refused(
  t: Test,
  input: Buffer | Readable,
  code: DocumentErrorCode,
  formats: DocumentFormat[] = ALL,
  maxBytes?: number,
) {
  const err = await inspect(input, formats, maxBytes).then(
    (format) => new Error(`accepted as ${String(format)}`),
    (e: unknown) => e,
  )
  t.ok(err instanceof DocumentError, `refused with a DocumentError (${String(err)})`)
  t.equal((err as DocumentError).code, code, `refused as ${code}`)
}

t.test('the format comes from the magic bytes: PDF, JPEG and PNG are recognised, also byte by byte', async (t) => {
  t.equal(sniffFormat(pdf()), 'pdf')
  t.equal(sniffFormat(jpeg()), 'jpeg')
  t.equal(sniffFormat(png()), 'png')
  for (const [buf, format] of [
    [pdf(), 'pdf'],
    [jpeg(), 'jpeg'],
    [png(), 'png'],
  ] as const) {
    t.equal(await inspect(buf), format, `${format} whole`)
    t.equal(await inspect(chunked(buf, 1)), format, `${format} one byte at a time`)
    t.equal(await inspect(chunked(buf, 7)), format, `${format} in 7-byte chunks`)
  }
})

t.test('SECURITY 25: an HTML file named .jpg is refused (the name and the declared type play no part)', async (t) => {
  await refused(t, Buffer.from('<!DOCTYPE html><html><script>alert(1)</script></html>'), 'unsupported_type')
  await refused(t, Buffer.from('<html><body>foto</body></html>'), 'unsupported_type')
  t.ok(isMarkupMediaType('text/html; charset=utf-8'))
})

t.test('SECURITY 25: SVG, XML and scripts are refused, also with a byte-order mark or whitespace first', async (t) => {
  await refused(t, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'unsupported_type')
  await refused(t, Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'), 'unsupported_type')
  await refused(t, Buffer.from('#!/bin/sh\necho pwned\n'), 'unsupported_type')
  await refused(t, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), pdf()]), 'unsupported_type')
  await refused(t, Buffer.concat([Buffer.from('\n'), pdf()]), 'unsupported_type')
  for (const type of [
    'image/svg+xml',
    'text/xml',
    'application/xml',
    'application/xhtml+xml',
    'text/javascript',
    'application/x-php',
    'image/svg+xml;charset=utf-8',
  ]) {
    t.ok(isMarkupMediaType(type), type)
  }
  for (const type of ['image/jpeg', 'image/png', 'application/pdf', 'application/octet-stream', 'image/jpg'])
    t.notOk(isMarkupMediaType(type), type)
})

t.test('SECURITY 25: a zero-byte file is refused', async (t) => {
  await refused(t, Readable.from([]), 'empty')
  await refused(t, Buffer.alloc(0), 'empty')
})

t.test('SECURITY 25: a PNG with a PDF appended is refused, also with a fake IEND after the PDF', async (t) => {
  await refused(t, Buffer.concat([png(), pdf()]), 'polyglot')
  await refused(t, Buffer.concat([png(), pdf(), PNG_IEND]), 'polyglot')
  await refused(t, chunked(Buffer.concat([png(), pdf()]), 5), 'polyglot')
  // Anything after IEND, also far past the first kilobytes and with no PDF in it.
  await refused(t, Buffer.concat([png(), Buffer.alloc(10_000, 0x41)]), 'polyglot')
  await refused(t, Buffer.concat([png(), Buffer.alloc(10_000, 0x41), PNG_IEND]), 'polyglot')
})

t.test(
  'SECURITY 25: a JPEG with data after its end marker is refused; another complete JPEG (Multi-Picture, Ultra HDR) is not',
  async (t) => {
    await refused(t, Buffer.concat([jpeg(), pdf()]), 'polyglot')
    await refused(
      t,
      Buffer.concat([jpeg(), Buffer.from('<?php system($_GET[0]); ?>'), Buffer.from([0xff, 0xd9])]),
      'polyglot',
    )
    await refused(t, Buffer.concat([jpeg(), zip()]), 'polyglot')
    await refused(t, Buffer.concat([jpeg(), Buffer.from([0x00])]), 'polyglot')
    t.equal(await inspect(Buffer.concat([jpeg(), jpeg()])), 'jpeg', 'primary image + gain map')
    t.equal(await inspect(chunked(Buffer.concat([jpeg(), jpeg()]), 2)), 'jpeg')
  },
)

t.test('SECURITY 25: markup or a PDF hidden inside an image or a PDF is refused', async (t) => {
  await refused(t, jpeg({ comment: '<script>alert(1)</script>' }), 'polyglot')
  await refused(t, jpeg({ comment: '<SVG onload=alert(1)>' }), 'polyglot')
  await refused(t, png({ text: '<html><body>hi</body></html>' }), 'polyglot')
  await refused(t, png({ text: '%PDF-1.4 hidden' }), 'polyglot')
  await refused(t, pdf('<html><script>alert(1)</script></html>'), 'polyglot')
  // %PDF- across a chunk boundary, far from the start.
  const far = jpeg({
    entropy: Buffer.concat([Buffer.alloc(20_000, 0x11), Buffer.from('%PDF-1.7'), Buffer.alloc(10, 0x22)]),
  })
  await refused(t, chunked(far, 4099), 'polyglot')
})

t.test('SECURITY 25: a PDF with a ZIP archive appended is refused', async (t) => {
  await refused(t, Buffer.concat([pdf(), zip(), Buffer.from('\n%%EOF\n')]), 'polyglot')
})

t.test('broken or truncated files are refused as malformed', async (t) => {
  const p = png()
  await refused(t, p.subarray(0, p.length - 6), 'malformed')
  const j = jpeg()
  await refused(t, j.subarray(0, j.length - 2), 'malformed')
  await refused(t, Buffer.from(pdf().toString('latin1').replace('%%EOF', '')), 'malformed')
  await refused(t, Buffer.from('%PDF-'), 'malformed')
  await refused(t, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x01, 0x00, 0x00, 0x00]), 'malformed')
})

t.test('SECURITY 25: a file one byte over the limit is refused and reading stops at the limit', async (t) => {
  const limit = 64 * 1024
  const head = Buffer.from('%PDF-1.7\n')
  const tail = Buffer.from('\n%%EOF\n')
  t.equal(await inspect(generated(limit, head, tail), ['pdf'], limit), 'pdf', 'exactly the limit is accepted')
  await refused(t, generated(limit + 1, head, tail), 'too_large', ['pdf'], limit)
  const huge = generated(50 * 1024 * 1024, head, tail)
  await refused(t, huge, 'too_large', ['pdf'], limit)
  t.ok(huge.pulled() < 2 * 1024 * 1024, `read ${huge.pulled()} bytes of 50 MiB before stopping`)
})

t.test('a format the document type does not allow is refused', async (t) => {
  await refused(t, pdf(), 'type_not_allowed', ['jpeg', 'png'])
  t.equal(await inspect(png(), ['jpeg', 'png']), 'png')
})
