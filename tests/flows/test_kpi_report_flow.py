"""`flows/demo-kpi-report.json` end to end on the embedded runtime: the KPI report page in the
run's artifacts and as the mail's HTML body, its figures checked against the KPI table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from mhi.analytics.labels import format_value
from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.notify.render import inline_images
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FLOW = ROOT / "flows" / "demo-kpi-report.json"


@pytest.fixture(scope="module")
def ran(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedRuntime, dict[str, Any]]]:
    """Run the flow once for the module, in its own MHI_HOME (module fixtures run before the
    autouse per-test isolation)."""
    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)  # the flow names data/ relative to the checkout
    mp.setenv("MHI_HOME", str(tmp_path_factory.mktemp("report-home")))
    try:
        with EmbeddedRuntime(Services(Settings.from_env())) as rt:
            start = json.loads(FLOW.read_text())
            yield rt, run_summary(rt.wait(rt.start_json(start), timeout=180))
    finally:
        mp.undo()


def test_the_report_flow_writes_the_page_and_mails_it(
    ran: tuple[EmbeddedRuntime, dict[str, Any]],
) -> None:
    rt, summary = ran
    assert summary["status"] == "succeeded", summary
    steps = {s["id"]: s["output"] for s in summary["steps"]}
    kpis = steps["calculate-kpis"]
    page = rt.services.blobs.read_bytes(kpis["report_key"])
    assert page is not None and kpis["report"].endswith("kpi-report.html")
    text = page.decode()
    assert text.count("data:image/png;base64,") == 4  # occupancy, ADR, RevPAR, year to date

    home = rt.services.settings.home
    eml = home / "blobs" / "outbox" / "demo-hotels" / "demo-kpi-report"
    [path] = list(eml.rglob("revenue@example.com.eml"))
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    # the mail carries the page with its charts as related PNG parts (cid:), not data URIs
    page, images = inline_images(text)
    body = mail.get_body(("html",))
    assert body is not None and body.get_content().strip() == page.strip()
    parts = {
        p["Content-ID"]: p.get_content() for p in mail.walk() if p.get_content_type() == "image/png"
    }
    assert parts == {f"<{cid}>": data for cid, data in images} and len(parts) == 4
    assert "Occupancy" in mail.get_body(("plain",)).get_content()


def test_the_report_figures_are_the_kpi_tables(
    ran: tuple[EmbeddedRuntime, dict[str, Any]],
) -> None:
    rt, summary = ran
    steps = {s["id"]: s["output"] for s in summary["steps"]}
    text = rt.services.blobs.read_bytes(steps["calculate-kpis"]["report_key"]).decode()
    table = rt.services.warehouse.read("demo-hotels", "kpi.month_by_hotel")
    # Arrivals run to 31 Aug 2017: Aug 2017 is the last whole month, Sep 2017 is partial.
    assert "City Hotel · Aug 2017" in text and "Resort Hotel · Aug 2017" in text
    assert "Sep 2017" not in text
    for hotel in ("City Hotel", "Resort Hotel"):
        row = table[(table["hotel"] == hotel) & (table["period"].astype(str) == "2017-08-01")]
        row = row.iloc[0]
        for metric in ("occupancy", "adr", "revpar", "room_revenue", "rooms_sold"):
            assert format_value(metric, row[metric], "EUR") in text
            assert format_value(metric, row[f"{metric}_ly"], "EUR") in text
        points = (row["occupancy"] - row["occupancy_ly"]) * 100
        assert f"{points:+.1f} pts" in text
        change = (row["adr"] / row["adr_ly"] - 1) * 100
        assert f"{change:+.1f} %" in text
