"""Paging styles. A style turns the first request into pages: it reads the records out of a
response body and says which request (if any) comes next.

An empty page is not the end unless the style's own end signal says so (`has_more`, a total, a
missing next link, or an empty page for sources whose only end signal it is): some sources
return empty pages in the middle of a listing.

Where no public source pins a response's shape down, a style can be `flexible`: it accepts a
bare JSON array or an object holding exactly one array (the envelope's name does not matter),
and fails loudly on anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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


def _records(body: Any, key: str | None, where: str, flexible: bool = False) -> list[Record]:
    if flexible:
        items = _one_list(body, where)
    else:
        items = body if key is None else (body.get(key) if isinstance(body, dict) else None)
    if not isinstance(items, list):
        shape = f"a list under {key!r}" if key else "a JSON array"
        raise UnexpectedResponseError(f"{where}: expected {shape}, got {type(items).__name__}")
    bad = next((i for i, r in enumerate(items) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UnexpectedResponseError(f"{where}: item {bad} of the page is not a JSON object")
    return items


def _one_list(body: Any, where: str) -> Any:
    """A bare array, or the one array inside an object (any envelope name)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        lists = [k for k, v in body.items() if isinstance(v, list)]
        if len(lists) == 1:
            return body[lists[0]]
        found = ", ".join(sorted(body)[:10]) or "no keys"
        raise UnexpectedResponseError(
            f"{where}: expected a JSON array or an object holding one array; got an object "
            f"with {len(lists)} arrays (keys: {found})"
        )
    raise UnexpectedResponseError(
        f"{where}: expected a JSON array or an object holding one array, got {type(body).__name__}"
    )


class Paging:
    """Base style: a single response, no paging."""

    records_key: str | None = None
    flexible: bool = False

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the first request of a listing."""
        return Request(url, dict(params))

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read one response; return its records and the next request."""
        return Page(self.records(body, request), None)

    def records(self, body: Any, request: Request) -> list[Record]:
        """Read the records of one response."""
        return _records(body, self.records_key, _where(request), self.flexible)


def _where(request: Request) -> str:
    parts = urlsplit(request.url)
    return f"{parts.netloc}{parts.path}"


@dataclass(frozen=True)
class Single(Paging):
    """One response holds everything (ReviewPro indexes, Holded reference data)."""

    records_key: str | None = None
    flexible: bool = False


@dataclass(frozen=True)
class PageNumber(Paging):
    """`?page=N` (1-based). Ends on `has_more: false` when the envelope has it; otherwise on an
    empty page, or also on a page shorter than the page size when `short_page_ends` (only where
    the source promises full pages: Holded does not, so it reads until an empty page)."""

    records_key: str | None = "data"
    page_param: str = "page"
    size_param: str | None = "page_size"
    has_more_key: str | None = "has_more"
    short_page_ends: bool = True
    flexible: bool = False

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the request for page 1."""
        extra = {self.size_param: page_size} if self.size_param else {}
        return Request(url, {**params, **extra, self.page_param: 1})

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read a page; ask for the next one while the source says there is more."""
        records = self.records(body, request)
        if self.has_more_key and isinstance(body, dict) and self.has_more_key in body:
            more = bool(body[self.has_more_key])
        elif self.short_page_ends:
            more = len(records) >= page_size
        else:
            more = bool(records)
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
    flexible: bool = False

    def first(self, url: str, params: Mapping[str, Any], page_size: int) -> Request:
        """Return the request at offset 0."""
        extra = {self.limit_param: self._step(page_size)} if self.limit_param else {}
        return Request(url, {**params, **extra, self.offset_param: 0})

    def _step(self, page_size: int) -> int:
        return self.fixed_step or page_size

    def parse(self, request: Request, body: Any, page_size: int) -> Page:
        """Read a page; the next offset advances by the requested step."""
        records = self.records(body, request)
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
        records = self.records(body, request)
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
        records = self.records(body, request)
        token = body.get(self.token_key) if isinstance(body, dict) else None
        if not token:
            return Page(records, None)
        return Page(records, Request(request.url, {**request.params, self.token_param: token}))


class Progress:
    """Stop a listing that goes round in circles: a next request already made, or a page equal
    to the one before (a source that ignores its paging parameters)."""

    def __init__(self, system: str) -> None:
        self.system = system
        self.seen: set[tuple[str, str]] = set()
        self.last: str | None = None

    def check(self, request: Request, page: Page) -> None:
        """Check one page and the request that fetched it."""
        mark = None
        if page.records:
            first, last = page.records[0], page.records[-1]
            mark = json.dumps([first, last, len(page.records)], default=str, sort_keys=True)
            if mark == self.last:
                raise UnexpectedResponseError(
                    f"{self.system}: {_where(request)} sent the same page twice in a "
                    "row: the source ignores its paging parameters"
                )
        self.last = mark
        if page.next is not None:
            nxt = page.next
            key = (nxt.url, json.dumps(sorted(nxt.params.items(), key=str), default=str))
            if key in self.seen:
                raise UnexpectedResponseError(
                    f"{self.system}: {_where(nxt)} sent a page it had already sent"
                )
            self.seen.add(key)
