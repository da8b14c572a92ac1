"""Revenue sources from the imitation APIs through extraction and ms-data-modeling: every raw row
is modelled or rejected with its reason, and net revenue hand-computed from the imitation data
equals the engine's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.analytics.fact_sources import MAPPINGS, fact_mapping
from mhi.analytics.facts import model_facts
from mhi.errors import StepConfigError, StepExecutionError
from tests.fakes.apis.scenarios import ACCOUNT, Scenario, build
from tests.unit.connectors.conftest import Env

SYSTEM_OF = {
    "madisa_tickets": "madisa",
    "fourvenues_tickets": "fourvenues",
    "holded_invoices": "holded",
    "businesscentral_sales_invoices": "businesscentral",
    "axional_journal_entries": "axional",
    "reviewpro_reviews": "reviewpro",
    "sharepoint365_list_items": "sharepoint365",
    "fourvenues_events": "fourvenues",
    # tested end to end in test_fact_documents_invoices.py
    "sharepoint365_files": "sharepoint365",
    "axional_invoices_issued": "axional",
    "axional_invoices_received": "axional",
}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


@pytest.fixture
def extracted(env: Env) -> Iterator[Any]:
    started: list[Scenario] = []

    def extract(
        system: str, n: int, plant: Any, also: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        sc = build(system)
        started.append(sc)
        sc.seed(n)
        plant(sc.records())
        env.add_secrets(ACCOUNT, {**sc.secrets, **sc.urls})
        cb = env.run(system, sc.step_config(), run_id="r1")
        assert cb.status == "succeeded", cb.error
        assert len(env.warehouse.read(ACCOUNT, sc.table)) == len(sc.records())  # rows in
        if also:
            cb = env.run(system, sc.step_config(datasets=list(also)), run_id="r2")
            assert cb.status == "succeeded", cb.error
        return sc.records()

    yield extract
    for sc in started:
        sc.fake.stop()


def _plant_madisa(records: list[dict[str, Any]]) -> None:
    records[0]["status"] = "cancelled"
    records[1]["total"] = None
    records[2]["currency"] = "USD"
    records[3]["currency"] = "GBP"  # no rate given: rejected
    records[4]["closed_at"] = "not a date"
    records[4]["opened_at"] = "not a date"


def test_madisa_pos_tickets(env: Env, extracted: Any) -> None:
    records = extracted("madisa", 40, _plant_madisa)
    out = env.model({"source": "madisa_tickets", "fx_rates": {"USD": 0.9}})
    assert out["rows"] + out["rejected"] == len(records) == 40
    assert out["rejected_by_reason"] == {
        "status is cancelled/void/voided: not counted": 1,
        "gross_amount missing or unreadable (total)": 1,
        "no fx rate for its currency": 1,
        "business_date missing or unreadable (closed_at)": 1,
    }
    kept = [*records[5:], records[2]]
    by_hand = sum(r["total"] - r["tax"] for r in records[5:]) + (records[2]["total"] - 2.1) * 0.9
    assert out["net_revenue"] == pytest.approx(by_hand, abs=0.02)
    model = env.warehouse.read(ACCOUNT, "model.pos_tickets")
    assert len(model) == len(kept) and set(model["department"]) == {"food_and_beverage"}
    outlet = model.groupby("outlet")["net_revenue_reporting"].sum()
    rest1 = sum(r["total"] - r["tax"] for r in records[5:] if r["outlet_id"] == "REST-01")
    assert outlet["REST-01"] == pytest.approx(rest1, abs=0.02)
    report = env.warehouse.read(ACCOUNT, "model.validation_report_madisa_tickets")
    assert len(report) == out["rejected"] and set(report["source"]) == {"madisa_tickets"}


def _plant_fourvenues(records: list[dict[str, Any]]) -> None:
    records[0]["status"] = "refunded"
    records[1]["total_paid"] = "n/a"


def test_fourvenues_event_tickets(env: Env, extracted: Any) -> None:
    records = extracted("fourvenues", 30, _plant_fourvenues)
    out = env.model({"source": "fourvenues_tickets"})
    assert out["rows"] + out["rejected"] == len(records) == 30
    assert out["rejected"] == 2
    assert out["net_revenue"] == pytest.approx(28 * (13.2 - 1.2), abs=0.01)
    model = env.warehouse.read(ACCOUNT, "model.event_tickets")
    per_event = model.groupby("event_id")["net_revenue_reporting"].sum()
    ev0 = sum(12.0 for r in records[2:] if r["event_id"] == "ev0")
    assert per_event["ev0"] == pytest.approx(ev0)
    first = min(pd.Timestamp(r["updated_at"], unit="ms").normalize() for r in records[2:])
    assert model["sale_date"].min() == first


def test_fourvenues_events_name_the_tickets(env: Env, extracted: Any) -> None:
    tickets = extracted("fourvenues", 12, lambda records: None, also=("events",))
    env.model({"source": "fourvenues_tickets"})
    sc_events = env.warehouse.read(ACCOUNT, "raw.fourvenues_events")
    out = env.model({"source": "fourvenues_events"})
    assert out["rows"] + out["rejected"] == len(sc_events) == 4 and out["rejected"] == 0
    events = env.warehouse.read(ACCOUNT, "model.events").set_index("event_id")
    assert events.loc["ev1", "event_name"] == "Saturday Night 1"
    raw_date = int(sc_events.set_index("id").loc["ev1", "date"])
    assert events.loc["ev1", "event_date"] == pd.Timestamp(raw_date, unit="s").normalize()
    sold = env.warehouse.read(ACCOUNT, "model.event_tickets")
    named = sold.merge(events.reset_index(), on="event_id")
    per_name = named.groupby("event_name")["net_revenue_reporting"].sum()
    assert per_name["Saturday Night 1"] == pytest.approx(
        12.0 * sum(t["event_id"] == "ev1" for t in tickets)
    )


def _plant_holded(records: list[dict[str, Any]]) -> None:
    records[0]["docNumber"] = ""


def test_holded_invoices(env: Env, extracted: Any) -> None:
    records = extracted("holded", 20, _plant_holded)
    out = env.model({"source": "holded_invoices"})
    assert out["rows"] + out["rejected"] == len(records) == 20
    assert out["rejected_by_reason"] == {"invoice_number missing or unreadable (docNumber)": 1}
    assert out["net_revenue"] == pytest.approx(sum(r["subtotal"] for r in records[1:]))
    model = env.warehouse.read(ACCOUNT, "model.invoices")
    assert set(model["currency"]) == {"EUR"}  # Holded writes "eur"


def _plant_bc(records: list[dict[str, Any]]) -> None:
    records[0]["invoiceDate"] = None
    records[0]["postingDate"] = None
    records[1]["currencyCode"] = "USD"
    records[1]["totalAmountExcludingTax"] = 1000.0


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")
def test_business_central_invoices_join_holded_in_one_table(
    env: Env, extracted: Any, tmp_path: Path
) -> None:
    env.warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")  # the real merge
    holded = extracted("holded", 6, lambda records: None)
    assert env.model({"source": "holded_invoices"})["rows"] == 6
    records = extracted("businesscentral", 10, _plant_bc)
    out = env.model({"source": "businesscentral_sales_invoices", "fx_rates": {"usd": 0.5}})
    assert out["rows"] + out["rejected"] == len(records) == 10
    assert out["rejected_by_reason"] == {"invoice_date missing or unreadable (invoiceDate)": 1}
    assert out["net_revenue"] == pytest.approx(8 * 1200.0 + 1000.0 * 0.5)
    model = env.warehouse.read(ACCOUNT, "model.invoices")
    assert model.groupby("source").size().to_dict() == {
        "businesscentral_sales_invoices": 9,
        "holded_invoices": 6,
    }
    assert model["tax"].isna().sum() == 9  # BC states net amounts, not the tax
    holded_net = model[model["source"] == "holded_invoices"]["net_revenue_reporting"].sum()
    assert holded_net == pytest.approx(sum(r["subtotal"] for r in holded))


def _plant_axional(records: list[dict[str, Any]]) -> None:
    for i, r in enumerate(records):
        r["credit"], r["debit"] = (r["debit"], 0.0) if i % 2 else (0.0, r["debit"])
        r["account"] = "700000" if i % 2 else "628000"  # sales / utilities (PGC)
        r["cost_centre"] = ["ROOMS", "F&B", None][i % 3]
    records[0]["account"] = "572000"  # bank: balance sheet
    records[2]["status"] = "draft"


def test_axional_ledger_costs_and_revenue_by_department(env: Env, extracted: Any) -> None:
    records = extracted("axional", 24, _plant_axional)
    out = env.model({"source": "axional_journal_entries"})
    assert out["rows"] + out["rejected"] == len(records) == 24
    assert out["rejected_by_reason"] == {
        "account group 5: balance sheet, not a cost or revenue": 1,
        "status is draft/cancelled/reversed: not counted": 1,
    }
    kept = records[1:2] + records[3:]
    cost = sum(r["debit"] - r["credit"] for r in kept if r["account"].startswith("6"))
    revenue = sum(r["credit"] - r["debit"] for r in kept if r["account"].startswith("7"))
    assert out["totals"] == {"cost": pytest.approx(cost), "revenue": pytest.approx(revenue)}
    ledger = env.warehouse.read(ACCOUNT, "model.ledger")
    by_dept = ledger[ledger["kind"] == "cost"].groupby("department")["amount_reporting"].sum()
    fb = sum(r["debit"] for r in kept if r["account"] == "628000" and r["cost_centre"] == "F&B")
    assert by_dept["F&B"] == pytest.approx(fb)
    assert "unallocated" in set(ledger["department"])  # no cost centre
    assert set(ledger["category"]) == {"services", "revenue"}  # 628: services (PGC)


def _plant_reviewpro(records: list[dict[str, Any]]) -> None:
    for i, r in enumerate(records):
        r["customScore"] = {"value": 5 + i % 5}
    records[0]["customScore"] = {"value": 12}
    records[1]["customScore"] = "n/a"


def test_reviewpro_scores(env: Env, extracted: Any) -> None:
    records = extracted("reviewpro", 20, _plant_reviewpro)
    out = env.model({"source": "reviewpro_reviews"})
    assert out["rows"] + out["rejected"] == len(records) == 20
    assert out["rejected_by_reason"] == {
        "score outside 0-10": 1,
        "score missing or unreadable (customScore)": 1,
    }
    reviews = env.warehouse.read(ACCOUNT, "model.review_scores")
    mean = sum(r["customScore"]["value"] for r in records[2:]) / 18
    assert out["mean_score"] == pytest.approx(mean, abs=1e-3)
    assert reviews["score"].mean() == pytest.approx(mean)
    assert set(reviews["review_source"]) == {"reviewpro"}
    assert reviews["review_date"].max() == max(
        pd.Timestamp(r["date"], unit="ms").normalize() for r in records[2:]
    )


def _plant_sharepoint(records: list[dict[str, Any]]) -> None:
    records[0]["fields"] = {"Amount": 5.0, "ID": 0}  # no title
    records[1]["createdBy"] = {"user": {"displayName": "Luis Gil"}}


def test_sharepoint_documents_catalogue(env: Env, extracted: Any) -> None:
    records = extracted("sharepoint365", 12, _plant_sharepoint)
    out = env.model({"source": "sharepoint365_list_items"})
    assert out["rows"] + out["rejected"] == len(records) == 12
    assert out["rejected_by_reason"] == {"title missing or unreadable (fields.Title)": 1}
    docs = env.warehouse.read(ACCOUNT, "model.documents").set_index("document_id")
    assert docs.loc["1", "owner"] == "Luis Gil" and docs.loc["2", "owner"] == "Ana Ruiz"
    assert docs.loc["5", "title"] == "Hotel 5 budget"
    assert docs.loc["5", "url"] == records[5]["webUrl"]
    last = max(r["lastModifiedDateTime"][:10] for r in records[1:])
    assert out["last_modified"] == last


def test_a_duplicate_record_is_rejected_once() -> None:
    raw = pd.DataFrame(
        {
            "id": ["a", "b", "a"],
            "outlet_id": ["R1", "R1", "R1"],
            "closed_at": ["2026-01-01T10:00:00Z"] * 3,
            "total": [10.0, 20.0, 12.0],
            "tax": [1.0, 2.0, 1.2],
        }
    )
    result = model_facts(MAPPINGS["madisa_tickets"], raw, "EUR", {})
    assert list(result.rows["ticket_id"]) == ["b", "a"]
    assert result.rows["net_revenue"].sum() == pytest.approx(18.0 + 10.8)
    assert result.rejected.to_dict("records") == [
        {
            "source": "madisa_tickets",
            "row": 1,
            "reason": "duplicate ticket_id: a later record replaces it",
        }
    ]


def test_unknown_source_and_missing_columns_are_named() -> None:
    with pytest.raises(StepConfigError, match="known are madisa_tickets"):
        fact_mapping("lightspeed")
    with pytest.raises(StepExecutionError, match=r"lacks \['ticket_id', 'outlet'"):
        model_facts(MAPPINGS["madisa_tickets"], pd.DataFrame({"x": [1]}), "EUR", {})
    assert set(SYSTEM_OF) == set(MAPPINGS)
