"""Paging styles. A style turns the first request into pages: it reads the records out of a
response body and says which request (if any) comes next.

An empty page is not the end unless the style's own end signal says so (`has_more`, a total, a
missing next link): some sources return empty pages in the middle of a listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mhi.connectors.errors import UnexpectedResponseError

Record = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """One GET: absolute URL plus query parameters (auth is added by the client)."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """What one response holds: records, the next request, and an end-of-listing cursor."""

    records: list[Record]
    next: Request | None
    cursor: str | None = None


def _records(body: Any, key: str | None, where: str) -> list[Record]:
    items = body if key is None else (body.get(key) if isinstance(body, dict) else None)
    if not isinstance(items, list):
        shape = f"a list under {key!r}" if key else "a JSON array"
        raise UnexpectedResponseError(f"{where}: expected {shape}, got {type(items).__name__}")
    bad = next((i for i, r in enumerate(items) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UnexpectedResponseError(f"{where}: item {bad} of the page is not a JSON object")
    return items


class Paging:
    """Base style: a single response, no paging."""

    records_key: str | None = None

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the first request of a listing."""
        return Request(url, dict(params))

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read one response; return its records and the next request."""
        return Page(_records(body, self.records_key, request.url), None)


@dataclass(frozen=True)
class Single(Paging):
    """One response holds everything (ReviewPro indexes, Holded reference data)."""

    records_key: str | None = None


@dataclass(frozen=True)
class PageNumber(Paging):
    """`?page=N` (1-based). Ends on `has_more: false` when the envelope has it, otherwise on an
    empty page or one shorter than the page size (Holded's bare arrays)."""

    records_key: str | None = "data"
    page_param: str = "page"
    size_param: str | None = "page_size"
    has_more_key: str | None = "has_more"

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the request for page 1."""
        extra = {self.size_param: page_size} if self.size_param else {}
        return Request(url, {**params, **extra, self.page_param: 1})

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read a page; ask for the next one while the source says there is more."""
        records = _records(body, self.records_key, request.url)
        if self.has_more_key and isinstance(body, dict) and self.has_more_key in body:
            more = bool(body[self.has_more_key])
        else:
            more = len(records) >= page_size
        if not more:
            return Page(records, None)
        page = int(request.params[self.page_param]) + 1
        return Page(records, Request(request.url, {**request.params, self.page_param: page}))


@dataclass(frozen=True)
class OffsetLimit(Paging):
    """`offset` + `limit`. Ends when offset passes the reported total (`count`, `total`), or,
    without a total, on a page shorter than the limit. `limit_param=None`: a fixed step."""

    records_key: str | None = "data"
    offset_param: str = "offset"
    limit_param: str | None = "limit"
    total_key: str | None = None
    fixed_step: int | None = None

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the request at offset 0."""
        extra = {self.limit_param: self._step(page_size)} if self.limit_param else {}
        return Request(url, {**params, **extra, self.offset_param: 0})

    def _step(self, page_size: int) -> int:
        return self.fixed_step or page_size

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read a page; the next offset advances by the requested step."""
        records = _records(body, self.records_key, request.url)
        step = self._step(page_size)
        offset = int(request.params[self.offset_param]) + step
        total = body.get(self.total_key) if self.total_key and isinstance(body, dict) else None
        more = offset < int(total) if isinstance(total, int) else len(records) >= step
        nxt = Request(request.url, {**request.params, self.offset_param: offset}) if more else None
        return Page(records, nxt)


@dataclass(frozen=True)
class NextLink(Paging):
    """Server-driven links (`@odata.nextLink`); a final `@odata.deltaLink` is the cursor to
    resume from next time (Microsoft Graph delta)."""

    records_key: str | None = "value"
    next_key: str = "@odata.nextLink"
    cursor_key: str | None = "@odata.deltaLink"

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read a page; the next request is the link as given (it carries its own query)."""
        records = _records(body, self.records_key, request.url)
        link = body.get(self.next_key) if isinstance(body, dict) else None
        cursor = body.get(self.cursor_key) if self.cursor_key and isinstance(body, dict) else None
        nxt = Request(str(link), {}, request.headers) if link else None
        return Page(records, nxt, str(cursor) if cursor else None)


@dataclass(frozen=True)
class CursorToken(Paging):
    """An opaque token in the body (`next_cursor`) passed back as a query parameter."""

    records_key: str | None = "data"
    token_key: str = "next_cursor"
    token_param: str = "cursor"
    size_param: str | None = "limit"

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the first request (no cursor)."""
        extra = {self.size_param: page_size} if self.size_param else {}
        return Request(url, {**params, **extra})

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read a page; continue while the body carries a token."""
        records = _records(body, self.records_key, request.url)
        token = body.get(self.token_key) if isinstance(body, dict) else None
        if not token:
            return Page(records, None)
        return Page(records, Request(request.url, {**request.params, self.token_param: token}))
