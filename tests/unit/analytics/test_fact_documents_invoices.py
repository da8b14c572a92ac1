"""SharePoint document-library files and Axional sales and supplier invoices, from the imitation
APIs through extraction and ms-data-modeling: every raw row is modelled or rejected with its
reason, and figures computed by hand from the imitation data (documents per owner, the latest
report, net invoiced revenue, cost per supplier) equal the engine's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from tests.fakes.apis.microsoft import iso
from tests.fakes.apis.scenarios import ACCOUNT, Scenario, build
from tests.unit.connectors.conftest import Env

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")


@pytest.fixture
def env(tmp_path: Path) -> Env:
    e = Env(tmp_path)
    e.warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")  # the real merge
    return e


@pytest.fixture
def scenario(request: pytest.FixtureRequest, env: Env) -> Iterator[Scenario]:
    sc = build(request.param)
    env.add_secrets(ACCOUNT, {**sc.secrets, **sc.urls})
    yield sc
    sc.fake.stop()


def _extract(env: Env, sc: Scenario, dataset: str, run_id: str, **config: Any) -> int:
    cb = env.run(sc.system, sc.step_config(datasets=[dataset], **config), run_id=run_id)
    assert cb.status == "succeeded", cb.error
    return len(env.warehouse.read(ACCOUNT, f"raw.{sc.system}_{dataset}"))


@pytest.mark.parametrize("scenario", ["sharepoint365"], indirect=True)
def test_sharepoint_files_catalogue(env: Env, scenario: Scenario) -> None:
    fake: Any = scenario.fake
    items = fake.seed_files(14, datetime.now(UTC))
    assert _extract(env, scenario, "files", "r1", drive_id="drive1") == 16  # root, folder, 14
    assert env.model({"source": "sharepoint365_files"})["rows"] == 14
    feed = fake.graph["/v1.0/drives/drive1/root/delta"]
    fake.version += 1  # a second delta round: one file deleted, one renamed to nothing
    gone = feed[2]
    feed[2] = {"id": gone["id"], "deleted": {"state": "deleted"}, "_v": fake.version}
    feed[3].update(name="", lastModifiedDateTime=iso(datetime.now(UTC)), _v=fake.version)
    rows_in = _extract(env, scenario, "files", "r2", drive_id="drive1")
    assert rows_in == 16  # the delta round changed two records in place

    out = env.model({"source": "sharepoint365_files"})
    assert out["rows"] + out["rejected"] == rows_in
    assert out["rejected_by_reason"] == {
        "a folder, not a document": 2,
        "deleted in SharePoint: not in the catalogue": 1,
        "title missing or unreadable (name)": 1,
    }
    report = env.warehouse.read(ACCOUNT, "model.validation_report_sharepoint365_files")
    assert len(report) == out["rejected"]
    kept = items[4:]  # files 2.. of the seed, less the deleted and the nameless one
    docs = env.warehouse.read(ACCOUNT, "model.documents")
    assert sorted(docs["document_id"]) == sorted(f["id"] for f in kept)  # the deleted one left
    per_owner = docs.groupby("owner").size().to_dict()
    assert per_owner == Counter(f["createdBy"]["user"]["displayName"] for f in kept)
    latest = max(f["lastModifiedDateTime"][:10] for f in kept)
    assert out["last_modified"] == latest
    one = docs.set_index("document_id").loc[kept[0]["id"]]
    assert one["title"] == kept[0]["name"] and one["size_bytes"] == kept[0]["size"]
    assert one["mime_type"] == kept[0]["file"]["mimeType"] and one["library"] == "drive1"
    assert "folder" not in docs.columns and "deleted" not in docs.columns


@pytest.mark.parametrize("scenario", ["sharepoint365"], indirect=True)
def test_list_items_and_files_share_one_catalogue(env: Env, scenario: Scenario) -> None:
    scenario.seed(5)
    _extract(env, scenario, "list_items", "r1")
    fake: Any = scenario.fake
    fake.seed_files(4, datetime.now(UTC))
    _extract(env, scenario, "files", "r2", drive_id="drive1")
    assert env.model({"source": "sharepoint365_list_items"})["rows"] == 5
    assert env.model({"source": "sharepoint365_files"})["rows"] == 4
    docs = env.warehouse.read(ACCOUNT, "model.documents")
    assert docs.groupby("source").size().to_dict() == {
        "sharepoint365_files": 4,
        "sharepoint365_list_items": 5,
    }
    assert docs[docs["source"] == "sharepoint365_list_items"]["size_bytes"].isna().all()
    fake.version += 1  # every file deleted: the catalogue keeps the list items only
    feed = fake.graph["/v1.0/drives/drive1/root/delta"]
    feed[2:] = [
        {"id": r["id"], "deleted": {"state": "deleted"}, "_v": fake.version} for r in feed[2:]
    ]
    _extract(env, scenario, "files", "r3", drive_id="drive1")
    out = env.model({"source": "sharepoint365_files"})
    assert out["rows"] == 0 and out["rejected"] == 6  # root, folder, 4 deleted
    docs = env.warehouse.read(ACCOUNT, "model.documents")
    assert docs.groupby("source").size().to_dict() == {"sharepoint365_list_items": 5}


def _seed_axional(scenario: Scenario, resource: str, n: int) -> list[dict[str, Any]]:
    fake: Any = scenario.fake
    fake.seed(resource, n, datetime.now(UTC))
    records: list[dict[str, Any]] = fake.data[resource]
    return records


@pytest.mark.parametrize("scenario", ["axional"], indirect=True)
def test_axional_sales_invoices_join_the_invoices(env: Env, scenario: Scenario) -> None:
    records = _seed_axional(scenario, "invoices_issued", 18)
    records[0]["status"] = "cancelled"
    records[1]["issue_date"] = "31/02/2026"
    records[2].update(currency="USD", tax_base=None)
    records[3]["currency"] = "GBP"  # no rate given: rejected
    rows_in = _extract(env, scenario, "invoices_issued", "r1")
    out = env.model({"source": "axional_invoices_issued", "fx_rates": {"USD": 0.9}})
    assert out["rows"] + out["rejected"] == rows_in == 18
    assert out["rejected_by_reason"] == {
        "status is draft/cancelled/void/voided/reversed: not counted": 1,
        "invoice_date missing or unreadable (issue_date)": 1,
        "no fx rate for its currency": 1,
    }
    usd = records[2]
    by_hand = sum(r["tax_base"] for r in records[4:]) + (usd["total"] - usd["tax"]) * 0.9
    assert out["net_revenue"] == pytest.approx(by_hand, abs=0.01)  # net of tax, in EUR
    invoices = env.warehouse.read(ACCOUNT, "model.invoices")
    fb = invoices[invoices["department"] == "F&B"]["net_revenue_reporting"].sum()
    fb_by_hand = sum(r["tax_base"] for r in records[4:] if r["cost_centre"] == "F&B")
    assert fb == pytest.approx(fb_by_hand)
    assert set(invoices["invoice_number"]) >= {r["number"] for r in records[4:]}


@pytest.mark.parametrize("scenario", ["axional"], indirect=True)
def test_axional_supplier_invoices_are_costs(env: Env, scenario: Scenario) -> None:
    records = _seed_axional(scenario, "invoices_received", 12)
    records[0]["status"] = "draft"
    records[1]["total"] = "n/a"
    rows_in = _extract(env, scenario, "invoices_received", "r1")
    out = env.model({"source": "axional_invoices_received"})
    assert out["rows"] + out["rejected"] == rows_in == 12
    assert out["rejected_by_reason"] == {
        "status is draft/cancelled/void/voided/reversed: not counted": 1,
        "gross_amount missing or unreadable (total)": 1,
    }
    assert out["totals"] == {"cost": pytest.approx(sum(r["tax_base"] for r in records[2:]))}
    costs = env.warehouse.read(ACCOUNT, "model.supplier_invoices")
    per_supplier = costs.groupby("supplier")["amount_reporting"].sum()
    makro = sum(r["tax_base"] for r in records[2:] if r["supplier_name"] == "Makro")
    assert per_supplier["Makro"] == pytest.approx(makro)
    assert set(costs["kind"]) == {"cost"} and set(costs["department"]) == {"ROOMS", "F&B", "EVENTS"}
    first = pd.Timestamp(min(r["issue_date"] for r in records[2:]))
    assert costs["invoice_date"].min() == first
