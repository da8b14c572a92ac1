"""From the imitation Madisa and Axional APIs and the bundled bookings, through extraction,
modeling and the KPI engine, to revenue by department, TRevPAR, GOP and GOPPAR: the engine's
figures equal those computed by hand from the imitation data and the room KPI table."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.analytics.labels import format_value
from mhi.catalog import load_kind
from mhi.model.messages import CallbackStatus, StepMessage
from mhi.steps.sdk import run_step
from tests.fakes.apis.scenarios import ACCOUNT, build
from tests.unit.connectors.conftest import Env

from .conftest import DATA

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")
OUTLETS = {"REST-01": "City Hotel", "REST-02": "Resort Hotel", "REST-03": "City Hotel"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    e.warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")
    yield e


def _step(env: Env, type_: str, config: dict[str, Any]) -> dict[str, Any]:
    message = StepMessage(
        run_id="r1",
        flow_id="f",
        account=ACCOUNT,
        step_id=type_,
        attempt=1,
        type=type_,
        config=config,
        callback_topic="ms-flows-callbacks",
        deadline=datetime.now(UTC) + timedelta(hours=1),
    )
    cb = run_step(message, load_kind(type_), env.services())
    assert cb.status == CallbackStatus.SUCCEEDED, cb.error
    return cb.output


def _extract(env: Env, system: str, n: int, plant: Any) -> list[dict[str, Any]]:
    sc = build(system)
    try:
        sc.seed(n)
        plant(sc.records())
        env.add_secrets(ACCOUNT, {**sc.secrets, **sc.urls})
        cb = env.run(system, sc.step_config(), run_id="r1")
        assert cb.status == "succeeded", cb.error
        return sc.records()
    finally:
        sc.fake.stop()


def _in_march_2016(records: list[dict[str, Any]]) -> None:
    for i, r in enumerate(records):
        r["closed_at"] = f"2016-03-{1 + i % 28:02d}T21:00:00Z"


def _ledger(records: list[dict[str, Any]]) -> None:
    for i, r in enumerate(records):
        r["posting_date"] = "2016-03-31"
        r["account"] = "640000" if i % 2 else "628000"  # wages, utilities
        r["cost_centre"] = "ROOMS" if i % 2 else "ADMIN"
        r["debit"], r["credit"] = 100.0 + i, 0.0


def test_usali_kpis_from_pos_ledger_and_bookings(env: Env, tmp_path: Path) -> None:
    tickets = _extract(env, "madisa", 30, _in_march_2016)
    lines = _extract(env, "axional", 10, _ledger)
    raw = pd.read_csv(DATA, keep_default_na=False, na_values=["NA"])
    part = raw[(raw["arrival_date_year"] == 2016) & (raw["arrival_date_month"] == "March")]
    path = tmp_path / "march.csv.gz"
    with gzip.open(path, "wt") as f:
        part.to_csv(f, index=False)
    _step(env, "ms-file-import", {"path": str(path), "table": "hotel_bookings"})
    rooms = {"City Hotel": 230, "Resort Hotel": 190}
    _step(env, "ms-data-modeling", {"source": "hotel_bookings", "rooms": rooms})
    _step(env, "ms-data-modeling", {"source": "madisa_tickets"})
    _step(env, "ms-data-modeling", {"source": "axional_journal_entries"})
    hotel_of = {**OUTLETS, "ROOMS": "City Hotel", "ADMIN": "City Hotel"}
    out = _step(
        env,
        "ms-kpi-engine",
        {
            "metrics": ["room_revenue", "rooms_sold", "rooms_available"],
            "grain": "month",
            "comparisons": ["last_year"],
            "charts": False,
            "usali": True,
            "hotel_of": hotel_of,
            "report": True,
        },
    )
    assert "kpi.month_usali_by_hotel" in out["tables"]
    usali = env.warehouse.read(ACCOUNT, "kpi.month_usali_by_hotel")
    room = env.warehouse.read(ACCOUNT, "kpi.month_by_hotel")
    march = pd.Timestamp("2016-03-01")
    u = usali[(usali["hotel"] == "City Hotel") & (pd.to_datetime(usali["period"]) == march)]
    r = room[(room["hotel"] == "City Hotel") & (pd.to_datetime(room["period"]) == march)]
    u, r = u.iloc[0], r.iloc[0]
    fb = sum(t["total"] - t["tax"] for t in tickets if OUTLETS[t["outlet_id"]] == "City Hotel")
    assert u["food_and_beverage_revenue"] == pytest.approx(fb, abs=0.05)
    total = r["room_revenue"] + fb
    assert u["total_revenue"] == pytest.approx(total, abs=0.05)
    assert u["trevpar"] == pytest.approx(total / r["rooms_available"], abs=1e-3)
    rooms_cost = sum(x["debit"] for i, x in enumerate(lines) if i % 2)
    admin = sum(x["debit"] for i, x in enumerate(lines) if not i % 2)
    assert u["cost_per_occupied_room"] == pytest.approx(rooms_cost / r["rooms_sold"])
    assert u["gop"] == pytest.approx(total - rooms_cost - admin, abs=0.05)
    assert u["goppar"] == pytest.approx((total - rooms_cost - admin) / r["rooms_available"])
    ledger = env.warehouse.read(ACCOUNT, "model.ledger")
    payroll = ledger[ledger["category"] == "payroll"]["amount_reporting"].sum()
    assert payroll == pytest.approx(rooms_cost)  # 640: wages (PGC)
    page = env.blobs.read_bytes(out["report_key"]).decode()  # the report shows them too
    assert "Gross operating profit (GOP)" in page and "City Hotel · Mar 2016" in page
    for metric in ("gop", "goppar", "trevpar", "total_revenue", "food_and_beverage_revenue"):
        assert format_value(metric, u[metric], "EUR") in page, metric
