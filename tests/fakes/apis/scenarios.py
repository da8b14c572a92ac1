"""One scenario per system: an imitation API seeded with records, the connector config and the
secrets that point at it, and how to change or add records. Tests parametrize over these.

The imitation servers listen on 127.0.0.1: the account's `<system>-base-url` (and, for OAuth
systems, `<system>-token-url`) secrets point the connectors at them, as an operator would, and
the tests' settings allow loopback URLs (`MHI_ALLOW_LOOPBACK_URLS`). No flow config carries a
URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.apis.base import FakeApi
from tests.fakes.apis.fourvenues import FourVenuesApi
from tests.fakes.apis.generic import GenericApi
from tests.fakes.apis.holded import HoldedApi
from tests.fakes.apis.microsoft import MicrosoftApi
from tests.fakes.apis.reviewpro import ReviewProApi
from tests.fakes.apis.ulysescloud import UlysesApi

ACCOUNT = "hotel-fergus"
SYSTEMS = (
    "avalon",
    "axional",
    "madisa",
    "ulysescloud",
    "fourvenues",
    "holded",
    "businesscentral",
    "sharepoint365",
    "reviewpro",
)
# Systems whose paging has an explicit end signal (has_more, a total, a next link). Holded ends
# on an empty page and FourVenues on a short page: an empty page in the middle reads as the end.
EXPLICIT_END = frozenset(SYSTEMS) - {"holded", "fourvenues"}
OAUTH = frozenset({"businesscentral", "sharepoint365"})
# Date-window sources re-read a trailing window; the others fetch exactly what changed.
WINDOWED = frozenset({"ulysescloud", "holded", "reviewpro"})


@dataclass
class Scenario:
    """A seeded imitation API plus what the connector needs to read it."""

    system: str
    fake: FakeApi
    dataset: str
    config: dict[str, Any]
    secrets: dict[str, str]  # credentials (the leak tests look for these values everywhere)
    ids: Callable[[], list[Any]]
    seed: Callable[[int], None]
    touch: Callable[[list[Any]], None]
    add: Callable[[int], list[Any]]
    changed: Callable[[dict[str, Any]], bool]
    records: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])
    required_field: str = ""  # a required field the tests remove from some records
    optional_field: str = ""  # a field the tests make vanish (schema change)
    source_key: str = "id"  # the natural key as the source names it
    key: str = "id"  # ... and as the warehouse column
    recent: Callable[[], list[Any]] = field(default=lambda: [])
    # the modified time of a source record, for sources filtered on one (None: delta or window)
    stamp: Callable[[dict[str, Any]], datetime] | None = None
    # where the API is: the account's `<system>-base-url` / `-token-url` secrets, as an operator
    # sets them (URLs, not credentials)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str:
        """The raw table the dataset lands in."""
        return f"raw.{self.system}_{self.dataset}"

    def step_config(self, **overrides: Any) -> dict[str, Any]:
        """The connector config (fast retries), with overrides."""
        base = {
            "_m_account": ACCOUNT,
            "datasets": [self.dataset],
            "backoff_seconds": 0.01,
            "max_attempts": 3,
            "timeout_seconds": 2,
            "requests_per_second": 10_000,
        }
        return {**base, **self.config, **overrides}


# (a required field, an optional field) of the generic datasets the scenarios read
GENERIC_FIELDS = {
    "reservations": ("hotel_id", "board"),
    "journal_entries": ("account", "description"),
    "tickets": ("outlet_id", "terminal_id"),
}


def _instant(value: Any) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _now() -> datetime:
    return datetime.now(UTC)


def _generic(system: str, resource: str) -> Scenario:
    fake = GenericApi(
        system, api_key=f"{system}-key-5ecret", client=(f"{system}-cid", f"{system}-csecret-9x")
    )
    fake.system = system
    fake.start()
    return Scenario(
        system,
        fake,
        resource,
        {},
        {
            f"{system}-api-key": fake.api_key,
            f"{system}-client-id": fake.client[0],
            f"{system}-client-secret": fake.client[1],
        },
        ids=lambda: [r["id"] for r in fake.data[resource]],
        seed=lambda n: fake.seed(resource, n, _now()),
        touch=lambda ids: fake.touch(resource, ids, _now(), status="cancelled"),
        add=lambda n: fake.add(resource, n, _now()),
        changed=lambda row: row["status"] == "cancelled",
        records=lambda: fake.data[resource],
        required_field=GENERIC_FIELDS[resource][0],
        optional_field=GENERIC_FIELDS[resource][1],
        stamp=lambda r: _instant(r["updated_at"]),
        urls={f"{system}-base-url": fake.url},
    )


def _ulyses() -> Scenario:
    fake = UlysesApi("integration", "ul-pass-5ecret").start()
    op = "roomstay"
    return Scenario(
        "ulysescloud",
        fake,
        "roomstays",
        {"chain_id": 1, "property_id": 2},
        {"ulysescloud-username": "integration", "ulysescloud-password": "ul-pass-5ecret"},
        ids=lambda: [r["id"] for r in fake.data[op]],
        seed=lambda n: fake.seed(op, n, _now().date()),
        touch=lambda ids: fake.touch(op, ids, status="Cancelled"),
        add=lambda n: fake.add(op, n, _now().date()),
        changed=lambda row: row["status"] == "Cancelled",
        recent=lambda: [r["id"] for r in fake.data[op] if r["id"] % 2 == 0],
        records=lambda: fake.data[op],
        required_field="reservationId",
        optional_field="roomNumber",
        urls={"ulysescloud-base-url": fake.url + "/api/v1"},
    )


def _fourvenues() -> Scenario:
    fake = FourVenuesApi("fv-key-5ecret").start()
    return Scenario(
        "fourvenues",
        fake,
        "tickets",
        {},
        {"fourvenues-api-key": fake.api_key},
        ids=lambda: [r["_id"] for r in fake.data["tickets"]],
        seed=lambda n: fake.seed(n, _now()),
        touch=lambda ids: fake.touch(ids, _now(), status="cancelled"),
        add=lambda n: fake.add(n, _now()),
        changed=lambda row: row["status"] == "cancelled",
        records=lambda: fake.data["tickets"],
        required_field="total_paid",
        optional_field="rate_name",
        source_key="_id",
        stamp=lambda r: _instant(r["updated_at"]),
        urls={"fourvenues-base-url": fake.url},
    )


def _holded() -> Scenario:
    fake = HoldedApi("holded-key-5ecret").start()  # 250 per page, as Holded serves
    docs = "/documents/invoice"
    return Scenario(
        "holded",
        fake,
        "invoices",
        {},
        {"holded-api-key": fake.api_key},
        ids=lambda: [r["id"] for r in fake.data[docs]],
        seed=lambda n: fake.seed(n, _now().date()),
        touch=lambda ids: fake.touch(ids, status=2),
        add=lambda n: fake.add(n, _now().date()),
        changed=lambda row: row["status"] == 2,
        recent=lambda: [r["id"] for i, r in enumerate(fake.data[docs]) if i % 2 == 0],
        records=lambda: fake.data[docs],
        required_field="docNumber",
        optional_field="desc",
        urls={"holded-base-url": fake.url},
    )


def _microsoft(system: str) -> Scenario:
    fake = MicrosoftApi(system, f"{system}-app-id", f"{system}-app-secret-5ecret").start()
    secrets = {f"{system}-client-id": fake.client[0], f"{system}-client-secret": fake.client[1]}
    urls = {f"{system}-token-url": f"{fake.url}/t1/oauth2/v2.0/token"}
    if system == "businesscentral":
        cfg = {"tenant_id": "t1", "company_id": "7c1a0000-0000-0000-0000-000000000001"}
        urls[f"{system}-base-url"] = f"{fake.url}/v2.0/t1/Production/api/v2.0"
        return Scenario(
            system,
            fake,
            "sales_invoices",
            cfg,
            secrets,
            ids=lambda: [r["id"] for r in fake.bc["salesInvoices"]],
            seed=lambda n: fake.seed_bc(n, _now()),
            touch=lambda ids: _touch_bc(fake, ids),
            add=lambda n: _add_bc(fake, n),
            changed=lambda row: row["status"] == "Paid",
            records=lambda: fake.bc["salesInvoices"],
            required_field="number",
            optional_field="customerName",
            stamp=lambda r: _instant(r["lastModifiedDateTime"]),
            urls=urls,
        )
    feed = "/v1.0/sites/site1/lists/list1/items/delta"
    cfg = {"tenant_id": "t1", "site_id": "site1", "list_id": "list1"}
    urls[f"{system}-base-url"] = f"{fake.url}/v1.0"
    return Scenario(
        system,
        fake,
        "list_items",
        cfg,
        secrets,
        ids=lambda: [r["id"] for r in fake.graph[feed]],
        seed=lambda n: fake.seed_graph(feed, n, _now()),
        touch=lambda ids: fake.touch_graph(feed, ids, _now(), Title="changed"),
        add=lambda n: fake.add_graph(feed, n, _now()),
        changed=lambda row: '"Title":"changed"' in row["fields"],
        records=lambda: fake.graph[feed],
        required_field="lastModifiedDateTime",
        optional_field="webUrl",
        urls=urls,
    )


def _touch_bc(fake: MicrosoftApi, ids: list[Any]) -> None:
    from tests.fakes.apis.microsoft import iso

    for r in fake.bc["salesInvoices"]:
        if r["id"] in ids:
            r.update(status="Paid", lastModifiedDateTime=iso(_now()))


def _add_bc(fake: MicrosoftApi, n: int) -> list[Any]:
    base = len(fake.bc["salesInvoices"])
    new = [fake.make_invoice(base + i, _now()) for i in range(n)]
    fake.bc["salesInvoices"].extend(new)
    return [r["id"] for r in new]


def _reviewpro() -> Scenario:
    fake = ReviewProApi("rp-key-5ecret", "rp-shared-5ecret").start()
    survey = "s-01"
    return Scenario(
        "reviewpro",
        fake,
        "survey_responses",
        {"pids": [12345], "survey_ids": [survey]},
        {"reviewpro-api-key": fake.key, "reviewpro-api-secret": fake.secret},
        ids=lambda: [r["id"] for r in fake.responses[survey]],
        seed=lambda n: fake.seed(survey, n, _now().date()),
        touch=lambda ids: fake.touch(survey, ids, customScore={"value": 1.5}),
        add=lambda n: fake.add(survey, n, _now().date()),
        changed=lambda row: row["customScore"] == '{"value":1.5}',
        recent=lambda: [r["id"] for i, r in enumerate(fake.responses[survey]) if i % 2 == 0],
        records=lambda: fake.responses[survey],
        required_field="customScore",
        optional_field="answers",
        urls={"reviewpro-base-url": fake.url},
    )


BUILDERS: dict[str, Callable[[], Scenario]] = {
    "avalon": lambda: _generic("avalon", "reservations"),
    "axional": lambda: _generic("axional", "journal_entries"),
    "madisa": lambda: _generic("madisa", "tickets"),
    "ulysescloud": _ulyses,
    "fourvenues": _fourvenues,
    "holded": _holded,
    "businesscentral": lambda: _microsoft("businesscentral"),
    "sharepoint365": lambda: _microsoft("sharepoint365"),
    "reviewpro": _reviewpro,
}


def build(system: str) -> Scenario:
    """Start a system's imitation API (the caller stops `scenario.fake`)."""
    return BUILDERS[system]()
