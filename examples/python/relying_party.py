"""An agency's own web application that signs citizens in with Satu Pintu directly over
OpenID Connect (code flow with PKCE, state and nonce), without the gateway, in Python 3
with PyJWT and the standard library: it verifies the ID token itself and ends its sessions
when the idp's back-channel logout says so.

    SATUPINTU_ISSUER=https://akun.sukamaju.go.id SATUPINTU_CLIENT_ID=dinas-contoh-web \\
    SATUPINTU_CLIENT_SECRET=... SATUPINTU_APP_URL=https://izin.dinas-contoh.go.id \\
    python3 relying_party.py 127.0.0.1 8083

Sessions live in this process's memory, enough for a sample; keep them in your
framework's session store in production.
"""

import hmac
import html
import logging
import os
import secrets
import sys
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import satupintu

RP = satupintu.RelyingParty(satupintu.RelyingPartyConfig.from_env(os.environ))
COOKIE = "rp_py"
SESSIONS: dict[str, dict] = {}  # session id -> {"flow"|"citizen"|"csrf": ...}
ENDED: dict[str, float] = {}  # Satu Pintu sid (or "sub:<sub>") -> when the idp ended it
LOCK = threading.Lock()
log = logging.getLogger("relying-party")


class Handler(BaseHTTPRequestHandler):
    server_version = "relying-party"

    def page(self, status: int, title: str, body: str, cookie: str | None = None) -> None:
        data = (
            '<!doctype html><html lang="id"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, location: str, cookie: str | None = None) -> None:
        self.send_response(303)
        self.send_header("Location", location)
        self.send_header("Cache-Control", "no-store")
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def session(self) -> tuple[str | None, dict]:
        jar = SimpleCookie(self.headers.get("Cookie", ""))
        sid = jar[COOKIE].value if COOKIE in jar else None
        with LOCK:
            data = SESSIONS.get(sid or "")
            if data is None:
                return None, {}
            c = data.get("citizen")
            # A session the idp has ended (back-channel logout) ends here too.
            if c and ((c["sid"] and c["sid"] in ENDED) or ENDED.get(f"sub:{c['sub']}", 0) >= c["at"]):
                del SESSIONS[sid or ""]
                return None, {}
            return sid, data

    def new_session(self, data: dict) -> str:
        sid = secrets.token_urlsafe(32)
        with LOCK:
            SESSIONS[sid] = data
        secure = "; Secure" if RP.config.app_url.startswith("https:") else ""
        return f"{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax{secure}"

    def drop(self, sid: str | None) -> None:
        with LOCK:
            SESSIONS.pop(sid or "", None)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
            return
        try:
            RP.discovery()
        except satupintu.Refused as e:
            log.warning("discovery: %s", e)
            self.page(503, "Tidak tersedia", "<h1>Layanan masuk sedang tidak tersedia</h1><p>Silakan coba lagi sebentar lagi.</p>")
            return
        sid, data = self.session()
        if url.path == "/":
            c = data.get("citizen")
            if not c:
                self.page(200, "Dinas Contoh", '<h1 id="status">Belum masuk</h1><p><a href="/masuk">Masuk dengan Satu Pintu</a></p>')
                return
            self.page(
                200,
                "Dinas Contoh",
                f'<h1 id="status">Halo, {html.escape(c["name"])}</h1>'
                f'<p>Nomor pengenal Anda di instansi ini: <code id="sub">{html.escape(c["sub"])}</code></p>'
                f'<form method="post" action="/keluar"><input type="hidden" name="csrf" value="{html.escape(data["csrf"])}">'
                '<button type="submit">Keluar</button></form>',
            )
            return
        if url.path == "/masuk":
            location, flow = RP.authorization_url()
            self.drop(sid)
            self.redirect(location, self.new_session({"flow": flow}))
            return
        if url.path == "/callback":
            q = parse_qs(url.query)
            flow = data.pop("flow", None)
            state = (q.get("state") or [""])[0]
            # One flow, one answer: the state must be the one this browser started with.
            if not flow or not hmac.compare_digest(state, flow["state"]):
                self.page(400, "Gagal masuk", '<h1>Gagal masuk</h1><p id="alasan">state</p><p><a href="/masuk">Coba lagi</a></p>')
                return
            if "error" in q:
                self.page(400, "Gagal masuk", f'<h1>Masuk dibatalkan</h1><p id="alasan">{html.escape(q["error"][0])}</p><p><a href="/masuk">Coba lagi</a></p>')
                return
            try:
                claims, id_token = RP.finish((q.get("code") or [""])[0], flow)
            except satupintu.Refused as e:
                log.warning("sign-in refused: %s", e)
                self.page(400, "Gagal masuk", f'<h1>Gagal masuk</h1><p id="alasan">{html.escape(e.code)}</p><p><a href="/masuk">Coba lagi</a></p>')
                return
            citizen = {"sub": claims["sub"], "name": claims.get("name") or "", "sid": claims.get("sid") or "", "at": time.time(), "id_token": id_token}
            self.drop(sid)  # a new session id at sign-in: no fixation
            self.redirect("/", self.new_session({"citizen": citizen, "csrf": secrets.token_urlsafe(16)}))
            return
        if url.path == "/keluar/selesai":
            with LOCK:
                expected = data.pop("logout_state", None)
            state = (parse_qs(url.query).get("state") or [""])[0]
            if expected and hmac.compare_digest(state.encode(), expected.encode()):
                # "Ya, keluar": the Satu Pintu session has ended; now this one ends too.
                self.drop(sid)
                self.redirect("/", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
                return
            self.redirect("/")
            return
        self.page(404, "Tidak ditemukan", '<h1>Halaman tidak ditemukan</h1><p><a href="/">Beranda</a></p>')

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > 64 * 1024:
            self.page(413, "Terlalu besar", "<h1>Permintaan terlalu besar</h1>")
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if path == "/backchannel-logout":
            # From the idp's server, never through the citizen's browser.
            try:
                claims = RP.logout_claims((form.get("logout_token") or [""])[0])
            except satupintu.Refused as e:
                log.warning("logout token refused: %s", e)
                body = b'{"error":"invalid_request"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            with LOCK:
                if isinstance(claims.get("sid"), str):
                    ENDED[claims["sid"]] = time.time()
                if isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
                    ENDED[f"sub:{claims['sub']}"] = time.time()
            self.send_response(200)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/keluar":
            sid, data = self.session()
            c = data.get("citizen")
            token = (form.get("csrf") or [""])[0]
            if not c or not hmac.compare_digest(token, data.get("csrf", "")):
                self.redirect("/")
                return
            # Sign-out asks first, ends later (OpenID Connect RP-Initiated Logout 1.0 §2-§3).
            # The idp asks the citizen "Keluar dari Satu Pintu?", and "Tidak, tetap masuk" must
            # come back to a session that is still here: so this session is NOT dropped now. It
            # keeps the ID token (the id_token_hint) and a fresh `state`; the idp comes back to
            # /keluar/selesai with that state only after "Ya, keluar", and only then does this
            # session end. "Tidak" comes back without a state, and a link with another state is
            # not ours: neither ends anything. A citizen who says "Ya" and never comes back is
            # signed out here all the same: the idp's back-channel logout marks the sid ended.
            state = secrets.token_urlsafe(32)
            with LOCK:
                data["logout_state"] = state
            self.redirect(RP.end_session_url(c["id_token"], state))
            return
        self.page(404, "Tidak ditemukan", "<h1>Halaman tidak ditemukan</h1>")

    def log_message(self, fmt, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8083
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
