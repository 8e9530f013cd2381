// Satu Pintu, "Akun Saya → Dokumen": checks a chosen file before it is sent, and offers to
// shrink a phone photo that is over the type's limit, on the phone (issue 20). A help for
// those whose browser runs it, never a requirement: the form works without it and the
// server checks everything again (src/idp/documents/pages.ts, src/documents/vault.ts).
//
// What it knows comes from the page: the limit, formats and their words on each file
// input (data-max-bytes, data-formats, data-size, data-formats-text), the sentences in
// the page's language on #unggah-teks. Served as a file of our own under /assets/ and
// allowed by `script-src 'self'` on the pages with an upload form only.
;(() => {
  const texts = document.getElementById('unggah-teks')
  if (!texts || typeof Promise !== 'function' || !window.File || !window.FileReader) return
  const say = (key, values) =>
    (texts.getAttribute(`data-${key}`) || '').replace(/\{(\w+)\}/g, (m, name) =>
      values && Object.hasOwn(values, name) ? String(values[name]) : m,
    )
  const locale = document.documentElement.lang === 'en' ? 'en-GB' : 'id-ID'
  const number = (n, digits) => new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(n)
  // As the server's formatSize (binary units, as phones show them).
  const sizeText = (bytes) => {
    if (bytes >= 1024 * 1024) return say('size-mb', { n: number(bytes / (1024 * 1024), 1) })
    if (bytes >= 1024) return say('size-kb', { n: number(Math.max(1, Math.round(bytes / 1024)), 0) })
    return say('size-bytes', { n: number(bytes, 0) })
  }

  /** The format from the first bytes, as the server decides it (src/documents/sniff.ts); the name says nothing. */
  const sniff = (file) =>
    new Promise((resolve) => {
      const reader = new FileReader()
      reader.onload = () => {
        const b = new Uint8Array(reader.result)
        if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) resolve('jpeg')
        else if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) resolve('png')
        else if (b[0] === 0x25 && b[1] === 0x50 && b[2] === 0x44 && b[3] === 0x46 && b[4] === 0x2d) resolve('pdf')
        else resolve('')
      }
      reader.onerror = () => resolve('')
      reader.readAsArrayBuffer(file.slice(0, 8))
    })

  const canShrink = (() => {
    try {
      return (
        typeof createImageBitmap === 'function' &&
        typeof HTMLCanvasElement.prototype.toBlob === 'function' &&
        new DataTransfer().items !== undefined
      )
    } catch {
      return false
    }
  })()

  const toBlob = (canvas, quality) => new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality))

  /**
   * A JPEG of the photo under `maxBytes`: the long side stepped down from 3200 px and the
   * quality from 0.85, the first that fits kept, so the text stays as sharp as the limit
   * allows (2048 px and more is the usual outcome for a 12 MP photo and 5 MB; 1600 px
   * still reads a KTP well). Undefined when even 1024 px at 0.6 does not fit.
   */
  async function shrink(file, maxBytes) {
    const bitmap = await createImageBitmap(file) // EXIF orientation applied (imageOrientation 'from-image')
    try {
      const long = Math.max(bitmap.width, bitmap.height)
      const sides = [Math.min(long, 3200), 2560, 2048, 1600, 1280, 1024].filter(
        (s, i, all) => s <= long && all.indexOf(s) === i,
      )
      if (sides.length === 0) sides.push(long)
      const canvas = document.createElement('canvas')
      const ctx = canvas.getContext('2d')
      if (!ctx) return undefined
      for (const side of sides) {
        const scale = side / long
        canvas.width = Math.max(1, Math.round(bitmap.width * scale))
        canvas.height = Math.max(1, Math.round(bitmap.height * scale))
        // A PNG's transparent parts become white, not JPEG's black.
        ctx.fillStyle = '#fff'
        ctx.fillRect(0, 0, canvas.width, canvas.height)
        ctx.imageSmoothingEnabled = true
        ctx.imageSmoothingQuality = 'high'
        ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height)
        for (const quality of side <= 1280 ? [0.8, 0.6] : [0.85, 0.72]) {
          const blob = await toBlob(canvas, quality)
          if (blob && blob.size > 0 && blob.size <= maxBytes) {
            const out = { blob, width: canvas.width, height: canvas.height }
            canvas.width = 0
            canvas.height = 0
            return out
          }
        }
      }
      canvas.width = 0
      canvas.height = 0
      return undefined
    } finally {
      if (typeof bitmap.close === 'function') bitmap.close()
    }
  }

  function enhance(input) {
    const maxBytes = Number(input.getAttribute('data-max-bytes'))
    const formats = (input.getAttribute('data-formats') || '').split(',')
    const size = input.getAttribute('data-size') || ''
    const formatsText = input.getAttribute('data-formats-text') || ''
    const form = input.form
    const field = input.closest('.field')
    if (!form || !field || !(maxBytes > 0)) return
    const serverError = document.getElementById(`${input.id}-error`)

    const box = document.createElement('div')
    box.id = `${input.id}-check`
    box.className = 'upload-check'
    box.setAttribute('aria-live', 'polite')
    input.insertAdjacentElement('afterend', box)
    const describedBy = input.getAttribute('aria-describedby') || ''
    input.setAttribute('aria-describedby', `${describedBy} ${box.id}`.trim())

    // 'ok' (send it), 'blocked' (do not send this file), 'busy' (shrinking).
    let state = 'ok'
    let choice = 0

    function show(kind, message, extra) {
      box.textContent = ''
      if (message) {
        const p = document.createElement('p')
        p.className = kind === 'error' ? 'error-message' : 'upload-check-ok'
        p.textContent = message
        box.appendChild(p)
      }
      if (extra) box.appendChild(extra)
      const bad = kind === 'error'
      field.classList.toggle('field-error', bad)
      if (bad) input.setAttribute('aria-invalid', 'true')
      else input.removeAttribute('aria-invalid')
    }

    function block(message, extra) {
      state = 'blocked'
      show('error', message, extra)
    }

    async function check() {
      const mine = ++choice
      state = 'busy'
      // The message from the server was about the file sent before; this is another.
      if (serverError) serverError.hidden = true
      const file = input.files?.[0]
      if (!file) {
        state = 'ok'
        return show('', '')
      }
      if (file.size === 0) return block(say('empty'))
      const format = await sniff(file)
      if (mine !== choice) return
      if (!formats.includes(format)) return block(say('formats', { formats: formatsText }))
      if (file.size <= maxBytes) {
        state = 'ok'
        return show('', '')
      }
      const values = { fileSize: sizeText(file.size), size }
      if (format === 'pdf') return block(say('pdf-too-large', values))
      if (!canShrink || !formats.includes('jpeg')) return block(say('photo-too-large-manual', values))
      const button = document.createElement('button')
      button.type = 'button'
      button.className = 'button button-secondary upload-shrink'
      button.textContent = say('shrink')
      button.addEventListener('click', () => void shrinkChosen(file, mine, button))
      block(say('photo-too-large', values), button)
    }

    async function shrinkChosen(file, mine, button) {
      state = 'busy'
      button.disabled = true
      button.textContent = say('shrinking')
      let result
      try {
        result = await shrink(file, maxBytes)
      } catch {
        result = undefined
      }
      if (mine !== choice) return
      if (!result) return block(say('shrink-failed'))
      const name = `${file.name.replace(/\.[^.]*$/, '') || 'foto'}.jpg`
      const dt = new DataTransfer()
      dt.items.add(new File([result.blob], name, { type: 'image/jpeg', lastModified: Date.now() }))
      // Setting files fires no change event: the check above does not run again.
      input.files = dt.files
      state = 'ok'
      const preview = document.createElement('img')
      preview.className = 'upload-preview'
      preview.alt = say('preview')
      const reader = new FileReader()
      // A data: URL: the page's CSP allows images from 'self' and data: only.
      reader.onload = () => {
        preview.src = String(reader.result)
      }
      reader.readAsDataURL(result.blob)
      show(
        'ok',
        say('shrunk', { fileSize: sizeText(result.blob.size), width: result.width, height: result.height }),
        preview,
      )
    }

    input.addEventListener('change', () => void check())
    form.addEventListener('submit', (event) => {
      if (state === 'ok') return
      event.preventDefault()
      const target = box.querySelector('button') || input
      target.focus()
    })
    // A file already chosen (the back button, a reload that keeps it).
    if (input.files && input.files.length > 0) void check()
  }

  for (const input of document.querySelectorAll('input[type=file][data-max-bytes]')) enhance(input)
})()
