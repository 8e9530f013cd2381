"""An agency backend behind the Satu Pintu gateway, in Python 3 with PyJWT (Debian's
python3-jwt) and the standard library only: it trusts a citizen only through the
gateway's signed assertion (X-Satupintu-Assertion, ES256) and fetches the documents the
citizen allowed with its own client-credentials token.

    SATUPINTU_GATEWAY=https://layanan.sukamaju.go.id SATUPINTU_AGENCY=dinas-contoh \\
    SATUPINTU_TOKEN_URL=https://akun.sukamaju.go.id/token \\
    SATUPINTU_CLIENT_ID=dinas-contoh-backend SATUPINTU_CLIENT_SECRET=... \\
    python3 agency.py 127.0.0.1 8081

In production run the same handlers under your WSGI server; only the gateway may reach it.
"""

import hashlib
import hmac
import html
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import satupintu

LEVELS = {
    "urn:satupintu:acr:pwd": "kata sandi",
    "urn:satupintu:acr:mfa": "dua langkah (kata sandi dan kode, atau passkey)",
    "urn:satupintu:acr:phr": "passkey di perangkat ini (tahan phishing)",
}

CONFIG = satupintu.Config.from_env(os.environ)
VERIFIER = satupintu.AssertionVerifier(CONFIG)
TOKENS = satupintu.TokenSource(CONFIG)
log = logging.getLogger("agency")


def page(title: str, body: str) -> bytes:
    return (
        '<!doctype html><html lang="id"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    ).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server_version = "agency"

    def send_page(self, status: int, title: str, body: str) -> None:
        data = page(title, body)
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def citizen(self):
        try:
            return VERIFIER.verify(self.headers.get("X-Satupintu-Assertion", ""))
        except satupintu.Refused as e:
            # The reason goes to the log, never to the page: it would help a forger.
            log.warning("assertion refused: %s", e)
            self.send_page(
                401,
                "Tidak dikenal",
                "<h1>Permintaan tidak dikenal</h1><p>Halaman ini hanya dapat dibuka melalui Satu Pintu.</p>"
                f'<p id="alasan" hidden>{html.escape(e.code)}</p>',
            )
            return None

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok\n")
            return
        c = self.citizen()
        if c is None:
            return
        if path != "/":
            self.send_page(404, "Tidak ditemukan", '<h1>Halaman tidak ditemukan</h1><p><a href="/">Beranda</a></p>')
            return
        docs = "".join(
            f"<li>{html.escape(d['type'])} <form method=\"post\" action=\"/periksa\">"
            f"<input type=\"hidden\" name=\"jenis\" value=\"{html.escape(d['type'])}\">"
            "<button type=\"submit\">Unduh dan periksa</button></form></li>"
            for d in c["documents"]
        )
        self.send_page(
            200,
            "Layanan",
            f"<h1 id=\"salam\">Halo, {html.escape(c['name'])}</h1>"
            f"<p>Tingkat jaminan: <span id=\"tingkat\">{html.escape(LEVELS.get(c['acr'], 'tidak dikenal'))}</span></p>"
            f"<p>Nomor pengenal Anda di instansi ini: <code id=\"sub\">{html.escape(c['sub'])}</code></p>"
            + (f"<h2>Dokumen dari Satu Pintu</h2><ul>{docs}</ul>" if docs else "<p>Tidak ada dokumen yang dilampirkan.</p>"),
        )

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > 64 * 1024:
            self.send_page(413, "Terlalu besar", "<h1>Permintaan terlalu besar</h1>")
            return
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        c = self.citizen()
        if c is None:
            return
        if path != "/periksa":
            self.send_page(404, "Tidak ditemukan", "<h1>Halaman tidak ditemukan</h1>")
            return
        jenis = (form.get("jenis") or [""])[0]
        doc = next((d for d in c["documents"] if d["type"] == jenis), None)
        if doc is None:
            self.send_page(404, "Dokumen", '<h1>Dokumen tidak dilampirkan</h1><p><a href="/">Kembali</a></p>')
            return
        try:
            data = satupintu.fetch_document(doc, CONFIG, TOKENS)
        except satupintu.Refused as e:
            log.warning("document fetch failed: %s", e)
            self.send_page(502, "Dokumen", f'<h1>Dokumen tidak dapat diambil</h1><p id="hasil">Gagal: {html.escape(e.code)}</p>')
            return
        digest = hashlib.sha256(data).hexdigest()
        match = hmac.compare_digest(digest, doc["sha256"])
        self.send_page(
            200,
            "Hasil pemeriksaan",
            '<h1>Hasil pemeriksaan</h1><p id="hasil">'
            + ("Cocok: SHA-256 berkas yang diunduh sama dengan yang dinyatakan Satu Pintu." if match else "TIDAK cocok: berkas berbeda dari yang dinyatakan.")
            + f'</p><dl><dt>Ukuran</dt><dd id="ukuran">{len(data)} bita</dd><dt>SHA-256</dt><dd><code>{digest}</code></dd></dl>'
            '<p><a href="/">Kembali</a></p>',
        )

    def log_message(self, fmt, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8081
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
