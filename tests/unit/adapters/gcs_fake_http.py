"""A fake HTTP transport for google-cloud-storage: the real client, retry policy and error
mapping run; only the wire is scripted (429/503/412 that the emulator cannot produce)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

Reply = tuple[int, Any]
Handler = Callable[[str, str, bytes | None], Reply]

# The library's own policy, with short sleeps so tests stay fast.
# Short waits between tries; a generous overall deadline, which only a test that never succeeds
# reaches (a loaded machine must not turn a success after two retries into a give-up).
FAST_RETRY: Retry = DEFAULT_RETRY.with_delay(initial=0.001, maximum=0.005).with_timeout(30.0)


def error(code: int, message: str = "scripted") -> Reply:
    """A JSON API error body."""
    return code, {"error": {"code": code, "message": message}}


@dataclass
class FakeHttp:
    """Stands in for the client's authorized session; `handler` answers each request."""

    handler: Handler
    calls: list[tuple[str, str]] = field(default_factory=list)
    is_mtls: bool = False

    def request(
        self, method: str, url: str, data: Any = None, headers: Any = None, **_kw: Any
    ) -> requests.Response:
        """Answer one request with the handler's (status, body)."""
        self.calls.append((method, url))
        body = data if isinstance(data, bytes) else None
        status, payload = self.handler(method, url, body)
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response = requests.Response()
        response.status_code = status
        response._content = content
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(content), headers={}, status=status, preload_content=False
        )
        response.headers["content-type"] = "application/json"
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response

    def count(self, method: str, fragment: str) -> int:
        """How many requests of `method` had `fragment` in their URL."""
        return sum(1 for m, u in self.calls if m == method and fragment in u)


def client(http: FakeHttp) -> storage.Client:
    """A real storage client on the fake transport."""
    return storage.Client(project="proj-test", credentials=AnonymousCredentials(), _http=http)


def object_resource(
    name: str, bucket: str = "runs", metadata: dict[str, str] | None = None
) -> Reply:
    """A successful object resource reply."""
    body: dict[str, Any] = {"name": name, "bucket": bucket, "generation": "1"}
    if metadata is not None:
        body["metadata"] = metadata
    return 200, body


def bucket_reply(url: str) -> Reply | None:
    """The bucket GET the library sometimes issues before an upload retry."""
    path = url.split("?")[0]
    if "/o/" not in path and "/o?" not in url and path.rstrip("/").split("/")[-2] == "b":
        return 200, {"name": path.rstrip("/").split("/")[-1]}
    return None


def upload_metadata(body: bytes | None) -> dict[str, str]:
    """The custom metadata sent in a multipart upload body."""
    assert body is not None
    for part in body.split(b"\r\n"):
        if part.startswith(b"{"):
            return dict(json.loads(part).get("metadata") or {})
    raise AssertionError("no JSON part in the upload")


@dataclass
class FakeGcs:
    """A tiny Cloud Storage JSON API over a dict, honouring `ifGenerationMatch=0`.

    `failures[op]` replies are served first, in order (op: upload, download, get, list, delete);
    `lost_upload` makes the next upload store the object and still answer 503 (a lost response).
    """

    objects: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    failures: dict[str, list[Reply]] = field(default_factory=dict)
    lost_upload: bool = False

    def __call__(self, method: str, url: str, body: bytes | None) -> Reply:
        """Answer one request."""
        from urllib.parse import parse_qs, unquote, urlsplit

        parts = urlsplit(url)
        query = parse_qs(parts.query)
        path = unquote(parts.path)
        op = self._op(method, path, query)
        if op is None:
            return bucket_reply(url) or error(500, f"unexpected {method} {url}")
        if self.failures.get(op):
            return self.failures[op].pop(0)
        name = path.split("/o/", 1)[1] if "/o/" in path else ""
        return getattr(self, f"_{op}")(name, query, body)

    @staticmethod
    def _op(method: str, path: str, query: dict[str, list[str]]) -> str | None:
        if method == "POST" and path.startswith("/upload/"):
            return "upload"
        if method == "GET" and path.startswith("/download/"):
            return "download"
        if method == "GET" and path.endswith("/o"):
            return "list"
        if method == "GET" and "/o/" in path:
            return "get"
        if method == "DELETE" and "/o/" in path:
            return "delete"
        return None

    def _upload(self, _name: str, query: dict[str, list[str]], body: bytes | None) -> Reply:
        assert body is not None
        meta_part = next(p for p in body.split(b"\r\n") if p.startswith(b"{"))
        resource = json.loads(meta_part)
        name = resource["name"]
        data = body.split(b"\r\n\r\n")[-1].rsplit(b"\r\n--", 1)[0]
        if query.get("ifGenerationMatch") == ["0"] and name in self.objects:
            return error(412, "conditionNotMet")
        self.objects[name] = (data, dict(resource.get("metadata") or {}))
        if self.lost_upload:
            self.lost_upload = False
            return error(503, "response lost")
        return object_resource(name, metadata=resource.get("metadata"))

    def _download(self, name: str, _q: dict[str, list[str]], _b: bytes | None) -> Reply:
        if name not in self.objects:
            return error(404, "No such object")
        return 200, self.objects[name][0]

    def _get(self, name: str, _q: dict[str, list[str]], _b: bytes | None) -> Reply:
        if name not in self.objects:
            return error(404, "No such object")
        return object_resource(name, metadata=self.objects[name][1])

    def _list(self, _n: str, query: dict[str, list[str]], _b: bytes | None) -> Reply:
        prefix = query.get("prefix", [""])[0]
        names = sorted(n for n in self.objects if n.startswith(prefix))
        start = int(query.get("pageToken", ["0"])[0])
        page = names[start : start + 2]  # tiny pages: exercise pagination
        body: dict[str, Any] = {"items": [object_resource(n)[1] for n in page]}
        if start + 2 < len(names):
            body["nextPageToken"] = str(start + 2)
        return 200, body

    def _delete(self, name: str, _q: dict[str, list[str]], _b: bytes | None) -> Reply:
        if self.objects.pop(name, None) is None:
            return error(404, "No such object")
        return 204, b""
