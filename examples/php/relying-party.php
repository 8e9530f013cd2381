<?php
// An agency's own web application that signs citizens in with Satu Pintu directly over
// OpenID Connect (code flow with PKCE, state and nonce), without the gateway, in plain PHP 8:
// it verifies the ID token itself and ends its sessions when the idp's back-channel logout
// says so. Run it with PHP's built-in server:
//
//   SATUPINTU_ISSUER=https://akun.sukamaju.go.id SATUPINTU_CLIENT_ID=dinas-contoh-web \
//   SATUPINTU_CLIENT_SECRET=... SATUPINTU_APP_URL=https://izin.dinas-contoh.go.id \
//   php -S 127.0.0.1:8082 relying-party.php
//
// Register it with:
//   satupintu clients add --name "Dinas Contoh" --agency dinas-contoh \
//     --redirect-uri https://izin.dinas-contoh.go.id/callback \
//     --post-logout-redirect-uri https://izin.dinas-contoh.go.id/keluar/selesai \
//     --backchannel-logout-uri https://izin.dinas-contoh.go.id/backchannel-logout

declare(strict_types=1);

require __DIR__ . '/satupintu.php';

$app = rtrim((string) getenv('SATUPINTU_APP_URL'), '/');
$rp = [
    'issuer' => (string) getenv('SATUPINTU_ISSUER'),
    'client_id' => (string) getenv('SATUPINTU_CLIENT_ID'),
    'client_secret' => (string) getenv('SATUPINTU_CLIENT_SECRET'),
    'redirect_uri' => $app . '/callback',
    'cache_dir' => getenv('SATUPINTU_CACHE_DIR') ?: sys_get_temp_dir(),
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

/** Where the back-channel logout marks a Satu Pintu session (sid) as ended. */
function ended_marker(array $rp, string $sid): string
{
    return $rp['cache_dir'] . '/rp-ended-' . hash('sha256', $rp['client_id'] . "\0" . $sid);
}

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) ?: '/';
$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';

if ($path === '/healthz') {
    header('Content-Type: text/plain');
    echo "ok\n";
    return;
}

try {
    $discovery = satupintu_discovery($rp['issuer'], $rp['cache_dir']);
} catch (SatupintuRefused $e) {
    error_log('discovery: ' . $e->getMessage());
    page(503, 'Tidak tersedia', '<h1>Layanan masuk sedang tidak tersedia</h1><p>Silakan coba lagi sebentar lagi.</p>');
    return;
}

// The idp calls this from its server, never through the citizen's browser: no session here.
if ($path === '/backchannel-logout') {
    header('Cache-Control: no-store');
    if ($method !== 'POST') {
        http_response_code(405);
        return;
    }
    try {
        $claims = satupintu_verify_logout_token((string) ($_POST['logout_token'] ?? ''), $rp, $discovery);
    } catch (SatupintuRefused $e) {
        error_log('logout token refused: ' . $e->getMessage());
        http_response_code(400);
        header('Content-Type: application/json');
        echo json_encode(['error' => 'invalid_request']);
        return;
    }
    if (is_string($claims['sid'] ?? null)) {
        touch(ended_marker($rp, $claims['sid']));
    } elseif (is_string($claims['sub'] ?? null)) {
        touch(ended_marker($rp, 'sub:' . $claims['sub'])); // every session of this citizen
    }
    http_response_code(200);
    return;
}

session_save_path($rp['cache_dir']);
session_name('rp_php');
session_start(['cookie_httponly' => true, 'cookie_samesite' => 'Lax', 'cookie_secure' => str_starts_with($app, 'https:'), 'use_strict_mode' => true]);

// A session the idp has ended (back-channel logout) ends here too, on its next request.
$citizen = $_SESSION['citizen'] ?? null;
if (is_array($citizen) && (($citizen['sid'] !== '' && is_file(ended_marker($rp, $citizen['sid']))) || is_file(ended_marker($rp, 'sub:' . $citizen['sub'])) && filemtime(ended_marker($rp, 'sub:' . $citizen['sub'])) >= $citizen['at'])) {
    $_SESSION = [];
    session_regenerate_id(true);
    $citizen = null;
}

if ($method === 'GET' && $path === '/') {
    if (!is_array($citizen)) {
        page(200, 'Dinas Contoh', '<h1 id="status">Belum masuk</h1><p><a href="/masuk">Masuk dengan Satu Pintu</a></p>');
        return;
    }
    $_SESSION['csrf'] ??= bin2hex(random_bytes(16));
    page(200, 'Dinas Contoh', '<h1 id="status">Halo, ' . h($citizen['name']) . '</h1>'
        . '<p>Nomor pengenal Anda di instansi ini: <code id="sub">' . h($citizen['sub']) . '</code></p>'
        . '<form method="post" action="/keluar"><input type="hidden" name="csrf" value="' . h($_SESSION['csrf']) . '">'
        . '<button type="submit">Keluar</button></form>');
    return;
}

if ($method === 'GET' && $path === '/masuk') {
    $_SESSION['flow'] = [
        'state' => satupintu_b64url(random_bytes(32)),
        'nonce' => satupintu_b64url(random_bytes(32)),
        'verifier' => satupintu_b64url(random_bytes(32)),
    ];
    $query = http_build_query([
        'response_type' => 'code',
        'client_id' => $rp['client_id'],
        'redirect_uri' => $rp['redirect_uri'],
        'scope' => 'openid profile',
        'state' => $_SESSION['flow']['state'],
        'nonce' => $_SESSION['flow']['nonce'],
        'code_challenge' => satupintu_b64url(hash('sha256', $_SESSION['flow']['verifier'], true)),
        'code_challenge_method' => 'S256',
        'ui_locales' => 'id',
    ], '', '&', PHP_QUERY_RFC3986);
    header('Location: ' . $discovery['authorization_endpoint'] . '?' . $query, true, 303);
    return;
}

if ($method === 'GET' && $path === '/callback') {
    $flow = $_SESSION['flow'] ?? null;
    unset($_SESSION['flow']);
    // One flow, one answer: the state must be the one this browser started with.
    if (!is_array($flow) || !is_string($_GET['state'] ?? null) || !hash_equals($flow['state'], $_GET['state'])) {
        page(400, 'Gagal masuk', '<h1>Gagal masuk</h1><p id="alasan">state</p><p><a href="/masuk">Coba lagi</a></p>');
        return;
    }
    if (isset($_GET['error'])) {
        page(400, 'Gagal masuk', '<h1>Masuk dibatalkan</h1><p id="alasan">' . h((string) $_GET['error']) . '</p><p><a href="/masuk">Coba lagi</a></p>');
        return;
    }
    try {
        $tokens = satupintu_code_exchange($rp, $discovery, (string) ($_GET['code'] ?? ''), $flow['verifier']);
        $claims = satupintu_verify_id_token($tokens['id_token'], $rp, $discovery, $flow['nonce']);
        $profile = satupintu_userinfo($discovery, (string) ($tokens['access_token'] ?? ''), $claims['sub']);
    } catch (SatupintuRefused $e) {
        error_log('sign-in refused: ' . $e->getMessage());
        page(400, 'Gagal masuk', '<h1>Gagal masuk</h1><p id="alasan">' . h($e->code_name) . '</p><p><a href="/masuk">Coba lagi</a></p>');
        return;
    }
    session_regenerate_id(true); // a new session id at sign-in: no fixation
    $_SESSION['citizen'] = [
        'sub' => $claims['sub'],
        'name' => is_string($profile['name'] ?? null) ? $profile['name'] : '',
        'sid' => is_string($claims['sid'] ?? null) ? $claims['sid'] : '',
        'at' => time(),
        'id_token' => $tokens['id_token'],
    ];
    header('Location: /', true, 303);
    return;
}

// Sign-out asks first, ends later (OpenID Connect RP-Initiated Logout 1.0 §2-§3). The idp
// asks the citizen "Keluar dari Satu Pintu?", and "Tidak, tetap masuk" must come back to a
// session that is still here: so this session is NOT cleared now. It keeps the ID token
// (the id_token_hint, which tells the idp who asks and for which session) and a fresh
// `state`; the idp sends the browser back to /keluar/selesai with that state only once
// the citizen has said "Ya, keluar", and only then does this session end. "Tidak" comes
// back without a state, and a link with another state is not ours: neither ends anything.
// A citizen who says "Ya" and never comes back is signed out here all the same: the idp's
// back-channel logout marks the sid as ended (above).
if ($method === 'POST' && $path === '/keluar') {
    if (!is_array($citizen) || !is_string($_POST['csrf'] ?? null) || !hash_equals((string) ($_SESSION['csrf'] ?? ''), $_POST['csrf'])) {
        header('Location: /', true, 303);
        return;
    }
    $_SESSION['logout_state'] = satupintu_b64url(random_bytes(32));
    header('Location: ' . $discovery['end_session_endpoint'] . '?' . http_build_query([
        'id_token_hint' => $citizen['id_token'],
        'post_logout_redirect_uri' => $app . '/keluar/selesai',
        'state' => $_SESSION['logout_state'],
        'client_id' => $rp['client_id'],
    ], '', '&', PHP_QUERY_RFC3986), true, 303);
    return;
}

if ($method === 'GET' && $path === '/keluar/selesai') {
    $expected = $_SESSION['logout_state'] ?? null;
    unset($_SESSION['logout_state']);
    if (is_string($expected) && is_string($_GET['state'] ?? null) && hash_equals($expected, $_GET['state'])) {
        // "Ya, keluar": the Satu Pintu session has ended; now this one ends too.
        $_SESSION = [];
        session_regenerate_id(true);
    }
    header('Location: /', true, 303);
    return;
}

page(404, 'Tidak ditemukan', '<h1>Halaman tidak ditemukan</h1><p><a href="/">Beranda</a></p>');
