"""A tiny threaded HTTP server on 127.0.0.1 (port 0) for imitation services.

Subclasses implement `route(request) -> Reply`. Tests can queue scripted replies (429 with
Retry-After, 503, a slow answer) that are served before routing, and read every request.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the decoded JSON body."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        """Return the decoded form body, urlencoded or multipart (repeated keys kept; files
        left to `files`)."""
        if not self.is_multipart():
            return parse_qs(self.body.decode(), keep_blank_values=True)
        out: dict[str, list[str]] = {}
        for name, filename, _, data in self.parts():
            if filename is None:
                out.setdefault(name, []).append(data.decode())
        return out

    def is_multipart(self) -> bool:
        """Whether the body is `multipart/form-data`."""
        return (self.header("Content-Type") or "").startswith("multipart/form-data")

    def parts(self) -> list[tuple[str, str | None, str, bytes]]:
        """Return the parts of a `multipart/form-data` body as a server's parser reads them
        (the standard library's MIME parser): (field, filename, content type, bytes)."""
        head = f"Content-Type: {self.header('Content-Type')}\r\n\r\n".encode()
        mime = email.message_from_bytes(head + self.body, policy=email.policy.HTTP)
        out = []
        for part in mime.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(data, bytes), "a malformed part"
            out.append((name, part.get_filename(), part.get_content_type(), data))
        return out

    def header(self, name: str) -> str | None:
        """Return a header, case-insensitively."""
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


@dataclass
class Reply:
    """An answer: status, JSON-able body (or bytes/str), headers, optional delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        """Return the body bytes and content type."""
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        if self.body is None:
            return b"", "text/plain"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class _Scripted:
    reply: Reply
    times: int
    method: str | None
    path_prefix: str | None


class FakeServer:
    """Base class: start/stop, request log, scripted replies."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._script: list[_Scripted] = []
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeServer:
        """Listen on an ephemeral loopback port and serve in a thread."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        """Return `http://127.0.0.1:<port>`."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # ---- scripting -----------------------------------------------------------------------

    def queue(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Serve this reply to the next `times` matching requests, before normal routing."""
        with self._lock:
            reply = Reply(status, body, headers or {}, delay)
            self._script.append(_Scripted(reply, times, method, path_prefix))

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[Request]:
        """Return the requests seen, filtered by method and path prefix."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            ]

    def _scripted(self, request: Request) -> Reply | None:
        with self._lock:
            for item in self._script:
                if (item.method is None or item.method == request.method) and (
                    item.path_prefix is None or request.path.startswith(item.path_prefix)
                ):
                    item.times -= 1
                    if item.times <= 0:
                        self._script.remove(item)
                    return item.reply
        return None

    # ---- serving -------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Answer one request (subclasses)."""
        return Reply(404, {"message": "not found"})

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        request = Request(handler.command, parts.path, query, dict(handler.headers), body)
        with self._lock:
            self.requests.append(request)
        reply = self._scripted(request)
        if reply is None:
            with self._lock:
                reply = self.route(request)
        if reply.delay:
            time.sleep(reply.delay)
        data, content_type = reply.encoded()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass
