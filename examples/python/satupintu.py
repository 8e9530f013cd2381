"""What an agency's Python backend needs to trust Satu Pintu's gateway: verify the signed
assertion (ES256 JWT, docs/agency-integration.md "The assertion") with PyJWT against the
gateway's JWKS, and fetch a document link with the agency's own client-credentials token.
Standard library plus PyJWT with its cryptography extra (Debian: python3-jwt). Copy this
file into your project."""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWKClient


class Refused(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class Config:
    gateway: str
    agency: str
    jwks_url: str
    token_url: str
    client_id: str
    client_secret: str

    @staticmethod
    def from_env(env) -> "Config":
        gateway = env.get("SATUPINTU_GATEWAY", "").rstrip("/")
        return Config(
            gateway=gateway,
            agency=env.get("SATUPINTU_AGENCY", ""),
            jwks_url=env.get("SATUPINTU_JWKS_URL") or f"{gateway}/.well-known/jwks.json",
            token_url=env.get("SATUPINTU_TOKEN_URL", ""),
            client_id=env.get("SATUPINTU_CLIENT_ID", ""),
            client_secret=env.get("SATUPINTU_CLIENT_SECRET", ""),
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _http(method: str, url: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise Refused("unreachable", "not an http(s) URL")
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with _opener.open(req, timeout=15) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise Refused("unreachable", f"{url}: {e}") from None


def _require_p256(key) -> None:
    """The key the kid named must be an EC P-256 key: ES256 is the only algorithm we accept,
    and a JWKS may also hold keys of other types (an RSA key's kid over an ES256 header)."""
    if not isinstance(key.key, ec.EllipticCurvePublicKey) or not isinstance(key.key.curve, ec.SECP256R1):
        raise Refused("bad_key", "not an EC P-256 key")


class AssertionVerifier:
    """Verifies X-Satupintu-Assertion: ES256 only, typ, a key of the gateway's JWKS (cached
    five minutes, fetched again on an unknown kid), iss = the gateway, aud = this agency,
    exp with 5 s leeway, an age of at most 60 s, and sub, iat, exp, jti present."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.keys = PyJWKClient(config.jwks_url, cache_jwk_set=True, lifespan=300)

    def verify(self, token: str, now: float | None = None) -> dict:
        if not token:
            raise Refused("missing")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise Refused("malformed", str(e)) from None
        # The algorithm is ours to choose, never the token's.
        if header.get("alg") != "ES256":
            raise Refused("alg")
        if header.get("typ") != "satupintu-assertion+jwt":
            raise Refused("typ")
        try:
            key = self.keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError as e:
            raise Refused("kid", str(e)) from None
        except jwt.PyJWTError as e:
            raise Refused("malformed", str(e)) from None
        _require_p256(key)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["ES256"],
                audience=self.config.agency,
                issuer=self.config.gateway,
                leeway=5,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.InvalidSignatureError:
            raise Refused("signature") from None
        except jwt.InvalidAudienceError:
            raise Refused("aud") from None
        except jwt.InvalidIssuerError:
            raise Refused("iss") from None
        except jwt.ExpiredSignatureError:
            raise Refused("exp") from None
        except jwt.PyJWTError as e:
            raise Refused("claims", str(e)) from None
        now = time.time() if now is None else now
        if now - claims["iat"] > 65:
            raise Refused("iat")
        documents = [
            {"type": d["type"], "url": d["url"], "sha256": d["sha256"]}
            for d in claims.get("documents") or []
            if isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("type", "url", "sha256"))
        ]
        return {
            "sub": claims["sub"],
            "name": claims.get("name") if isinstance(claims.get("name"), str) else "",
            "acr": claims.get("acr") if isinstance(claims.get("acr"), str) else "",
            "documents": documents,
        }


class TokenSource:
    """A client-credentials access token for the gateway's resource, reused until a minute before it expires."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.token = ""
        self.expires_at = 0.0

    def get(self) -> str:
        with self.lock:
            if self.token and self.expires_at > time.time() + 60:
                return self.token
            basic = base64.b64encode(
                f"{urllib.parse.quote(self.config.client_id, safe='')}:{urllib.parse.quote(self.config.client_secret, safe='')}".encode()
            ).decode()
            status, body = _http(
                "POST",
                self.config.token_url,
                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "Authorization": f"Basic {basic}"},
                urllib.parse.urlencode({"grant_type": "client_credentials", "resource": self.config.gateway}).encode(),
            )
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            if status != 200 or not isinstance(data.get("access_token"), str):
                raise Refused("token", f"HTTP {status} {data.get('error', '')}")
            self.token = data["access_token"]
            self.expires_at = time.time() + int(data.get("expires_in") or 300)
            return self.token


def fetch_document(doc: dict, config: Config, tokens: TokenSource) -> bytes:
    """Downloads one document link of the assertion with our token. The token goes to the
    gateway only, never to whatever URL a claim might name."""
    url = urllib.parse.urlsplit(doc["url"])
    gw = urllib.parse.urlsplit(config.gateway)
    if (url.scheme, url.netloc.lower()) != (gw.scheme, gw.netloc.lower()) or not url.path.startswith("/dokumen/"):
        raise Refused("foreign_link", doc["url"])
    status, body = _http("GET", doc["url"], {"Authorization": f"Bearer {tokens.get()}"})
    if status != 200:
        raise Refused("document", f"HTTP {status}")
    return body


# ---- A relying party of the idp (docs/agency-integration.md part A), without the gateway ----

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class RelyingPartyConfig:
    issuer: str
    client_id: str
    client_secret: str
    app_url: str

    @staticmethod
    def from_env(env) -> "RelyingPartyConfig":
        return RelyingPartyConfig(
            issuer=env.get("SATUPINTU_ISSUER", ""),
            client_id=env.get("SATUPINTU_CLIENT_ID", ""),
            client_secret=env.get("SATUPINTU_CLIENT_SECRET", ""),
            app_url=env.get("SATUPINTU_APP_URL", "").rstrip("/"),
        )

    @property
    def redirect_uri(self) -> str:
        return f"{self.app_url}/callback"


class RelyingParty:
    """Code flow with PKCE, state and nonce; ID token and logout token checks (OpenID
    Connect Core §3.1.3.7, Back-Channel Logout §2.6). The discovery document is fetched
    once and must name the configured issuer."""

    def __init__(self, config: RelyingPartyConfig) -> None:
        self.config = config
        self._discovery: dict | None = None
        self._keys: PyJWKClient | None = None
        self.lock = threading.Lock()

    def discovery(self) -> dict:
        with self.lock:
            if self._discovery is None:
                status, body = _http("GET", f"{self.config.issuer.rstrip('/')}/.well-known/openid-configuration", {"Accept": "application/json"})
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = None
                if status != 200 or not isinstance(doc, dict) or doc.get("issuer") != self.config.issuer:
                    raise Refused("discovery", f"HTTP {status}")
                self._discovery = doc
                self._keys = PyJWKClient(doc["jwks_uri"], cache_jwk_set=True, lifespan=300)
            return self._discovery

    def authorization_url(self) -> tuple[str, dict]:
        flow = {"state": b64url(os.urandom(32)), "nonce": b64url(os.urandom(32)), "verifier": b64url(os.urandom(32))}
        challenge = b64url(hashlib.sha256(flow["verifier"].encode()).digest())
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.config.redirect_uri,
                "scope": "openid profile",
                "state": flow["state"],
                "nonce": flow["nonce"],
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "ui_locales": "id",
            },
            quote_via=urllib.parse.quote,
        )
        return f"{self.discovery()['authorization_endpoint']}?{query}", flow

    def _decode(self, token: str, typ: str | None, require: list[str]) -> dict:
        self.discovery()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise Refused("malformed", str(e)) from None
        if header.get("alg") != "ES256":
            raise Refused("alg")
        if typ is not None and header.get("typ") != typ:
            raise Refused("typ")
        try:
            key = self._keys.get_signing_key_from_jwt(token)  # type: ignore[union-attr]
            _require_p256(key)
            claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=self.config.client_id, issuer=self.config.issuer, leeway=5, options={"require": require})
        except jwt.PyJWKClientError as e:
            raise Refused("kid", str(e)) from None
        except jwt.InvalidSignatureError:
            raise Refused("signature") from None
        except jwt.InvalidAudienceError:
            raise Refused("aud") from None
        except jwt.InvalidIssuerError:
            raise Refused("iss") from None
        except jwt.ExpiredSignatureError:
            raise Refused("exp") from None
        except jwt.PyJWTError as e:
            raise Refused("claims", str(e)) from None
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.config.client_id:
            raise Refused("aud", "azp")
        return claims

    def finish(self, code: str, flow: dict) -> tuple[dict, str]:
        """Exchanges the code (with its PKCE verifier) and verifies the ID token; returns its claims and the token."""
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.config.client_id, safe='')}:{urllib.parse.quote(self.config.client_secret, safe='')}".encode()
        ).decode()
        status, body = _http(
            "POST",
            self.discovery()["token_endpoint"],
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "Authorization": f"Basic {basic}"},
            urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "code_verifier": flow["verifier"], "redirect_uri": self.config.redirect_uri}).encode(),
        )
        try:
            tokens = json.loads(body)
        except ValueError:
            tokens = {}
        if status != 200 or not isinstance(tokens.get("id_token"), str):
            raise Refused("token", f"HTTP {status} {tokens.get('error', '')}")
        claims = self._decode(tokens["id_token"], None, ["exp", "iat", "sub", "iss", "aud", "nonce"])
        if not hmac.compare_digest(str(claims.get("nonce", "")), flow["nonce"]):
            raise Refused("nonce")
        # The ID token carries the subject and how the citizen signed in; the profile comes
        # from userinfo, whose sub must be the ID token's (OpenID Connect Core §5.3.2).
        status, body = _http("GET", self.discovery()["userinfo_endpoint"], {"Accept": "application/json", "Authorization": f"Bearer {tokens.get('access_token', '')}"})
        try:
            profile = json.loads(body)
        except ValueError:
            profile = None
        if status != 200 or not isinstance(profile, dict) or profile.get("sub") != claims["sub"]:
            raise Refused("userinfo", f"HTTP {status}")
        return {**profile, **claims}, tokens["id_token"]

    def logout_claims(self, token: str) -> dict:
        """A back-channel logout token's claims, or Refused."""
        if not token:
            raise Refused("missing")
        claims = self._decode(token, "logout+jwt", ["iat", "iss", "aud"])
        if abs(time.time() - claims["iat"]) > 300:
            raise Refused("iat")
        if not isinstance(claims.get("events"), dict) or LOGOUT_EVENT not in claims["events"]:
            raise Refused("events")
        if "nonce" in claims:
            raise Refused("nonce")
        if not isinstance(claims.get("sid"), str) and not isinstance(claims.get("sub"), str):
            raise Refused("claims", "neither sid nor sub")
        return claims

    def end_session_url(self, id_token: str, state: str) -> str:
        """Where to send the browser to sign out at the idp (RP-Initiated Logout 1.0 §2):
        the ID token as the hint, the registered `<app>/keluar/selesai` to come back to, and
        `state`, which the idp echoes only when the citizen said "Ya, keluar"."""
        query = urllib.parse.urlencode(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": f"{self.config.app_url}/keluar/selesai",
                "state": state,
                "client_id": self.config.client_id,
            },
            quote_via=urllib.parse.quote,
        )
        return f"{self.discovery()['end_session_endpoint']}?{query}"
