// Passkeys on the sign-in and Akun Saya pages (issue 14). Progressive enhancement: every
// passkey form is in the page with `hidden`, and only this script shows it, when the
// browser can do WebAuthn. Without JavaScript the page works as before (password and
// code). A form says what it does in data attributes:
//   data-passkey="register" | "authenticate"
//   data-passkey-options: where to POST (with the form's CSRF token) for the options
//   data-passkey-error: what to say when the browser or the person cancels
// The answer of the authenticator goes into the form's `response` field and the form is
// submitted as an ordinary POST: the server answers with a page or a redirect, as for
// the password. No inline script anywhere: the page's CSP allows script-src 'self' only.
;(() => {
  const lib = globalThis.SimpleWebAuthnBrowser
  const supported = lib?.browserSupportsWebAuthn() === true
  for (const el of document.querySelectorAll('[data-passkey-unsupported]')) el.hidden = supported
  if (!supported) return
  for (const form of document.querySelectorAll('form[data-passkey]')) {
    const status = form.querySelector('[data-passkey-status]')
    const button = form.querySelector('button[type=submit]')
    const say = (text) => {
      if (!status) return
      status.textContent = text
      status.hidden = text === ''
    }
    form.hidden = false
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      if (button) button.disabled = true
      say('')
      try {
        const res = await fetch(form.dataset.passkeyOptions, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { accept: 'application/json' },
          body: new URLSearchParams({ _csrf: form.elements.namedItem('_csrf').value }),
        })
        if (!res.ok || !(res.headers.get('content-type') ?? '').startsWith('application/json')) {
          throw new Error(`options: ${res.status}`)
        }
        const optionsJSON = await res.json()
        const answer =
          form.dataset.passkey === 'register'
            ? await lib.startRegistration({ optionsJSON })
            : await lib.startAuthentication({ optionsJSON })
        form.elements.namedItem('response').value = JSON.stringify(answer)
        form.submit()
      } catch {
        say(form.dataset.passkeyError ?? '')
        if (button) button.disabled = false
      }
    })
  }
})()
