"""API-7: JWT verification — HS256/RS256 only; none, others, malformed, expired, too long
→ NotAuthenticated; a missing secret stops start-up."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from datanexus.api.settings import ApiSettings
from datanexus.api.tokens import verify_token
from datanexus.errors import NotAuthenticated

SECRET = "s" * 64
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
PRIVATE_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


def _settings(**kw: Any) -> ApiSettings:
    return ApiSettings(database_url="postgresql://x", redis_url="redis://x", jwt_enabled=True, **kw)


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "tenant": "acme",
        "sub": "ana",
        "scopes": ["query:read:*"],
        "iat": now,
        "exp": now + 600,
        **over,
    }


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_hs256_and_rs256_accepted() -> None:
    settings = _settings(jwt_secret=SECRET, jwt_public_key=PUBLIC_PEM)
    hs = jwt.encode(_claims(), SECRET, algorithm="HS256")
    rs = jwt.encode(_claims(), PRIVATE_PEM, algorithm="RS256")
    for token in (hs, rs):
        claims = verify_token(token, settings)
        assert (claims.tenant, claims.subject, claims.scopes) == ("acme", "ana", ("query:read:*",))


@pytest.mark.parametrize(
    "token",
    [
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
        jwt.encode(_claims(), SECRET, algorithm="HS512"),
        jwt.encode(_claims(), "t" * 64, algorithm="HS256"),
        jwt.encode(_claims(exp=int(time.time()) - 1), SECRET, algorithm="HS256"),
        jwt.encode(_claims(exp=int(time.time()) + 7200), SECRET, algorithm="HS256"),
        jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET, algorithm="HS256"),
        jwt.encode(_claims(scopes=["platform:admin:*"]), SECRET, algorithm="HS256"),
        jwt.encode(_claims(scopes=["bogus"]), SECRET, algorithm="HS256"),
        "not.a.token",
        "abc",
    ],
    ids=[
        "alg-none",
        "hs512",
        "bad-signature",
        "expired",
        "over-1h",
        "no-exp",
        "platform",
        "bad-scope",
        "garbage",
        "no-dots",
    ],
)
def test_refused_tokens(token: str) -> None:
    with pytest.raises(NotAuthenticated):
        verify_token(token, _settings(jwt_secret=SECRET))


def test_rs256_refused_when_only_a_secret_is_configured_and_no_confusion() -> None:
    rs = jwt.encode(_claims(), PRIVATE_PEM, algorithm="RS256")
    with pytest.raises(NotAuthenticated, match="algorithm"):
        verify_token(rs, _settings(jwt_secret=SECRET))
    # HS256 signed with the public key as the secret (the classic confusion) is refused
    # when only RS256 is configured.
    forged = _b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(_claims()) + ".x"
    with pytest.raises(NotAuthenticated):
        verify_token(forged, _settings(jwt_public_key=PUBLIC_PEM))


def test_missing_secret_stops_start_up() -> None:
    with pytest.raises(ValueError, match="jwt_secret"):
        _settings()
