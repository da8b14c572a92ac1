"""The main job: the demo flow on the embedded default, run as `.ci/demo` runs it."""

from __future__ import annotations

import json
import os
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
from mhi.analytics.labels import format_value
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
    # the KPI report, read as words and figures with units: no JSON dump
    assert "City Hotel · Aug 2017" in body and "Resort Hotel · Aug 2017" in body  # last full month
    assert "{" not in body and '"hotel"' not in body
    for hotel in ("City Hotel", "Resort Hotel"):
        row = monthly[(monthly["hotel"] == hotel) & (monthly["period"].astype(str) == "2017-08-01")]
        for metric in ("occupancy", "adr", "revpar"):
            figure = format_value(metric, row.iloc[0][metric], "EUR")
            assert figure in body and ("%" in figure or "EUR" in figure), (metric, figure)
    assert "Occupancy | " in body and "Average daily rate (ADR) | EUR " in body  # table rows
    html = step_mail.get_body(("html",))
    assert html is not None and "data:image" not in html.get_content()
    charts = [p for p in step_mail.walk() if p.get_content_type() == "image/png"]
    assert charts and all(p["Content-ID"] for p in charts)  # the charts travel with the mail
    flow_mail = _mail(outbox / "_notify" / "data-team@example.com.eml")
    assert "succeeded" in flow_mail["Subject"].lower()
