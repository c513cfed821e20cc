"""JSON Web Tokens for the gateway's client-authentication experiment, made with the standard library.

The gateway checks tokens against a local key set (stacks/gateway/jwt/jwks.json: no network, as
Istio's RequestAuthentication `jwks` holds it inline). The clients' tokens are signed here, RS256
(RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 3.3) with the test key beside it (signing-key.json), or
with a key the set does not hold (forged-key.json). Both private keys are test material, committed
on purpose: they guard nothing but this lab's loopback gateway.

Token kinds (the gateway experiment's clients): `token` valid for an hour; `expired` an hour ago
(beyond Envoy's 60 s clock skew); `forged` valid claims, signed with the wrong key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

# DER prefix of a SHA-256 DigestInfo (RFC 8017 9.2, note 1)
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
SUBJECT = "bench-client"
TOKEN_KINDS = ("token", "expired", "forged")
KEY_SET_TIP = 'a key set is JSON like {"keys": [{"kty": "RSA", "n": ..., "e": ...}]} (RFC 7517)'


def load_key_set(path: Path) -> dict[str, Any]:
    """A JWK set ({"keys": [{"kty": ...}, ...]}); a ConfigError naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"key file {path} is not a JWK set: {exc}", tip=KEY_SET_TIP) from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not keys or not isinstance(keys, list) or not all(isinstance(k, dict) and "kty" in k for k in keys):
        raise ConfigError(f"key file {path} is not a JWK set (no `keys` list of keys with a `kty`)", tip=KEY_SET_TIP)
    return dict(data)


def mint(kind: str, issuer: str, key_dir: Path, now: float | None = None) -> str:
    """A token of `kind` (TOKEN_KINDS) from `issuer`, signed with the key its kind calls for."""
    now = time.time() if now is None else now
    expires = now - 3600 if kind == "expired" else now + 3600
    key_file = "forged-key.json" if kind == "forged" else "signing-key.json"
    key = json.loads((key_dir / key_file).read_text(encoding="utf-8"))
    claims = {"iss": issuer, "sub": SUBJECT, "iat": int(now) - 60, "exp": int(expires)}
    return sign_rs256(claims, key)


def sign_rs256(claims: dict[str, Any], key: dict[str, str]) -> str:
    """A compact JWS of `claims`, signed with the private RSA JWK `key` (n, e, d)."""
    header = {"alg": "RS256", "typ": "JWT", "kid": key["kid"]}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
    n, d = _int(key["n"]), _int(key["d"])
    size = (n.bit_length() + 7) // 8
    digest = _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest  # EMSA-PKCS1-v1_5
    signature = pow(int.from_bytes(encoded, "big"), d, n).to_bytes(size, "big")
    return f"{signing_input.decode()}.{_b64(signature)}"


def verify_rs256(token: str, key: dict[str, str]) -> dict[str, Any]:
    """The claims of a token whose signature the public RSA JWK `key` (n, e) checks; ValueError otherwise.
    (The gateway checks tokens itself; this is for the lab's own tests of what it signs.)"""
    head, body, signature = token.split(".")
    n, e = _int(key["n"]), _int(key["e"])
    size = (n.bit_length() + 7) // 8
    recovered = pow(int.from_bytes(_unb64(signature), "big"), e, n).to_bytes(size, "big")
    digest = _SHA256_DIGEST_INFO + hashlib.sha256(f"{head}.{body}".encode()).digest()
    if not recovered.endswith(b"\x00" + digest) or not recovered.startswith(b"\x00\x01\xff"):
        raise ValueError("signature does not verify")
    claims: dict[str, Any] = json.loads(_unb64(body))
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int(text: str) -> int:
    return int.from_bytes(_unb64(text), "big")
