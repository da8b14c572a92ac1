"""Imitation ReviewPro Connect API (api-reference §7): `api_key` + `sig` (sha256 of key, secret
and Unix seconds, ±300 s) in the query; `fd`/`td` windows; survey responses page by `offset` in
steps of 100 up to `total`; review summaries by `st`/`rw`; lodgings and the daily index unpaged.
No public source shows the list shapes: `shape` wraps them (a bare array by default; tests try
envelopes too)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from tests.fakes.apis.base import FakeApi, Req, Resp


class ReviewProApi(FakeApi):
    """One ReviewPro application with its lodgings."""

    system = "reviewpro"

    def __init__(self, key: str, secret: str, pids: tuple[int, ...] = (12345,)) -> None:
        super().__init__()
        self.key, self.secret, self.pids = key, secret, pids
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.reviews: list[dict[str, Any]] = []
        self.shape: Callable[[list[dict[str, Any]]], Any] = lambda rows: rows

    def authorized(self, req: Req) -> bool:
        if req.query.get("api_key") != self.key:
            return False
        now = int(time.time())
        return any(
            req.query.get("sig")
            == hashlib.sha256(f"{self.key}{self.secret}{t}".encode()).hexdigest()
            for t in range(now - 300, now + 301)
        )

    def route(self, req: Req) -> Resp:
        q = req.query
        if req.path == "/v1/account/lodgings":
            lodgings = [{"pid": p, "name": f"Hotel {p}", "productType": "HOTEL"} for p in self.pids]
            return Resp(200, self.shape(lodgings))
        if req.path.startswith("/v3/surveys/") and req.path.endswith("/responses"):
            return self._responses(req.path.split("/")[3], q)
        if req.path == "/v1/lodging/review/summaries":
            items = self._window(
                [r for r in self.reviews if r["pid"] == int(q["pid"])], q, "publishedDate"
            )
            st, rw = int(q.get("st", 0)), int(q.get("rw", 10))
            start, stop, _ = self.offset_window(st, len(items), rw)
            return Resp(200, self.shape(items[start:stop]))
        if req.path == "/v1/lodging/index/daily":
            lo, hi = date.fromisoformat(q["fd"]), date.fromisoformat(q["td"])
            days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
            rows = [
                {"pid": int(q["pid"]), "date": d.isoformat(), "gri": 80 + d.day % 10} for d in days
            ]
            return Resp(200, self.shape(rows))
        return Resp(404, {"error": "unknown endpoint"})

    @staticmethod
    def _window(items: list[dict[str, Any]], q: dict[str, str], field: str) -> list[dict[str, Any]]:
        if "fd" not in q or "td" not in q:
            return items
        return [r for r in items if q["fd"] <= r[field][:10] <= q["td"]]

    def _responses(self, survey: str, q: dict[str, str]) -> Resp:
        items = self._window(
            [r for r in self.responses.get(survey, []) if r["productId"] == int(q["pid"])], q, "day"
        )
        offset = int(q.get("offset", 0))
        start, stop, total = self.offset_window(offset, len(items), 100)
        shown = [{k: v for k, v in r.items() if k != "day"} for r in items[start:stop]]
        return Resp(200, {"total": total, "responses": shown})

    def make(self, i: int, day: date, pid: int) -> dict[str, Any]:
        """One survey response (the `day` key is the fake's index, not served)."""
        return {
            "id": f"r-{i:06d}",
            "productId": pid,
            "date": int(time.mktime(day.timetuple())) * 1000,
            "day": day.isoformat(),
            "customScore": {"value": 8.6},
            "answers": [{"label": "Satisfacción global", "answer": "9"}],
        }

    def seed(self, survey: str, n: int, today: date) -> None:
        """Half the responses 100-300 days old, half in the last 10 days."""
        self.responses[survey] = [
            self.make(i, today - timedelta(days=(100 + i % 200) if i % 2 else i % 10), self.pids[0])
            for i in range(n)
        ]

    def touch(self, survey: str, ids: list[Any], **changes: Any) -> None:
        """Change responses in place."""
        for r in self.responses[survey]:
            if r["id"] in ids:
                r.update(changes)

    def add(self, survey: str, n: int, today: date) -> list[Any]:
        """New responses dated today."""
        base = len(self.responses[survey])
        new = [self.make(base + i, today, self.pids[0]) for i in range(n)]
        self.responses[survey].extend(new)
        return [r["id"] for r in new]
