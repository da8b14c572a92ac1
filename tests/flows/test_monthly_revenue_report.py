"""`flows/monthly-revenue-report.json` end to end on the embedded runtime, with the bundled data:
SQL builds monthly revenue, quality checks pass (and fail the run on a planted duplicate key), a
transform renames and casts, an HTTP request posts the result to an imitation server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd
import pytest

from mhi.config import Settings
from mhi.engine.summary import run_summary
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

FLOW = ROOT / "flows" / "monthly-revenue-report.json"
TOKEN = "tok-report-5f3a9c"


class _Reports(BaseHTTPRequestHandler):
    """The imitation revenue system: records each POST and answers 201 with an id."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen: list[dict[str, Any]] = self.server.seen  # type: ignore[attr-defined]
        seen.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        answer = json.dumps({"id": f"rep-{len(seen)}", "received": len(json.loads(body)["rows"])})
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Reports)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedRuntime]:
    monkeypatch.chdir(ROOT)  # the flow names data/ and flows/sql/ relative to the checkout
    monkeypatch.setenv("MHI_ALLOW_LOOPBACK_URLS", "1")  # the imitation server is on 127.0.0.1
    monkeypatch.setenv("MHI_SECRET_DEMO_HOTELS__HTTP_BEARER_TOKEN", TOKEN)
    monkeypatch.setenv("MHI_SECRET_DEMO_HOTELS__HTTP_HOSTS", "127.0.0.1")
    with EmbeddedRuntime(Services(Settings.from_env())) as rt:
        yield rt


def _run(rt: EmbeddedRuntime, **params: Any) -> dict[str, Any]:
    start = {**json.loads(FLOW.read_text()), "run_params": params}
    return run_summary(rt.wait(rt.start_json(start), timeout=180))


def _expected_revenue() -> pd.DataFrame:
    """Monthly revenue computed straight from the CSV with pandas, beside the flow's SQL."""
    b = pd.read_csv(ROOT / "data" / "hotel_bookings.csv.gz")
    b = b[b["is_canceled"] == 0]
    months = pd.to_datetime(b["arrival_date_month"], format="%B").dt.month
    b = b.assign(
        month=b["arrival_date_year"].astype(str) + "-" + months.map("{:02d}".format),
        nights=b["stays_in_weekend_nights"] + b["stays_in_week_nights"],
    )
    b = b.assign(revenue=b["adr"] * b["nights"])
    return b.groupby(["hotel", "month"], as_index=False).agg(
        bookings=("adr", "size"), room_nights=("nights", "sum"), revenue=("revenue", "sum")
    )


def test_the_report_flow_builds_checks_reshapes_and_posts_monthly_revenue(
    runtime: EmbeddedRuntime, receiver: ThreadingHTTPServer
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/reports/revenue"
    summary = _run(runtime, report_url=url)
    assert summary["status"] == "succeeded", summary
    steps = {s["id"]: s for s in summary["steps"]}

    revenue = runtime.services.warehouse.read("demo-hotels", "kpi.monthly_revenue")
    expected = _expected_revenue()
    assert len(revenue) == len(expected) == steps["monthly-revenue"]["output"]["rows"]
    got = revenue.set_index(["hotel", "month"]).sort_index()
    want = expected.set_index(["hotel", "month"]).sort_index()
    assert (got["bookings"] == want["bookings"]).all()
    assert ((got["revenue"] - want["revenue"]).abs() < 0.01).all()

    quality = steps["check-revenue"]["output"]
    assert (quality["checks"], quality["passed"], quality["failed"]) == (6, 6, 0)
    assert "ok   unique(hotel, month): every key is unique" in quality["summary"]

    [post] = receiver.seen  # type: ignore[attr-defined]
    assert post["path"] == "/reports/revenue"
    assert post["headers"]["Authorization"] == f"Bearer {TOKEN}"
    rows = post["body"]["rows"]
    assert post["body"]["flow"] == "monthly-revenue-report" and len(rows) == len(expected)
    assert set(rows[0]) == {"hotel_name", "period", "revenue_eur", "room_nights", "bookings"}
    assert isinstance(rows[0]["bookings"], str) and isinstance(rows[0]["room_nights"], int)
    assert [(r["hotel_name"], r["period"]) for r in rows] == sorted(
        (r["hotel_name"], r["period"]) for r in rows
    )
    assert steps["post-report"]["output"]["data"] == {"id": "rep-1", "received": len(rows)}
    assert TOKEN not in json.dumps(summary)  # the token reaches the server, never an output

    home = runtime.services.settings.home
    mail = next((home / "blobs" / "outbox" / "demo-hotels").rglob("revenue@example.com.eml"))
    assert "ok   range(revenue): every value passes" in mail.read_text()


def test_a_planted_duplicate_key_fails_the_run_before_anything_is_posted(
    runtime: EmbeddedRuntime, receiver: ThreadingHTTPServer
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/reports/revenue"
    assert _run(runtime, report_url=url)["status"] == "succeeded"
    # Appending the same months again plants a second row for every (hotel, month).
    summary = _run(runtime, report_url=url, write_mode="append")
    assert summary["status"] == "failed" and summary["failed_step"] == "check-revenue"
    error = summary["error"]
    assert error.startswith("step 'check-revenue' failed: 1 of 6 data quality checks failed")
    assert "unique(hotel, month):" in error and "duplicate keys" in error
    statuses = {s["id"]: s["status"] for s in summary["steps"]}
    assert (statuses["reshape"], statuses["post-report"]) == ("skipped", "skipped")
    assert len(receiver.seen) == 1  # type: ignore[attr-defined]  # the first run's post only

    results = runtime.services.warehouse.read("demo-hotels", "model.data_quality_results")
    second = results[results["run_id"] == summary["run_id"]].set_index("check_name")
    assert second.loc["unique(hotel, month)", "status"] == "fail"
    assert second.loc["row_count_change", "status"] == "warn"  # twice the rows of the last run
    assert "+100.0%" in second.loc["row_count_change", "message"]
    assert (results.groupby("run_id").size() == 6).all()  # one row per check and run
