"""Decode the CloudEvent a Pub/Sub trigger delivers into the message's bytes and attributes.

Pure: no I/O, no clock. Eventarc (production) and functions-framework's conversion of an
emulator push request both deliver `google.cloud.pubsub.topic.v1.messagePublished` with
`data = {"message": {"data": <base64>, "attributes": {...}, "messageId": ...}, ...}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mhi.errors import InvalidMessageError

PUBSUB_EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"

_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_FRACTION_RE = re.compile(r"\.(\d+)")


@dataclass(frozen=True)
class PubSubMessage:
    """One Pub/Sub message as the function sees it."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""
    publish_time: datetime | None = None
    subscription: str | None = None
    trace_id: str | None = None


def decode(event: Any) -> PubSubMessage:
    """Turn a CloudEvent (or its structured JSON as a dict) into a PubSubMessage.

    Raises:
        InvalidMessageError: not a Pub/Sub event, or its payload is malformed.
    """
    meta, payload = _split(event)
    event_type = meta.get("type")
    if event_type != PUBSUB_EVENT_TYPE:
        raise InvalidMessageError(f"expected a {PUBSUB_EVENT_TYPE} CloudEvent, got {event_type!r}")
    if isinstance(payload, bytes | str):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InvalidMessageError(f"CloudEvent data is not JSON: {e}") from e
    if not isinstance(payload, Mapping) or not isinstance(payload.get("message"), Mapping):
        raise InvalidMessageError("CloudEvent data has no Pub/Sub 'message' object")
    message = payload["message"]
    return PubSubMessage(
        data=_data(message.get("data")),
        attributes=_attributes(message.get("attributes")),
        message_id=str(message.get("messageId") or message.get("message_id") or meta.get("id")),
        publish_time=_time(message.get("publishTime") or message.get("publish_time")),
        subscription=payload.get("subscription"),
        trace_id=_trace_id(meta.get("traceparent")),
    )


def _split(event: Any) -> tuple[Mapping[str, Any], Any]:
    if isinstance(event, Mapping):
        return event, event.get("data")
    get_attributes = getattr(event, "get_attributes", None)
    if get_attributes is None:
        raise InvalidMessageError(f"not a CloudEvent: {type(event).__name__}")
    return get_attributes(), getattr(event, "data", None)


def _data(value: Any) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise InvalidMessageError("Pub/Sub message data must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidMessageError(f"Pub/Sub message data is not valid base64: {e}") from e


def _attributes(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidMessageError("Pub/Sub message attributes must map strings to strings")
    return dict(value)


def _time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time; Pub/Sub sends up to nanoseconds, Python takes microseconds."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None  # informational only: a malformed publish time must not reject a message


def _trace_id(traceparent: Any) -> str | None:
    if not isinstance(traceparent, str):
        return None
    match = _TRACEPARENT_RE.match(traceparent.strip())
    return match.group(1) if match else None
