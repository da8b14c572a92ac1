"""Imitation Microsoft APIs on one server: the Entra token endpoint
(`/{tenant}/oauth2/v2.0/token`, client credentials), Business Central API v2.0 (api-reference §5:
`$filter=lastModifiedDateTime gt ...`, `@odata.nextLink`, `Prefer: odata.maxpagesize`) and Graph
SharePoint delta feeds (§6: `@odata.nextLink` then `@odata.deltaLink`, 410 on an expired token).
As Graph does, a `$filter` whose spaces arrive as `+` is rejected ("Invalid filter clause"):
spaces must be sent as `%20`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from tests.fakes.apis.base import FakeApi, Req, Resp

BC_PATH = re.compile(
    r"^/v2\.0/(?P<tenant>[^/]+)/(?P<env>[^/]+)/api/v2\.0/companies\((?P<company>[^)]+)\)/(?P<set>\w+)$"
)
GRAPH_PATH = re.compile(r"^/v1\.0/(sites/[^/]+/lists/[^/]+/items|drives/[^/]+/root)/delta$")


def iso(value: datetime) -> str:
    """OData datetime: `2025-03-02T09:14:55.473Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _plus_in_filter(raw_query: str) -> bool:
    """Whether a `$filter` (or `%24filter`) parameter carries a `+` for a space."""
    for pair in raw_query.split("&"):
        name, _, value = pair.partition("=")
        if name in ("$filter", "%24filter") and "+" in value:
            return True
    return False


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class MicrosoftApi(FakeApi):
    """Entra + Business Central + Graph for one tenant and one Entra app."""

    def __init__(self, system: str, client_id: str, client_secret: str, tenant: str = "t1") -> None:
        super().__init__()
        self.system, self.client, self.tenant = system, (client_id, client_secret), tenant
        self.bc: dict[str, list[dict[str, Any]]] = {}
        self.graph: dict[str, list[dict[str, Any]]] = {}  # feed path -> items with "_v"
        self.version = 0
        self.expired_delta: set[str] = set()
        self.link_root: str | None = None  # another root for next links (tests of host scope)

    # -- Entra -----------------------------------------------------------------------------
    def token(self, req: Req) -> Resp | None:
        if req.path != f"/{self.tenant}/oauth2/v2.0/token":
            return None
        f = req.form
        if f.get("grant_type") != "client_credentials" or not f.get("scope", "").endswith(
            "/.default"
        ):
            return Resp(400, {"error": "invalid_request", "error_description": "AADSTS900144"})
        if (f.get("client_id"), f.get("client_secret")) != self.client:
            return Resp(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
            )
        return Resp(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.new_token(),
            },
        )

    def authorized(self, req: Req) -> bool:
        return self.bearer_ok(req)

    def route(self, req: Req) -> Resp:
        if _plus_in_filter(req.raw_query):
            return Resp(
                400,
                {"error": {"code": "BadRequest", "message": "Invalid filter clause"}},
            )
        if m := BC_PATH.match(req.path):
            return self._bc(req, m.group("set"))
        if GRAPH_PATH.match(req.path):
            return self._graph(req)
        return Resp(404, {"error": {"code": "BadRequest_NotFound", "message": "no such resource"}})

    def _page_size(self, req: Req, default: int) -> int:
        m = re.search(r"odata\.maxpagesize=(\d+)", req.headers.get("prefer", ""))
        return int(m.group(1)) if m else default

    def _link(self, req: Req, **query: Any) -> str:
        params = {k: v for k, v in req.query.items() if k != "$skiptoken"} | query
        root = self.link_root or self.url
        return f"{root}{req.path}?{urlencode(params, quote_via=quote, safe='$:')}"

    # -- Business Central ------------------------------------------------------------------
    def _bc(self, req: Req, entity_set: str) -> Resp:
        items = self.bc.get(entity_set)
        if items is None:
            return Resp(404, {"error": {"code": "BadRequest_NotFound", "message": entity_set}})
        flt = req.query.get("$filter", "")
        for op, value in re.findall(r"lastModifiedDateTime (gt|lt) (\S+)", flt):
            cut = _instant(value)
            keep = (lambda t, c=cut: t > c) if op == "gt" else (lambda t, c=cut: t < c)
            items = [r for r in items if keep(_instant(r["lastModifiedDateTime"]))]
        if req.query.get("$orderby") == "lastModifiedDateTime":
            items = sorted(items, key=lambda r: (r["lastModifiedDateTime"], str(r.get("id"))))
        size = self._page_size(req, 20_000)
        offset = int(req.query.get("$skiptoken", 0))
        start, stop, total = self.offset_window(offset, len(items), size)
        body: dict[str, Any] = {
            "@odata.context": "$metadata#salesInvoices",
            "value": items[start:stop],
        }
        if offset + size < total:
            body["@odata.nextLink"] = self._link(req, **{"$skiptoken": offset + size})
        return Resp(200, body)

    def make_invoice(self, i: int, modified: datetime) -> dict[str, Any]:
        """One sales invoice."""
        return {
            "@odata.etag": f'W/"JzQ0O{i}"',
            "id": f"9e0f5c9c-44e3-ea11-bb43-{i:012d}",
            "number": f"PS-INV{103000 + i}",
            "invoiceDate": modified.date().isoformat(),
            "postingDate": modified.date().isoformat(),
            "customerNumber": "C00020",
            "customerName": "Viajes Sol S.L.",
            "currencyCode": "EUR",
            "totalAmountExcludingTax": 1200.0,
            "totalAmountIncludingTax": 1320.0,
            "status": "Open",
            "lastModifiedDateTime": iso(modified),
        }

    def seed_bc(self, n: int, now: datetime) -> None:
        """Sales invoices modified 2-40 days ago."""
        self.bc["salesInvoices"] = [
            self.make_invoice(i, now - timedelta(days=2 + i % 38)) for i in range(n)
        ]

    # -- Graph delta -----------------------------------------------------------------------
    def _graph(self, req: Req) -> Resp:
        token = req.query.get("token")
        if token in self.expired_delta:
            return Resp(410, {"error": {"code": "resyncRequired", "message": "token expired"}})
        since = int(token) if token else None
        items = [
            {k: v for k, v in r.items() if k != "_v"}
            for r in self.graph.get(req.path, [])
            if (since is None and not r.get("deleted")) or (since is not None and r["_v"] > since)
        ]
        size = self._page_size(req, 200)
        offset = int(req.query.get("$skiptoken", 0))
        start, stop, total = self.offset_window(offset, len(items), size)
        body: dict[str, Any] = {"value": items[start:stop]}
        if offset + size < total:
            body["@odata.nextLink"] = self._link(req, **{"$skiptoken": offset + size})
        else:
            token = urlencode({"token": self.version})
            body["@odata.deltaLink"] = f"{self.url}{req.path}?{token}"
        return Resp(200, body)

    def make_item(self, i: int, modified: datetime) -> dict[str, Any]:
        """One list item (columns under `fields`)."""
        return {
            "id": str(i),
            "eTag": f'"{i},1"',
            "createdDateTime": iso(modified - timedelta(days=5)),
            "lastModifiedDateTime": iso(modified),
            "webUrl": f"https://contoso/Lists/Budget/{i}_.000",
            "createdBy": {"user": {"displayName": "Ana Ruiz"}},
            "fields": {"Title": f"Hotel {i % 7} budget", "Amount": 1000.0 + i, "ID": i},
        }

    def seed_graph(self, feed: str, n: int, now: datetime) -> None:
        """List items at version 1."""
        self.version = max(self.version, 1)
        self.graph[feed] = [
            {**self.make_item(i, now - timedelta(days=2 + i % 38)), "_v": 1} for i in range(n)
        ]

    def make_file(self, i: int, modified: datetime, drive: str = "drive1") -> dict[str, Any]:
        """One document-library file as a drive delta returns it (api-reference §6: no
        `parentReference.path` in delta answers, so none here)."""
        owner = ("Ana Ruiz", "Luis Gil", "Marta Sanz")[i % 3]
        name = f"KPI report {i:03d}.xlsx" if i % 2 else f"Budget {i:03d}.pdf"
        mime = (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            if i % 2
            else "application/pdf"
        )
        return {
            "id": f"01BYE5RZ{i:06d}",
            "name": name,
            "size": 20_000 + 137 * i,
            "eTag": f'"{{{i:08d}-0000-0000-0000-000000000000}},1"',
            "cTag": f'"c:{{{i:08d}-0000-0000-0000-000000000000}},1"',
            "createdDateTime": iso(modified - timedelta(days=3)),
            "lastModifiedDateTime": iso(modified),
            "webUrl": f"https://contoso.sharepoint.com/sites/Finance/Shared%20Documents/{i}",
            "createdBy": {"user": {"displayName": owner, "email": f"u{i % 3}@contoso.com"}},
            "lastModifiedBy": {"user": {"displayName": owner}},
            "parentReference": {"driveId": drive, "driveType": "documentLibrary", "id": "01RT"},
            "file": {"mimeType": mime, "hashes": {"quickXorHash": f"h{i:06d}"}},
            "@microsoft.graph.downloadUrl": f"{self.url}/download/{i}",
        }

    def seed_files(self, n: int, now: datetime, drive: str = "drive1") -> list[dict[str, Any]]:
        """A drive at version 1: its root folder, one subfolder and `n` files modified 1-30
        days ago (a first delta round lists the root and folders too, as Graph does)."""
        self.version = max(self.version, 1)
        root = {
            "id": "01RT",
            "name": "root",
            "root": {},
            "folder": {"childCount": n + 1},
            "lastModifiedDateTime": iso(now),
            "parentReference": {"driveId": drive, "driveType": "documentLibrary"},
        }
        folder = {
            **self.make_file(n, now),
            "id": "01FOLDER",
            "name": "Reports",
            "folder": {"childCount": 0},
        }
        del folder["file"], folder["@microsoft.graph.downloadUrl"]
        files = [self.make_file(i, now - timedelta(days=1 + i % 30), drive) for i in range(n)]
        items = [root, folder, *files]
        self.graph[f"/v1.0/drives/{drive}/root/delta"] = [{**r, "_v": 1} for r in items]
        return items

    def touch_graph(self, feed: str, ids: list[Any], now: datetime, **fields: Any) -> None:
        """Change items: a new version, seen by the next delta round."""
        self.version += 1
        for r in self.graph[feed]:
            if r["id"] in ids:
                r["fields"] = {**r["fields"], **fields}
                r.update(lastModifiedDateTime=iso(now), _v=self.version)

    def add_graph(self, feed: str, n: int, now: datetime) -> list[Any]:
        """New items."""
        self.version += 1
        base = len(self.graph[feed])
        new = [{**self.make_item(base + i, now), "_v": self.version} for i in range(n)]
        self.graph[feed].extend(new)
        return [r["id"] for r in new]
