"""Standard Webhooks signatures (HMAC-SHA256 over `id.timestamp.body`, base64).

Headers: `webhook-id`, `webhook-timestamp` (Unix seconds), `webhook-signature` (`v1,<base64>`,
space-separated when several keys are valid). Receivers reject timestamps more than five
minutes away from their clock (replay protection) and compare in constant time, so the sender
signs every try anew with its own timestamp (the id stays). Secrets are 24 to 64 random bytes
(`standard-webhooks/standard-webhooks`, `spec/standard-webhooks.md`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_SECONDS = 300
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64


class SignatureError(ValueError):
    """A webhook secret or signature that cannot be used or does not match."""


def secret_key(secret: str) -> bytes:
    """Return the HMAC key of a `whsec_<base64>` secret (a bare base64 string also works)."""
    try:
        key = base64.b64decode(secret.strip().removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the webhook secret is not whsec_<base64>") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SignatureError(
            f"the webhook secret holds {len(key)} bytes; Standard Webhooks secrets hold "
            f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes (whsec_<base64>)"
        )
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value for one message."""
    mac = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers of one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: float) -> None:
    """Check a received message's signature and timestamp.

    Raises:
        SignatureError: missing headers, a timestamp outside the tolerance, or no match.
    """
    lowered = {k.lower(): v for k, v in received.items()}
    msg_id, stamp = lowered.get("webhook-id"), lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not stamp or not signatures:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is too far from now (replay?)")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for entry in signatures.split():
        if entry.startswith("v1,") and hmac.compare_digest(entry.encode(), expected):
            return
    raise SignatureError("no webhook-signature matches")
