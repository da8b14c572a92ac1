"""The main job: the demo flow on the embedded default, run as `.ci/demo` runs it."""

from __future__ import annotations

import json
import os
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.cli.main import main
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _mail(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_demo_flow_turns_the_bundled_bookings_into_kpis_forecasts_and_mail(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the flow names data/hotel_bookings.csv.gz relative to the checkout
    home = Path(os.environ["MHI_HOME"])
    code = main(["run", "flows/demo-hotel-kpis.json", "--run-id", "demo-1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "run demo-1 of demo-hotel-kpis: SUCCEEDED" in out

    assert main(["runs", "show", "demo-1", "--json"]) == 0
    steps = {s["id"]: s for s in json.loads(capsys.readouterr().out)["steps"]}
    assert {s["status"] for s in steps.values()} == {"succeeded"}
    imported = steps["import-bookings"]["output"]
    modelled = steps["model-data"]["output"]
    assert imported["rows"] == 119_390  # every booking of the bundled file
    assert modelled["rows"] + modelled["rejected"] == imported["rows"]  # none silently dropped

    wh = DuckDbWarehouse(home / "warehouse.duckdb")
    monthly = wh.read("demo-hotels", "kpi.month_by_hotel")
    assert set(monthly["hotel"]) == {"City Hotel", "Resort Hotel"}
    assert monthly["occupancy"].between(0, 1).all()
    revpar = monthly["occupancy"] * monthly["adr"]
    assert (revpar - monthly["revpar"]).abs().max() < 1e-6  # RevPAR = occupancy x ADR
    forecast = wh.read("demo-hotels", "forecast.room_nights_monthly")
    assert len(forecast) == 12  # 6 months ahead for each of the two hotels

    outbox = home / "blobs" / "outbox" / "demo-hotels" / "demo-hotel-kpis" / "demo-1"
    step_mail = _mail(outbox / "notify-team" / "revenue@example.com.eml")
    body = step_mail.get_body(("plain",)).get_content()
    assert '"hotel": "City Hotel", "period": "2017-08-01"' in body  # the last full month
    flow_mail = _mail(outbox / "_notify" / "data-team@example.com.eml")
    assert "succeeded" in flow_mail["Subject"].lower()
