"""Imitation Holded invoicing API (api-reference §4 and its corrections): header `key`, bare
arrays, `?page=N` with a page size of its own choosing (250, as one public report shows; no page
size parameter exists), `starttmp`/`endtmp` (Unix seconds) on the document `date`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tests.fakes.apis.base import FakeApi, Req, Resp


class HoldedApi(FakeApi):
    """One Holded company."""

    system = "holded"

    def __init__(self, api_key: str, page_size: int = 250) -> None:
        super().__init__()
        self.api_key, self.page_size = api_key, page_size
        self.data: dict[str, list[dict[str, Any]]] = {
            "/documents/invoice": [],
            "/contacts": [],
            "/products": [],
            "/payments": [],
        }

    def authorized(self, req: Req) -> bool:
        return req.headers.get("key") == self.api_key

    def route(self, req: Req) -> Resp:
        if req.path not in self.data:
            # Holded's quirk: unknown paths answer an HTML page with status 200.
            return Resp(200, raw=b"<html>404</html>", headers={"Content-Type": "text/html"})
        q, items = req.query, self.data[req.path]
        if "starttmp" in q:
            items = [
                r for r in items if int(q["starttmp"]) <= r["date"] <= int(q.get("endtmp", 2**40))
            ]
        start, stop, _ = self.page_window(int(q.get("page", 1)), len(items), self.page_size)
        return Resp(200, items[start:stop])

    def make(self, i: int, day: date) -> dict[str, Any]:
        """One invoice dated `day` (noon UTC)."""
        stamp = int(datetime.combine(day, time(12), UTC).timestamp())
        return {
            "id": f"65a1f0c2{i:016x}",
            "contact": "5aa939a9",
            "contactName": "Viajes Sol S.L.",
            "desc": "",
            "date": stamp,
            "dueDate": stamp + 30 * 86400,
            "status": 1,
            "products": [{"name": "Habitación doble", "price": 95.0, "units": 3, "tax": 10}],
            "tax": 28.5,
            "subtotal": 285.0,
            "total": 313.5,
            "docNumber": f"F{i:06d}",
            "currency": "eur",
            "paymentsPending": 313.5,
        }

    def seed(self, n: int, today: date) -> None:
        """Half the invoices dated 100-300 days ago, half in the last 10 days."""
        self.data["/documents/invoice"] = [
            self.make(i, today - timedelta(days=(100 + i % 200) if i % 2 else i % 10))
            for i in range(n)
        ]

    def touch(self, ids: list[Any], **changes: Any) -> None:
        """Change invoices in place (payment status changes after issue)."""
        for r in self.data["/documents/invoice"]:
            if r["id"] in ids:
                r.update(changes)

    def add(self, n: int, today: date) -> list[Any]:
        """New invoices dated today."""
        base = len(self.data["/documents/invoice"])
        new = [self.make(base + i, today) for i in range(n)]
        self.data["/documents/invoice"].extend(new)
        return [r["id"] for r in new]
