"""Who is calling the API: the audit's actor, from the verified identity of the request.

On Cloud Functions (Cloud Run) the platform lets a request in only with an identity token of a
principal holding `run.invoker`, verified before the function runs; the function reads the
caller's email from that token. `mhi serve` trusts the local user, and requires a bearer token
when `MHI_API_TOKEN` is set.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from typing import Any, Protocol

from mhi.errors import AuthError


class Request(Protocol):
    """The part of a request authentication reads."""

    @property
    def headers(self) -> Any:
        """The request headers (a mapping)."""
        ...


class Authenticator(Protocol):
    """Says who sent a request, or refuses it."""

    def identify(self, request: Request) -> dict[str, Any]:
        """The actor (`{"actor", "via"}`) of an accepted request.

        Raises:
            AuthError: the request carries no acceptable identity.
        """
        ...


def _bearer(request: Request) -> str | None:
    header = str(request.headers.get("Authorization", ""))
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (its payload, decoded; the signature is the platform's to check).

    Raises:
        AuthError: the token is not a JWT.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("the bearer token is not an identity token (JWT)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as e:
        raise AuthError(f"the identity token cannot be read: {e}") from None
    if not isinstance(claims, dict):
        raise AuthError("the identity token has no claims")
    return claims


class CloudRunAuth:
    """Behind Cloud Functions IAM: the caller is the token's verified email (or subject)."""

    def identify(self, request: Request) -> dict[str, Any]:
        """The caller of an IAM-verified request."""
        token = _bearer(request)
        if token is None:
            raise AuthError("no identity token: call with `Authorization: Bearer <id token>`")
        claims = token_claims(token)
        actor = claims.get("email") or claims.get("sub")
        if not isinstance(actor, str) or not actor:
            raise AuthError("the identity token names no caller (no email, no sub)")
        return {"actor": actor, "via": "api"}


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


class LocalAuth:
    """`mhi serve`: the local user; with a token set, only requests bearing it."""

    def __init__(self, token: str | None, actor: str) -> None:
        self.token = token
        self.actor = actor

    @classmethod
    def from_env(cls) -> LocalAuth:
        """`MHI_API_TOKEN` (optional) and the local user."""
        from mhi.ops.identity import local_user

        return cls(os.environ.get("MHI_API_TOKEN") or None, local_user())

    def identify(self, request: Request) -> dict[str, Any]:
        """The local user, once the token (if any) matches; without a token, only a request
        addressed to this machine by name (a page whose DNS name was re-bound to 127.0.0.1 is
        not, so it cannot act through the browser)."""
        if self.token is None:
            host = str(request.headers.get("Host", ""))
            name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
            if name not in LOOPBACK_NAMES:
                raise AuthError(
                    f"without MHI_API_TOKEN only requests to 127.0.0.1 or localhost are served "
                    f"(Host: {host[:100]!r})"
                )
        else:
            given = _bearer(request)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                raise AuthError("missing or wrong bearer token (MHI_API_TOKEN is set)")
        return {"actor": self.actor, "via": "api"}
