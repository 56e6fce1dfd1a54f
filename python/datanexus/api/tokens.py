"""JSON Web Tokens as credentials (API-7).

Accepted: HS256 signed with ``jwt_secret`` and RS256 verified with ``jwt_public_key`` —
only the algorithms whose key is configured, chosen by the token's header and never by
trying several keys (no algorithm confusion). Refused with 401: ``alg: none`` and every
other algorithm, a malformed token, a bad signature, a missing ``exp``/``iat``/``tenant``
claim, an expired token, and a lifetime (``exp - iat``) above ``jwt_max_lifetime_s``
(1 h). Claims: ``tenant`` (the tenant, like a key's), ``sub`` (who), ``scopes`` (a list of
scopes, as for keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from datanexus.api.scopes import check_scope
from datanexus.api.settings import ApiSettings
from datanexus.errors import InvalidArgument, NotAuthenticated

__all__ = ["TokenClaims", "looks_like_jwt", "verify_token"]


@dataclass(frozen=True)
class TokenClaims:
    tenant: str
    subject: str
    scopes: tuple[str, ...]


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and not credential.startswith("dnx_")


def verify_token(token: str, settings: ApiSettings) -> TokenClaims:
    """The claims of a valid token, else :class:`NotAuthenticated`."""
    keys: dict[str, Any] = {}
    if settings.jwt_secret:
        keys["HS256"] = settings.jwt_secret
    if settings.jwt_public_key:
        keys["RS256"] = settings.jwt_public_key
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise NotAuthenticated("malformed token") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in keys:
        raise NotAuthenticated(f"token algorithm not accepted (allowed: {sorted(keys)})")
    try:
        claims = jwt.decode(
            token,
            keys[alg],
            algorithms=[alg],
            options={"require": ["exp", "iat", "tenant"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise NotAuthenticated("token expired") from None
    except jwt.PyJWTError:
        raise NotAuthenticated("invalid token") from None
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise NotAuthenticated("invalid token")
    if exp - iat > settings.jwt_max_lifetime_s:
        raise NotAuthenticated(f"token lifetime exceeds {settings.jwt_max_lifetime_s} s")
    tenant, scopes = claims["tenant"], claims.get("scopes", [])
    if not isinstance(tenant, str) or not isinstance(scopes, list):
        raise NotAuthenticated("invalid token claims")
    try:
        checked = tuple(check_scope(s, where="token scopes") for s in scopes)
    except InvalidArgument:
        raise NotAuthenticated("invalid token scopes") from None
    if any(s.startswith("platform:") for s in checked):
        raise NotAuthenticated("platform scopes are not accepted in tokens")
    return TokenClaims(tenant, str(claims.get("sub", "")), checked)
