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
function satupintu_jwks(array $config, bool $fresh = false): array
{
    $file = $config['cache_dir'] . '/satupintu-jwks-' . sha1($config['jwks_url']) . '.json';
    $age = is_file($file) ? time() - (int) filemtime($file) : PHP_INT_MAX;
    if ($age < 300 && !($fresh && $age >= 10)) {
        $cached = json_decode((string) file_get_contents($file), true);
        if (is_array($cached)) {
            return $cached;
        }
    }
    [$status, $body] = satupintu_http('GET', $config['jwks_url'], ['Accept: application/json']);
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
 * Verifies X-Satupintu-Assertion as docs/agency-integration.md asks: ES256 only, typ, a key
 * of the gateway's JWKS, iss = the gateway, aud = this agency, exp (5 s leeway), age at most
 * 60 s, and sub, iat, exp, jti present. Returns the citizen; throws SatupintuRefused.
 */
function satupintu_verify_assertion(string $token, array $config, ?int $now = null): array
{
    $now ??= time();
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
    // The algorithm is ours to choose, never the token's: "none", HS256 and the rest are refused.
    if (($header['alg'] ?? null) !== 'ES256') {
        throw new SatupintuRefused('alg');
    }
    if (($header['typ'] ?? null) !== 'satupintu-assertion+jwt') {
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
    $jwk = $find(satupintu_jwks($config)) ?? $find(satupintu_jwks($config, true));
    if ($jwk === null) {
        throw new SatupintuRefused('kid', 'no such key in the gateway JWKS');
    }
    $ok = openssl_verify($parts[0] . '.' . $parts[1], satupintu_es256_der(satupintu_b64url_decode($parts[2])), satupintu_p256_pem($jwk), OPENSSL_ALGO_SHA256);
    if ($ok !== 1) {
        throw new SatupintuRefused('signature');
    }
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
