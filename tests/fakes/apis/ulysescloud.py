"""Imitation Ulyses Cloud PMS (api-reference §8b): HTTP basic, `GET
/api/v1/chain/{c}/property/{p}/{invoice|roomstay|revenue|payment}?from&to&offset&limit&sort`,
envelope `{"count","offset","limit","list"}` filtered on the business date (inclusive)."""

from __future__ import annotations

import base64
import re
from datetime import date, timedelta
from typing import Any

from tests.fakes.apis.base import FakeApi, Req, Resp

DATE_FIELD = {
    "invoice": "invoiceDate",
    "roomstay": "arrivalDate",
    "revenue": "date",
    "payment": "date",
}


class UlysesApi(FakeApi):
    """One Ulyses chain/property."""

    system = "ulysescloud"

    def __init__(self, user: str, password: str, chain: int = 1, prop: int = 2) -> None:
        super().__init__()
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.prefix = f"/api/v1/chain/{chain}/property/{prop}/"
        self.data: dict[str, list[dict[str, Any]]] = {k: [] for k in DATE_FIELD}

    def authorized(self, req: Req) -> bool:
        return req.headers.get("authorization") == self.basic

    def route(self, req: Req) -> Resp:
        op = req.path.removeprefix(self.prefix)
        if not req.path.startswith(self.prefix) or op not in DATE_FIELD:
            return Resp(404, {"message": f"unknown operation {req.path}"})
        q, field = req.query, DATE_FIELD[op]
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", q.get("from", "")):
            return Resp(400, {"message": "from is required (yyyy-MM-dd)"})
        items = [r for r in self.data[op] if q["from"] <= r[field] <= q.get("to", "9999")]
        items.sort(key=lambda r: (r.get("id") is None, r.get("id") or 0))
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 10))
        start, stop, total = self.offset_window(offset, len(items), limit)
        return Resp(
            200, {"count": total, "offset": offset, "limit": limit, "list": items[start:stop]}
        )

    def make(self, op: str, i: int, day: date) -> dict[str, Any]:
        """One record of an operation."""
        if op == "roomstay":
            return {
                "id": i,
                "reservationId": 50_000 + i,
                "locator": f"UL{i:06d}",
                "status": "CheckedOut",
                "arrivalDate": day.isoformat(),
                "departureDate": (day + timedelta(days=2)).isoformat(),
                "roomTypeCode": ["DBL", "SGL"][i % 2],
                "roomNumber": str(100 + i % 50),
                "ratePlanCode": "BAR",
                "boardCode": "BB",
                "channelCode": "BOOKING",
                "adults": 2,
                "children": 0,
                "totalAmount": 180.0 + i % 40,
                "currency": "EUR",
                "customer": {"id": 172 + i, "name": f"Guest {i}", "countryCode": "ES"},
            }
        if op == "invoice":
            return {
                "id": i,
                "invoiceSerie": "A25",
                "invoiceNumber": 1_000_000 + i,
                "invoiceDate": day.isoformat(),
                "company": None,
                "customer": {"id": 172, "name": "Marta Vidal"},
                "travelAgent": None,
                "holderName": "Marta Vidal",
                "taxId": "12345678Z",
                "remark": "",
            }
        return {
            "id": i,
            "date": day.isoformat(),
            "productCode": "ROOM",
            "amount": 10.0 + i,
            "method": "card",
        }

    def seed(self, op: str, n: int, today: date) -> None:
        """Half the records dated 100-300 days ago, half in the last 10 days."""
        self.data[op] = [
            self.make(op, i, today - timedelta(days=(100 + i % 200) if i % 2 else i % 10))
            for i in range(n)
        ]

    def touch(self, op: str, ids: list[Any], **changes: Any) -> None:
        """Change records in place (their dates stay)."""
        for r in self.data[op]:
            if r["id"] in ids:
                r.update(changes)

    def add(self, op: str, n: int, today: date) -> list[Any]:
        """New records dated today."""
        base = max((r["id"] for r in self.data[op]), default=0) + 1
        new = [self.make(op, base + i, today) for i in range(n)]
        self.data[op].extend(new)
        return [r["id"] for r in new]
