"""Imitation FourVenues Integrations API (api-reference §8a and its corrections): `X-Api-Key`,
envelope `{"success": true, "data": [...]}`, `limit`/`offset` (a short page ends), events listed
by `GET /events/`, tickets only per event (a call without `event_id` is rejected, as the docs
describe tickets "given an event"), and the (unconfirmed) filter `date_field=updated_at` with
`start_date`/`end_date` (tickets carry epoch milliseconds, bookings ISO-8601)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.apis.base import FakeApi, Req, Resp


def _instant(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class FourVenuesApi(FakeApi):
    """One FourVenues organisation."""

    system = "fourvenues"
    id_field = "_id"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.data: dict[str, list[dict[str, Any]]] = {"tickets": [], "bookings": [], "events": []}

    def authorized(self, req: Req) -> bool:
        return req.headers.get("x-api-key") == self.api_key

    def route(self, req: Req) -> Resp:
        name = req.path.strip("/")
        if name not in self.data:
            return Resp(404, {"success": False, "error": "not found"})
        q, items = req.query, self.data[name]
        if name == "tickets" and not q.get("event_id"):
            return Resp(400, {"success": False, "error": "event_id is required"})
        if "event_id" in q:
            items = [r for r in items if r.get("event_id") == q["event_id"]]
        if q.get("date_field") == "updated_at":
            if "start_date" in q:
                items = [r for r in items if _instant(r["updated_at"]) >= _instant(q["start_date"])]
            if "end_date" in q:
                items = [r for r in items if _instant(r["updated_at"]) < _instant(q["end_date"])]
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        start, stop, _ = self.offset_window(offset, len(items), limit)
        return Resp(200, {"success": True, "data": items[start:stop]})

    def record_ids(self, req: Req, resp: Resp) -> list[Any]:
        """Tickets and bookings served (the events looked up to list tickets do not count)."""
        return [] if req.path.strip("/") == "events" else super().record_ids(req, resp)

    def make(self, i: int, updated: datetime) -> dict[str, Any]:
        """One ticket (updated_at in epoch ms, as one recipe shows)."""
        return {
            "_id": f"tk{i:08d}",
            "event_id": f"ev{i % 4}",
            "channel_id": "ch1",
            "code": f"C{i:06d}",
            "status": "activated",
            "name": f"Guest {i}",
            "rate_name": "General Access",
            "price": 10,
            "total_fees": 1.2,
            "total_paid": 13.2,
            "refunded": 0,
            "sale_type": "online",
            "updated_at": int(updated.timestamp() * 1000),
        }

    def seed(self, n: int, now: datetime, events: int = 4) -> None:
        """Tickets last updated 2-40 days ago, spread over `events` events."""
        self.data["tickets"] = [self.make(i, now - timedelta(days=2 + i % 38)) for i in range(n)]
        self.data["events"] = [
            {
                "_id": f"ev{e}",
                "name": f"Saturday Night {e}",
                "date": int(now.timestamp()) - e * 7 * 86400,
                "start": int(now.timestamp()) - e * 7 * 86400 + 79200,
            }
            for e in range(events)
        ]

    def touch(self, ids: list[Any], now: datetime, **changes: Any) -> None:
        """Modify tickets now."""
        for r in self.data["tickets"]:
            if r["_id"] in ids:
                r.update(changes, updated_at=int(now.timestamp() * 1000))

    def add(self, n: int, now: datetime) -> list[Any]:
        """New tickets."""
        base = len(self.data["tickets"])
        new = [self.make(base + i, now) for i in range(n)]
        self.data["tickets"].extend(new)
        return [r["_id"] for r in new]
