"""Imitation of the generic ASSUMPTION contract (Avalon, Axional, Madisa; api-reference §8c):
`GET /{resource}?updated_from&updated_to&page&page_size`, envelope `{"data","page","page_size",
"total","has_more"}`, `X-Api-Key` or an OAuth2 bearer from `POST /oauth/token`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.apis.base import FakeApi, Req, Resp


def iso(value: datetime) -> str:
    """Format like the contract: ISO-8601 UTC with Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(value: str) -> datetime:
    """Read an ISO-8601 timestamp."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class GenericApi(FakeApi):
    """One installation of a generic-contract system."""

    def __init__(self, system: str, api_key: str, client: tuple[str, str] = ("", "")) -> None:
        super().__init__()
        self.system, self.api_key, self.client = system, api_key, client
        self.data: dict[str, list[dict[str, Any]]] = {}

    def token(self, req: Req) -> Resp | None:
        if req.path != "/oauth/token":
            return None
        ok = (
            req.form.get("grant_type") == "client_credentials"
            and (
                req.form.get("client_id"),
                req.form.get("client_secret"),
            )
            == self.client
            and all(self.client)
        )
        if not ok:
            return Resp(401, {"error": {"code": "invalid_client", "message": "unknown client"}})
        return Resp(
            200, {"access_token": self.new_token(), "token_type": "Bearer", "expires_in": 3600}
        )

    def authorized(self, req: Req) -> bool:
        return req.headers.get("x-api-key") == self.api_key or self.bearer_ok(req)

    def route(self, req: Req) -> Resp:
        resource = req.path.strip("/")
        if resource not in self.data:
            return Resp(404, {"error": {"code": "not_found", "message": f"no resource {resource}"}})
        q = req.query
        items = self.data[resource]
        if "updated_from" in q:
            since = parse(q["updated_from"])
            items = [r for r in items if parse(r["updated_at"]) >= since]
        if "updated_to" in q:
            until = parse(q["updated_to"])
            items = [r for r in items if parse(r["updated_at"]) < until]
        page, size = int(q.get("page", 1)), int(q.get("page_size", 500))
        start, stop, more = self.page_window(page, len(items), size)
        body = {
            "data": items[start:stop],
            "page": page,
            "page_size": size,
            "total": len(items),
            "has_more": more,
        }
        return Resp(200, body)

    # -- data ------------------------------------------------------------------------------
    def seed(self, resource: str, n: int, now: datetime) -> None:
        """Create `n` records last modified 2-40 days ago."""
        self.data[resource] = [
            self.make(resource, i, now - timedelta(days=2 + i % 38)) for i in range(n)
        ]

    def make(self, resource: str, i: int, updated: datetime) -> dict[str, Any]:
        """One record of a resource (reservations get the PMS shape)."""
        if resource == "reservations":
            arrival = (updated + timedelta(days=i % 60)).date()
            return {
                "id": f"R{i:07d}",
                "localizador": f"LOC{i:06d}",
                "hotel_id": f"H{i % 3 + 1}",
                "arrival": arrival.isoformat(),
                "departure": (arrival + timedelta(days=1 + i % 5)).isoformat(),
                "status": "confirmed",
                "room_type": ["DBL", "TWN", "SUI"][i % 3],
                "rate_code": "BAR",
                "board": ["RO", "BB", "HB"][i % 3],
                "channel": "direct",
                "adults": 2,
                "children": i % 2,
                "total_amount": round(90.5 + i % 200, 2),
                "currency": "EUR",
                "guest": {"name": f"Guest {i}", "country": "ES"},
                "created_at": iso(updated - timedelta(days=10)),
                "updated_at": iso(updated),
            }
        if resource == "journal_entries":
            return {
                "id": f"JE{i:07d}",
                "account": f"70{i % 9}000",
                "cost_centre": f"CC{i % 4}",
                "posting_date": updated.date().isoformat(),
                "debit": round(i * 1.5, 2),
                "credit": 0.0,
                "description": f"entry {i}",
                "status": "posted",
                "updated_at": iso(updated),
            }
        if resource == "tickets":
            return {
                "id": f"T-{i:06d}",
                "outlet_id": f"REST-0{i % 3 + 1}",
                "terminal_id": "TPV2",
                "opened_at": iso(updated - timedelta(hours=1)),
                "closed_at": iso(updated),
                "covers": 1 + i % 6,
                "total": round(20 + i % 90 + 0.4, 2),
                "tax": 2.1,
                "currency": "EUR",
                "status": "closed",
                "updated_at": iso(updated),
                "deleted": False,
            }
        if resource in ("invoices_issued", "invoices_received"):
            return self.make_invoice(resource, i, updated)
        return {
            "id": f"{resource[:3].upper()}{i:07d}",
            "name": f"{resource} {i}",
            "status": "open",
            "amount": i * 1.5,
            "updated_at": iso(updated),
        }

    def make_invoice(self, resource: str, i: int, updated: datetime) -> dict[str, Any]:
        """A sales (issued) or supplier (received) invoice, ASSUMPTION shape: number, issue
        date, counterparty, cost centre, tax base, tax (10 % or 21 % VAT), total."""
        issued = resource == "invoices_issued"
        base = round(100.0 + 12.5 * i, 2)
        tax = round(base * (0.10 if i % 2 else 0.21), 2)
        party = ("customer_name", ("Viajes Sol S.L.", "Eventos Mar S.A.", "Grupo Brisa"))
        if not issued:
            party = ("supplier_name", ("Makro", "Iberdrola", "Lavanderia Sol"))
        return {
            "id": f"{'FV' if issued else 'FR'}{i:07d}",
            "number": f"{'F' if issued else 'P'}-2026/{i:05d}",
            "issue_date": (updated - timedelta(days=1)).date().isoformat(),
            party[0]: party[1][i % 3],
            "cost_centre": ("ROOMS", "F&B", "EVENTS")[i % 3],
            "tax_base": base,
            "tax": tax,
            "total": round(base + tax, 2),
            "currency": "EUR",
            "status": "issued" if issued else "booked",
            "updated_at": iso(updated),
        }

    def touch(self, resource: str, ids: list[Any], now: datetime, **changes: Any) -> None:
        """Modify records now."""
        for r in self.data[resource]:
            if r["id"] in ids:
                r.update(changes, updated_at=iso(now))

    def add(self, resource: str, n: int, now: datetime) -> list[Any]:
        """Append `n` records modified now; return their ids."""
        base = len(self.data[resource])
        new = [self.make(resource, base + i, now) for i in range(n)]
        self.data[resource].extend(new)
        return [r["id"] for r in new]
