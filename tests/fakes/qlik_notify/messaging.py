"""Imitation Mailgun, Slack incoming webhook and a Standard Webhooks receiver."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

from tests.fakes.qlik_notify.server import FakeServer, Reply, Request


class FakeMailgun(FakeServer):
    """`POST /v3/<domain>/messages` with Basic `api:<key>`; records accepted messages."""

    def __init__(self, api_key: str, domain: str) -> None:
        super().__init__()
        self.api_key, self.domain = api_key, domain
        self.messages: list[dict[str, list[str]]] = []
        # per accepted message, its `inline` parts: filename (the cid) -> (type, bytes)
        self.inline: list[dict[str, tuple[str, bytes]]] = []

    def route(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if request.header("Authorization") != expected:
            return Reply(401, "Forbidden")
        if request.method != "POST" or request.path != f"/v3/{self.domain}/messages":
            return Reply(404, {"message": "Domain not found"})
        form = request.form()
        for name in ("from", "to", "subject"):
            if not form.get(name):
                return Reply(400, {"message": f"{name} parameter is missing"})
        if not (form.get("text") or form.get("html")):
            return Reply(400, {"message": "Need at least one of 'text' or 'html' parameters"})
        files = request.parts() if request.is_multipart() else []
        if any(name == "inline" and not filename for name, filename, _, _ in files):
            return Reply(400, {"message": "inline parameter must be a file"})
        self.messages.append(form)
        self.inline.append({f: (t, d) for name, f, t, d in files if name == "inline" and f})
        n = len(self.messages)
        return Reply(200, {"id": f"<2025030106010{n}.1.ABC@{self.domain}>", "message": "Queued."})

    def sent_to(self) -> list[str]:
        """Return the `to` of every accepted message."""
        return [m["to"][0] for m in self.messages]


class FakeSlack(FakeServer):
    """An incoming webhook at a secret path: 200 `ok`, 404 `no_service` elsewhere."""

    PATH = "/services/T000AAAA/B000BBBB/XyZsecretTokenValue123"

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []

    @property
    def hook_url(self) -> str:
        """The full (secret) webhook URL."""
        return self.url + self.PATH

    def route(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != self.PATH:
            return Reply(404, "no_service")
        payload = request.json()
        if not isinstance(payload, dict) or not payload.get("text"):
            return Reply(400, "invalid_payload")
        self.posts.append(payload)
        return Reply(200, "ok")


class WebhookReceiver(FakeServer):
    """Verifies Standard Webhooks signatures with the shared secret (independent of our code).

    Accepted messages land in `received` (deduplicated by `webhook-id`); bad ones get 401/400.
    """

    def __init__(self, secret: str, tolerance: int = 300) -> None:
        super().__init__()
        self.secret, self.tolerance = secret, tolerance
        self.received: dict[str, Any] = {}
        self.rejected: list[str] = []

    def _expected(self, msg_id: str, stamp: str, body: bytes) -> bytes:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        return base64.b64encode(mac)

    def route(self, request: Request) -> Reply:
        msg_id, stamp = request.header("webhook-id"), request.header("webhook-timestamp")
        signatures = request.header("webhook-signature") or ""
        if not msg_id or not stamp or not stamp.isdigit():
            self.rejected.append("missing headers")
            return Reply(400, {"error": "missing webhook headers"})
        if abs(time.time() - int(stamp)) > self.tolerance:
            self.rejected.append("stale timestamp")
            return Reply(400, {"error": "timestamp outside tolerance"})
        try:
            expected = self._expected(msg_id, stamp, request.body)
        except binascii.Error:
            return Reply(500, {"error": "receiver misconfigured"})
        ok = any(
            s.startswith("v1,") and hmac.compare_digest(s[3:].encode(), expected)
            for s in signatures.split()
        )
        if not ok:
            self.rejected.append("bad signature")
            return Reply(401, {"error": "invalid signature"})
        self.received.setdefault(msg_id, request.json())
        return Reply(204)
