"""The KPI report page: last whole period per hotel, coloured changes, escaped data, charts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from mhi.adapters.local.fs_blob_store import FsBlobStore
from mhi.analytics.report import Figure, latest_sections, report_charts, report_html
from mhi.errors import StepExecutionError
from mhi.notify.render import Message
from mhi.notify.steps import _with_report

COMPLETE = (date(2016, 1, 1), date(2017, 8, 31))


def _table(hotel: str = "City Hotel") -> pd.DataFrame:
    periods = pd.date_range("2016-01-01", "2017-09-01", freq="MS")
    frame = pd.DataFrame({"period": periods, "hotel": hotel})
    frame["occupancy"] = 0.80
    frame["occupancy_ly"] = 0.75
    frame["adr"] = 110.0
    frame["adr_ly"] = 100.0
    frame["cancellation_rate"] = 0.30
    frame["cancellation_rate_ly"] = 0.25
    frame["room_revenue"] = 1_234_567.0
    frame["room_revenue_ly"] = None
    return frame


def test_the_last_whole_period_is_reported_not_the_partial_one() -> None:
    metrics = ["occupancy", "adr", "cancellation_rate", "room_revenue"]
    [section] = latest_sections(_table(), metrics, "month", COMPLETE)
    assert section.period == pd.Timestamp("2017-08-01")
    figures = {f.metric: f for f in section.figures}
    assert figures["occupancy"].change_text() == "+5.0 pts"
    assert figures["adr"].change_text() == "+10.0 %"
    assert figures["occupancy"].colour() == "#1a7f37"  # up is good
    assert figures["cancellation_rate"].colour() == "#cf222e"  # more cancellations is bad
    assert figures["room_revenue"].change_text() == "–"  # no last year: no change


def test_the_page_escapes_data_and_inlines_charts() -> None:
    table = _table("<b>Hotel & Spa</b>")
    sections = latest_sections(table, ["occupancy", "adr"], "month", COMPLETE)
    charts = report_charts(table, ["occupancy", "adr"], "month", COMPLETE, "EUR")
    page = report_html(
        sections, charts, grain="month", complete=COMPLETE, currency="EUR", title="KPIs <today>"
    )
    assert "<b>Hotel" not in page and "&lt;b&gt;Hotel &amp; Spa&lt;/b&gt;" in page
    assert "<title>KPIs &lt;today&gt;</title>" in page
    assert page.count("data:image/png;base64,") == 2
    assert "Aug 2017" in page and "EUR 110.00" in page and "80.0 %" in page
    assert "01 Jan 2016 to 31 Aug 2017" in page


def test_a_flat_change_is_grey_and_a_zero_base_has_no_change() -> None:
    assert Figure("adr", 100.0, 100.0).colour() == "#6e7781"
    assert Figure("rooms_sold", 10.0, 0.0).change() is None


def test_a_notification_sends_only_a_report_of_its_own_run(tmp_path: Path) -> None:
    blobs = FsBlobStore(tmp_path)
    ctx = SimpleNamespace(
        account="acme", flow_id="f", run_id="r1", services=SimpleNamespace(blobs=blobs)
    )
    own = "reports/acme/f/r1/kpis/kpi-report.html"
    blobs.write_bytes(own, b"<html><body><p>Occupancy 80 %</p></body></html>", "text/html")
    blobs.write_bytes("reports/other/f/r1/kpis/kpi-report.html", b"<p>theirs</p>", "text/html")
    message = Message("KPIs", "plain", "<pre>plain</pre>", {})
    sent = _with_report(ctx, own, message)  # type: ignore[arg-type]
    assert sent.html.startswith("<html>") and "Occupancy 80 %" in sent.text
    for key in ("reports/other/f/r1/kpis/kpi-report.html", "reports/acme/f/r1/../x.html"):
        with pytest.raises(StepExecutionError, match="not an artifact of this run"):
            _with_report(ctx, key, message)  # type: ignore[arg-type]
    with pytest.raises(StepExecutionError, match="does not exist"):
        _with_report(ctx, "reports/acme/f/r1/kpis/missing.html", message)  # type: ignore[arg-type]
