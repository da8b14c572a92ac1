"""The imitation-API server base: a ThreadingHTTPServer on 127.0.0.1 (port 0), auth checks,
request log, and faults injected by request number.

Faults (`Fault.kind`): "429" (with Retry-After), "500", "timeout" (answer after `delay`),
"malformed" (truncated JSON), "html" (an HTML page with status 200), "expired_token" (401 on a
bearer token that was valid: the client must fetch a new one). `empty_page_at = k` makes the
k-th page of every listing empty without ending it (the records move one page later).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    """Answer data requests `on_request` .. `on_request + times - 1` (1-based) with a fault."""

    kind: str
    on_request: int = 1
    times: int = 1
    retry_after: str = "2"
    delay: float = 0.6


@dataclass
class Req:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    raw_query: str = ""  # as sent, before decoding (`+` and `%20` differ here)


@dataclass
class Resp:
    """One answer."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Seen:
    """Log entry: what was asked, what was answered, which record ids were served."""

    path: str
    query: dict[str, str]
    status: int
    ids: list[Any]


class FakeApi:
    """Base imitation API. Subclasses implement `authorized` and `route`."""

    system = "fake"
    id_field = "id"

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.log: list[Seen] = []
        self.empty_page_at: int | None = None
        self.data_requests = 0
        self.tokens: set[str] = set()
        self.token_requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeApi:
        """Listen on an ephemeral loopback port."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real APIs: the client reuses sockets
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out closed its socket: expected in fault tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    @property
    def url(self) -> str:
        """The server's root URL."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- hooks -----------------------------------------------------------------------------
    def authorized(self, req: Req) -> bool:
        """Return whether the request carries valid credentials."""
        raise NotImplementedError

    def route(self, req: Req) -> Resp:
        """Answer an authorized data request."""
        raise NotImplementedError

    def token(self, req: Req) -> Resp | None:
        """Answer a token request, or None when `req` is not one."""
        return None

    # -- helpers ---------------------------------------------------------------------------
    def served_ids(self) -> list[Any]:
        """Every record id served so far, in order."""
        return [i for s in self.log for i in s.ids]

    def reset_log(self) -> None:
        """Forget what was served (between runs of one test)."""
        with self._lock:
            self.log.clear()
            self.data_requests = 0

    def new_token(self) -> str:
        """Issue a bearer token."""
        with self._lock:
            self.token_requests += 1
            token = f"tok-{self.system}-{self.token_requests}-{time.monotonic_ns()}"
            self.tokens.add(token)
        return token

    def bearer_ok(self, req: Req) -> bool:
        """Check `Authorization: Bearer <a token we issued>`."""
        auth = req.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def page_window(self, page: int, total: int, size: int) -> tuple[int, int, bool]:
        """Return (start, stop, has_more) of 1-based `page`, with the empty-page fault."""
        k = self.empty_page_at
        pages = -(-total // size) if total else 0
        if k is not None and k <= pages:
            if page == k:
                return 0, 0, True
            if page > k:
                page -= 1
        start = (page - 1) * size
        stop = min(start + size, total)
        return start, max(start, stop), stop < total

    def offset_window(self, offset: int, total: int, size: int) -> tuple[int, int, int]:
        """Return (start, stop, reported_total) for an offset request, with the empty-page fault
        (the phantom page counts in the total so clients that stop on totals read on)."""
        page = offset // size + 1
        start, stop, _ = self.page_window(page, total, size)
        k = self.empty_page_at
        phantom = k is not None and 0 < k <= -(-total // size)
        return start, stop, total + (size if phantom else 0)

    # -- dispatch --------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        req = Req(
            method,
            parts.path,
            {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            {k.lower(): v for k, v in handler.headers.items()},
            {k: v[0] for k, v in parse_qs(body).items()} if body else {},
            parts.query,
        )
        resp = self.token(req) or self._data(req)
        self._write(handler, resp)

    def _data(self, req: Req) -> Resp:
        if not self.authorized(req):
            return self._log(
                req, Resp(401, {"error": {"code": "unauthorized", "message": "bad credentials"}})
            )
        with self._lock:
            self.data_requests += 1
            n = self.data_requests
        fault = next((f for f in self.faults if f.on_request <= n < f.on_request + f.times), None)
        if fault is not None:
            return self._log(req, self._fault(fault, req))
        return self._log(req, self.route(req))

    def _fault(self, fault: Fault, req: Req) -> Resp:
        kind = fault.kind
        if kind == "429":
            body = {"error": {"code": "TooManyRequests", "message": "slow down"}}
            return Resp(429, body, {"Retry-After": fault.retry_after})
        if kind == "500":
            return Resp(500, {"error": {"code": "InternalError", "message": "boom"}})
        if kind == "timeout":
            time.sleep(fault.delay)
            return self.route(req)
        if kind == "malformed":
            return Resp(200, raw=b'{"data": [{"id": 1, "na')
        if kind == "html":
            return Resp(
                200,
                raw=b"<html><body>Not found</body></html>",
                headers={"Content-Type": "text/html"},
            )
        if kind == "expired_token":
            self.tokens.clear()  # every issued token expired
            return Resp(
                401, {"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}
            )
        raise ValueError(f"unknown fault {kind!r}")

    def record_ids(self, req: Req, resp: Resp) -> list[Any]:
        """The ids of the records a data answer served (what `served_ids` reports)."""
        return [r.get(self.id_field) for r in _records_of(resp.body)]

    def _log(self, req: Req, resp: Resp) -> Resp:
        ids = []
        if resp.status == 200 and resp.raw is None:
            ids = self.record_ids(req, resp)
        with self._lock:
            self.log.append(Seen(req.path, req.query, resp.status, ids))
        return resp

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, resp: Resp) -> None:
        data = resp.raw if resp.raw is not None else json.dumps(resp.body).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", **resp.headers}
        handler.send_response(resp.status)
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _records_of(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [r for r in body if isinstance(r, dict)]
    if isinstance(body, dict):
        for key in ("data", "value", "list", "responses"):
            if isinstance(body.get(key), list):
                return [r for r in body[key] if isinstance(r, dict)]
    return []
