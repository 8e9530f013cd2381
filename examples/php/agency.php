<?php
// An agency backend behind the Satu Pintu gateway, in plain PHP 8 (no framework, no
// Composer): it trusts a citizen only through the gateway's signed assertion
// (X-Satupintu-Assertion, ES256), and fetches the documents the citizen allowed with its own
// client-credentials token. Run it with PHP's built-in server:
//
//   SATUPINTU_GATEWAY=https://layanan.sukamaju.go.id SATUPINTU_AGENCY=dinas-contoh \
//   SATUPINTU_TOKEN_URL=https://akun.sukamaju.go.id/token \
//   SATUPINTU_CLIENT_ID=dinas-contoh-backend SATUPINTU_CLIENT_SECRET=... \
//   php -S 127.0.0.1:8081 agency.php
//
// In production put it behind PHP-FPM as usual; only the gateway may reach it.

declare(strict_types=1);

require __DIR__ . '/satupintu.php';

$config = [
    'gateway' => rtrim((string) getenv('SATUPINTU_GATEWAY'), '/'),
    'agency' => (string) getenv('SATUPINTU_AGENCY'),
    'jwks_url' => getenv('SATUPINTU_JWKS_URL') ?: rtrim((string) getenv('SATUPINTU_GATEWAY'), '/') . '/.well-known/jwks.json',
    'token_url' => (string) getenv('SATUPINTU_TOKEN_URL'),
    'client_id' => (string) getenv('SATUPINTU_CLIENT_ID'),
    'client_secret' => (string) getenv('SATUPINTU_CLIENT_SECRET'),
    'cache_dir' => getenv('SATUPINTU_CACHE_DIR') ?: sys_get_temp_dir(),
];

$levels = [
    'urn:satupintu:acr:pwd' => 'kata sandi',
    'urn:satupintu:acr:mfa' => 'dua langkah (kata sandi dan kode, atau passkey)',
    'urn:satupintu:acr:phr' => 'passkey di perangkat ini (tahan phishing)',
];

function h(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function page(int $status, string $title, string $body): void
{
    http_response_code($status);
    header('Content-Type: text/html; charset=utf-8');
    header('Cache-Control: no-store');
    echo '<!doctype html><html lang="id"><head><meta charset="utf-8">'
        . '<meta name="viewport" content="width=device-width, initial-scale=1">'
        . '<title>' . h($title) . '</title></head><body><main>' . $body . '</main></body></html>';
}

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';

if ($path === '/healthz') {
    header('Content-Type: text/plain');
    echo "ok\n";
    return;
}

// Every other page needs a citizen, proven by the gateway's assertion.
try {
    $citizen = satupintu_verify_assertion($_SERVER['HTTP_X_SATUPINTU_ASSERTION'] ?? '', $config);
} catch (SatupintuRefused $e) {
    // The reason goes to the log, never to the page: it would help a forger.
    error_log('assertion refused: ' . $e->getMessage());
    page(401, 'Tidak dikenal', '<h1>Permintaan tidak dikenal</h1><p>Halaman ini hanya dapat dibuka melalui Satu Pintu.</p>'
        . '<p id="alasan" hidden>' . h($e->code_name) . '</p>');
    return;
}

if ($method === 'GET' && $path === '/') {
    $docs = '';
    foreach ($citizen['documents'] as $doc) {
        $docs .= '<li>' . h($doc['type']) . ' <form method="post" action="/periksa">'
            . '<input type="hidden" name="jenis" value="' . h($doc['type']) . '">'
            . '<button type="submit">Unduh dan periksa</button></form></li>';
    }
    page(200, 'Layanan', '<h1 id="salam">Halo, ' . h($citizen['name']) . '</h1>'
        . '<p>Tingkat jaminan: <span id="tingkat">' . h($levels[$citizen['acr']] ?? 'tidak dikenal') . '</span></p>'
        . '<p>Nomor pengenal Anda di instansi ini: <code id="sub">' . h($citizen['sub']) . '</code></p>'
        . ($docs === '' ? '<p>Tidak ada dokumen yang dilampirkan.</p>' : '<h2>Dokumen dari Satu Pintu</h2><ul>' . $docs . '</ul>'));
    return;
}

if ($method === 'POST' && $path === '/periksa') {
    $type = (string) ($_POST['jenis'] ?? '');
    $doc = null;
    foreach ($citizen['documents'] as $d) {
        if ($d['type'] === $type) {
            $doc = $d;
        }
    }
    if ($doc === null) {
        page(404, 'Dokumen', '<h1>Dokumen tidak dilampirkan</h1><p><a href="/">Kembali</a></p>');
        return;
    }
    try {
        $result = satupintu_fetch_document($doc, $config);
    } catch (SatupintuRefused $e) {
        error_log('document fetch failed: ' . $e->getMessage());
        page(502, 'Dokumen', '<h1>Dokumen tidak dapat diambil</h1><p id="hasil">Gagal: ' . h($e->code_name) . '</p><p><a href="/">Kembali</a></p>');
        return;
    }
    page(200, 'Hasil pemeriksaan', '<h1>Hasil pemeriksaan</h1><p id="hasil">'
        . ($result['match'] ? 'Cocok: SHA-256 berkas yang diunduh sama dengan yang dinyatakan Satu Pintu.' : 'TIDAK cocok: berkas berbeda dari yang dinyatakan.')
        . '</p><dl><dt>Ukuran</dt><dd id="ukuran">' . $result['size'] . ' bita</dd><dt>SHA-256</dt><dd><code>' . h($result['sha256']) . '</code></dd></dl>'
        . '<p><a href="/">Kembali</a></p>');
    return;
}

page(404, 'Tidak ditemukan', '<h1>Halaman tidak ditemukan</h1><p><a href="/">Beranda</a></p>');
