<?php
// What an agency's PHP backend needs to trust Satu Pintu's gateway: verify the signed
// assertion (ES256 JWT, docs/agency-integration.md "The assertion") with the gateway's JWKS,
// and fetch a document link with the agency's own client-credentials token. Plain PHP 8 with
// the openssl and json extensions (both in Debian's php-cli); copy this file into your project.

declare(strict_types=1);

final class SatupintuRefused extends RuntimeException
{
    public function __construct(public readonly string $code_name, string $detail = '')
    {
        parent::__construct($code_name . ($detail === '' ? '' : ': ' . $detail));
    }
}

function satupintu_b64url_decode(string $s): string
{
    if ($s === '' || preg_match('/[^A-Za-z0-9_-]/', $s)) {
        throw new SatupintuRefused('malformed', 'not base64url');
    }
    $out = base64_decode(strtr($s, '-_', '+/') . str_repeat('=', (4 - strlen($s) % 4) % 4), true);
    if ($out === false) {
        throw new SatupintuRefused('malformed', 'not base64url');
    }
    return $out;
}

/**
 * One HTTP request with PHP's own stream wrapper (no curl extension needed), a 15 s
 * timeout, and never a redirect followed. Returns [status, body].
 */
function satupintu_http(string $method, string $url, array $headers = [], ?string $body = null): array
{
    $scheme = strtolower((string) parse_url($url, PHP_URL_SCHEME));
    if ($scheme !== 'https' && $scheme !== 'http') {
        throw new SatupintuRefused('unreachable', 'not an http(s) URL');
    }
    $context = stream_context_create(['http' => [
        'method' => $method,
        'header' => implode("\r\n", [...$headers, 'Connection: close']),
        'content' => $body ?? '',
        'timeout' => 15,
        'follow_location' => 0,
        'ignore_errors' => true,
        'protocol_version' => 1.1,
    ], 'ssl' => ['verify_peer' => true, 'verify_peer_name' => true]]);
    $response = @file_get_contents($url, false, $context);
    $status = 0;
    $lines = function_exists('http_get_last_response_headers') ? (http_get_last_response_headers() ?? []) : ($http_response_header ?? []);
    foreach ($lines as $line) {
        if (preg_match('#^HTTP/\S+\s+(\d{3})#', $line, $m)) {
            $status = (int) $m[1];
        }
    }
    if ($response === false || $status === 0) {
        throw new SatupintuRefused('unreachable', $url . ': ' . (error_get_last()['message'] ?? 'no response'));
    }
    return [$status, $response];
}

/**
 * The gateway's public keys, cached in a file for five minutes; `$fresh` fetches them again
 * (on an unknown kid: keys are rotated, a new key is published before it signs), but at
 * most once every ten seconds, so a flood of forged kids cannot make us hammer the gateway.
 */
function satupintu_jwks(string $url, string $cacheDir, bool $fresh = false): array
{
    $file = $cacheDir . '/satupintu-jwks-' . sha1($url) . '.json';
    $age = is_file($file) ? time() - (int) filemtime($file) : PHP_INT_MAX;
    if ($age < 300 && !($fresh && $age >= 10)) {
        $cached = json_decode((string) file_get_contents($file), true);
        if (is_array($cached)) {
            return $cached;
        }
    }
    [$status, $body] = satupintu_http('GET', $url, ['Accept: application/json']);
    $jwks = json_decode($body, true);
    if ($status !== 200 || !is_array($jwks) || !is_array($jwks['keys'] ?? null)) {
        throw new SatupintuRefused('jwks_unavailable', "HTTP $status");
    }
    // Written whole, then renamed: a concurrent request never reads half a file.
    $tmp = $file . '.' . bin2hex(random_bytes(4));
    file_put_contents($tmp, json_encode($jwks));
    rename($tmp, $file);
    return $jwks;
}

/** An EC P-256 JWK as a PEM public key (SubjectPublicKeyInfo). */
function satupintu_p256_pem(array $jwk): string
{
    if (($jwk['kty'] ?? '') !== 'EC' || ($jwk['crv'] ?? '') !== 'P-256') {
        throw new SatupintuRefused('bad_key', 'not an EC P-256 key');
    }
    $x = satupintu_b64url_decode((string) ($jwk['x'] ?? ''));
    $y = satupintu_b64url_decode((string) ($jwk['y'] ?? ''));
    if (strlen($x) !== 32 || strlen($y) !== 32) {
        throw new SatupintuRefused('bad_key', 'wrong coordinate length');
    }
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING 04 || x || y }
    $der = hex2bin('3059301306072a8648ce3d020106082a8648ce3d030107034200') . "\x04" . $x . $y;
    return "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($der), 64, "\n") . "-----END PUBLIC KEY-----\n";
}

/** A JWS ES256 signature (r || s, 64 bytes) as the DER SEQUENCE openssl_verify expects. */
function satupintu_es256_der(string $raw): string
{
    if (strlen($raw) !== 64) {
        throw new SatupintuRefused('bad_signature', 'ES256 signatures are 64 bytes');
    }
    $int = static function (string $n): string {
        $n = ltrim($n, "\x00");
        if ($n === '' || ord($n[0]) > 0x7f) {
            $n = "\x00" . $n;
        }
        return "\x02" . chr(strlen($n)) . $n;
    };
    $seq = $int(substr($raw, 0, 32)) . $int(substr($raw, 32));
    return "\x30" . chr(strlen($seq)) . $seq;
}

/**
 * Checks a compact JWS signed with ES256 by a key of the JWKS at `$jwksUrl` and returns its
 * claims. The algorithm is ours to choose, never the token's: "none", HS256 and the rest are
 * refused. `$typ`: the header's required typ, or null for none required.
 */
function satupintu_verify_jws(string $token, string $jwksUrl, ?string $typ, string $cacheDir): array
{
    if ($token === '') {
        throw new SatupintuRefused('missing');
    }
    $parts = explode('.', $token);
    if (count($parts) !== 3) {
        throw new SatupintuRefused('malformed', 'not a compact JWS');
    }
    $header = json_decode(satupintu_b64url_decode($parts[0]), true);
    $claims = json_decode(satupintu_b64url_decode($parts[1]), true);
    if (!is_array($header) || !is_array($claims)) {
        throw new SatupintuRefused('malformed', 'header or claims are not JSON objects');
    }
    if (($header['alg'] ?? null) !== 'ES256') {
        throw new SatupintuRefused('alg');
    }
    if ($typ !== null && ($header['typ'] ?? null) !== $typ) {
        throw new SatupintuRefused('typ');
    }
    $kid = $header['kid'] ?? null;
    if (!is_string($kid) || $kid === '') {
        throw new SatupintuRefused('kid');
    }
    $find = static function (array $jwks) use ($kid): ?array {
        foreach ($jwks['keys'] as $k) {
            if (is_array($k) && ($k['kid'] ?? null) === $kid && ($k['use'] ?? 'sig') === 'sig') {
                return $k;
            }
        }
        return null;
    };
    $jwk = $find(satupintu_jwks($jwksUrl, $cacheDir)) ?? $find(satupintu_jwks($jwksUrl, $cacheDir, true));
    if ($jwk === null) {
        throw new SatupintuRefused('kid', 'no such key in the JWKS');
    }
    $ok = openssl_verify($parts[0] . '.' . $parts[1], satupintu_es256_der(satupintu_b64url_decode($parts[2])), satupintu_p256_pem($jwk), OPENSSL_ALGO_SHA256);
    if ($ok !== 1) {
        throw new SatupintuRefused('signature');
    }
    return $claims;
}

/**
 * Verifies X-Satupintu-Assertion as docs/agency-integration.md asks: ES256 only, typ, a key
 * of the gateway's JWKS, iss = the gateway, aud = this agency, exp (5 s leeway), age at most
 * 60 s, and sub, iat, exp, jti present. Returns the citizen; throws SatupintuRefused.
 */
function satupintu_verify_assertion(string $token, array $config, ?int $now = null): array
{
    $now ??= time();
    $claims = satupintu_verify_jws($token, $config['jwks_url'], 'satupintu-assertion+jwt', $config['cache_dir']);
    if (($claims['iss'] ?? null) !== $config['gateway']) {
        throw new SatupintuRefused('iss');
    }
    $aud = $claims['aud'] ?? null;
    if (!($aud === $config['agency'] || (is_array($aud) && in_array($config['agency'], $aud, true)))) {
        throw new SatupintuRefused('aud');
    }
    foreach (['sub', 'jti'] as $c) {
        if (!is_string($claims[$c] ?? null) || $claims[$c] === '') {
            throw new SatupintuRefused('claims', "$c missing");
        }
    }
    if (!is_int($claims['exp'] ?? null) || !is_int($claims['iat'] ?? null)) {
        throw new SatupintuRefused('claims', 'exp or iat missing');
    }
    if ($claims['exp'] + 5 < $now) {
        throw new SatupintuRefused('exp');
    }
    if ($now - $claims['iat'] > 65 || $claims['iat'] > $now + 5) {
        throw new SatupintuRefused('iat');
    }
    $documents = [];
    foreach (is_array($claims['documents'] ?? null) ? $claims['documents'] : [] as $d) {
        if (is_array($d) && is_string($d['type'] ?? null) && is_string($d['url'] ?? null) && is_string($d['sha256'] ?? null)) {
            $documents[] = ['type' => $d['type'], 'url' => $d['url'], 'sha256' => $d['sha256']];
        }
    }
    return [
        'sub' => $claims['sub'],
        'name' => is_string($claims['name'] ?? null) ? $claims['name'] : '',
        'acr' => is_string($claims['acr'] ?? null) ? $claims['acr'] : '',
        'documents' => $documents,
    ];
}

/** A client-credentials access token for the gateway's resource, cached until a minute before it expires. */
function satupintu_access_token(array $config): string
{
    $file = $config['cache_dir'] . '/satupintu-token-' . sha1($config['client_id'] . "\0" . $config['token_url']) . '.json';
    $cached = is_file($file) ? json_decode((string) file_get_contents($file), true) : null;
    if (is_array($cached) && ($cached['expires_at'] ?? 0) > time() + 60) {
        return (string) $cached['access_token'];
    }
    [$status, $body] = satupintu_http('POST', $config['token_url'], [
        'Content-Type: application/x-www-form-urlencoded',
        'Accept: application/json',
        'Authorization: Basic ' . base64_encode(rawurlencode($config['client_id']) . ':' . rawurlencode($config['client_secret'])),
    ], http_build_query(['grant_type' => 'client_credentials', 'resource' => $config['gateway']]));
    $token = json_decode($body, true);
    if ($status !== 200 || !is_string($token['access_token'] ?? null)) {
        throw new SatupintuRefused('token', "HTTP $status " . (is_array($token) ? (string) ($token['error'] ?? '') : ''));
    }
    $tmp = $file . '.' . bin2hex(random_bytes(4));
    file_put_contents($tmp, json_encode(['access_token' => $token['access_token'], 'expires_at' => time() + (int) ($token['expires_in'] ?? 300)]));
    chmod($tmp, 0600);
    rename($tmp, $file);
    return $token['access_token'];
}

/**
 * Downloads one document link of the assertion with our token and checks its SHA-256.
 * The token goes to the gateway only, never to whatever URL a claim might name.
 */
function satupintu_fetch_document(array $doc, array $config): array
{
    $gw = parse_url($config['gateway']);
    $url = parse_url($doc['url']);
    $origin = static fn (array $u): string => strtolower(($u['scheme'] ?? '') . '://' . ($u['host'] ?? '') . (isset($u['port']) ? ':' . $u['port'] : ''));
    if (!is_array($url) || $origin($url) !== $origin($gw) || !str_starts_with($url['path'] ?? '', '/dokumen/')) {
        throw new SatupintuRefused('foreign_link', $doc['url']);
    }
    [$status, $bytes] = satupintu_http('GET', $doc['url'], ['Authorization: Bearer ' . satupintu_access_token($config)]);
    if ($status !== 200) {
        throw new SatupintuRefused('document', "HTTP $status");
    }
    $sha256 = hash('sha256', $bytes);
    return ['match' => hash_equals($doc['sha256'], $sha256), 'sha256' => $sha256, 'size' => strlen($bytes)];
}

// ---- A relying party of the idp (docs/agency-integration.md part A), without the gateway ----

/** The idp's discovery document, cached in a file for an hour. */
function satupintu_discovery(string $issuer, string $cacheDir): array
{
    $file = $cacheDir . '/satupintu-discovery-' . sha1($issuer) . '.json';
    if (is_file($file) && time() - (int) filemtime($file) < 3600) {
        $cached = json_decode((string) file_get_contents($file), true);
        if (is_array($cached)) {
            return $cached;
        }
    }
    [$status, $body] = satupintu_http('GET', rtrim($issuer, '/') . '/.well-known/openid-configuration', ['Accept: application/json']);
    $doc = json_decode($body, true);
    // The document must name the issuer we were configured with (OpenID Connect Discovery §4.3).
    if ($status !== 200 || !is_array($doc) || ($doc['issuer'] ?? null) !== $issuer) {
        throw new SatupintuRefused('discovery', "HTTP $status");
    }
    $tmp = $file . '.' . bin2hex(random_bytes(4));
    file_put_contents($tmp, json_encode($doc));
    rename($tmp, $file);
    return $doc;
}

function satupintu_b64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/** Exchanges an authorization code (with its PKCE verifier) for tokens, authenticating with client_secret_basic. */
function satupintu_code_exchange(array $rp, array $discovery, string $code, string $verifier): array
{
    [$status, $body] = satupintu_http('POST', $discovery['token_endpoint'], [
        'Content-Type: application/x-www-form-urlencoded',
        'Accept: application/json',
        'Authorization: Basic ' . base64_encode(rawurlencode($rp['client_id']) . ':' . rawurlencode($rp['client_secret'])),
    ], http_build_query(['grant_type' => 'authorization_code', 'code' => $code, 'code_verifier' => $verifier, 'redirect_uri' => $rp['redirect_uri']]));
    $tokens = json_decode($body, true);
    if ($status !== 200 || !is_string($tokens['id_token'] ?? null)) {
        throw new SatupintuRefused('token', "HTTP $status " . (is_array($tokens) ? (string) ($tokens['error'] ?? '') : ''));
    }
    return $tokens;
}

/** `aud` is our client id (a string, or an array that holds it; then `azp` must be us too). */
function satupintu_audience_is(array $claims, string $clientId): bool
{
    $aud = $claims['aud'] ?? null;
    if ($aud === $clientId) {
        return true;
    }
    return is_array($aud) && in_array($clientId, $aud, true) && (count($aud) === 1 || ($claims['azp'] ?? null) === $clientId);
}

/** Verifies an ID token (OpenID Connect Core §3.1.3.7): signature, iss, aud/azp, exp, iat, and our nonce. */
function satupintu_verify_id_token(string $idToken, array $rp, array $discovery, string $nonce, ?int $now = null): array
{
    $now ??= time();
    $claims = satupintu_verify_jws($idToken, $discovery['jwks_uri'], null, $rp['cache_dir']);
    if (($claims['iss'] ?? null) !== $rp['issuer']) {
        throw new SatupintuRefused('iss');
    }
    if (!satupintu_audience_is($claims, $rp['client_id'])) {
        throw new SatupintuRefused('aud');
    }
    if (!is_int($claims['exp'] ?? null) || $claims['exp'] + 5 < $now || !is_int($claims['iat'] ?? null) || $claims['iat'] > $now + 5) {
        throw new SatupintuRefused('exp');
    }
    if (!is_string($claims['nonce'] ?? null) || !hash_equals($nonce, $claims['nonce'])) {
        throw new SatupintuRefused('nonce');
    }
    if (!is_string($claims['sub'] ?? null) || $claims['sub'] === '') {
        throw new SatupintuRefused('claims', 'sub missing');
    }
    return $claims;
}

/**
 * Verifies a back-channel logout token (OpenID Connect Back-Channel Logout §2.6): typ
 * logout+jwt, signature, iss, aud, iat within five minutes, the logout event, no nonce, and
 * a sid or sub. Returns the claims.
 */
function satupintu_verify_logout_token(string $token, array $rp, array $discovery, ?int $now = null): array
{
    $now ??= time();
    $claims = satupintu_verify_jws($token, $discovery['jwks_uri'], 'logout+jwt', $rp['cache_dir']);
    if (($claims['iss'] ?? null) !== $rp['issuer']) {
        throw new SatupintuRefused('iss');
    }
    if (!satupintu_audience_is($claims, $rp['client_id'])) {
        throw new SatupintuRefused('aud');
    }
    if (!is_int($claims['iat'] ?? null) || abs($now - $claims['iat']) > 300 || (isset($claims['exp']) && (!is_int($claims['exp']) || $claims['exp'] + 5 < $now))) {
        throw new SatupintuRefused('iat');
    }
    if (!is_array($claims['events'] ?? null) || !array_key_exists('http://schemas.openid.net/event/backchannel-logout', $claims['events'])) {
        throw new SatupintuRefused('events');
    }
    if (array_key_exists('nonce', $claims)) {
        throw new SatupintuRefused('nonce');
    }
    if (!is_string($claims['sid'] ?? null) && !is_string($claims['sub'] ?? null)) {
        throw new SatupintuRefused('claims', 'neither sid nor sub');
    }
    return $claims;
}

/**
 * The citizen's claims from the userinfo endpoint (the ID token carries only the subject and
 * how the citizen signed in). Its `sub` must be the ID token's (OpenID Connect Core §5.3.2).
 */
function satupintu_userinfo(array $discovery, string $accessToken, string $sub): array
{
    [$status, $body] = satupintu_http('GET', $discovery['userinfo_endpoint'], ['Accept: application/json', 'Authorization: Bearer ' . $accessToken]);
    $claims = json_decode($body, true);
    if ($status !== 200 || !is_array($claims)) {
        throw new SatupintuRefused('userinfo', "HTTP $status");
    }
    if (($claims['sub'] ?? null) !== $sub) {
        throw new SatupintuRefused('userinfo', 'another subject');
    }
    return $claims;
}
