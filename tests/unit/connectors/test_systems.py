"""What is particular to one system: delta resync, date-window chunks, fan-out, OData headers,
backfills, and the landed table's columns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from tests.fakes.apis.scenarios import ACCOUNT
from tests.unit.connectors.conftest import Env


def test_sharepoint_expired_delta_link_restarts_the_feed(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("sharepoint365", env, 50)
    first = env.run("sharepoint365", sc.step_config(page_size=20), run_id="r1")
    link = first.output["datasets"]["list_items"]["watermark"]["new"]
    assert link.startswith(sc.fake.url + "/v1.0/") and "token=" in link
    sc.fake.expired_delta.add(link.rpartition("token=")[2])
    sc.fake.reset_log()
    cb = env.run("sharepoint365", sc.step_config(page_size=20), run_id="r2")
    assert cb.status == "succeeded", cb.error
    window = cb.output["datasets"]["list_items"]["window"]
    assert window["resumed_from_delta_link"] and window["resynced"]
    assert next(s.status for s in sc.fake.log) == 410
    assert cb.output["datasets"]["list_items"]["rows"] == 50


def test_sharepoint_deleted_items_arrive_with_their_facet(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("sharepoint365", env, 10)
    env.run("sharepoint365", sc.step_config(), run_id="r1")
    feed = sc.fake.graph["/v1.0/sites/site1/lists/list1/items/delta"]
    sc.fake.version += 1
    feed[3] = {"id": feed[3]["id"], "deleted": {"state": "deleted"}, "_v": sc.fake.version}
    cb = env.run("sharepoint365", sc.step_config(), run_id="r2")
    assert cb.output["datasets"]["list_items"]["rows"] == 1
    row = env.warehouse.read(ACCOUNT, sc.table).set_index("id").loc["3"]
    assert row["deleted"] == '{"state":"deleted"}'


def test_ulyses_reads_two_week_windows_up_to_a_year_ahead(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("ulysescloud", env, 20)
    cb = env.run("ulysescloud", sc.step_config())
    assert cb.status == "succeeded"
    windows = {(s.query["from"], s.query["to"]) for s in sc.fake.log}
    spans = [(date.fromisoformat(b) - date.fromisoformat(a)).days + 1 for a, b in windows]
    assert max(spans) == 14
    today = datetime.now(UTC).date()
    assert max(b for _, b in windows) == (today + timedelta(days=365)).isoformat()
    assert min(a for a, _ in windows) == (today - timedelta(days=365)).isoformat()
    assert all(s.query["sort"] == "id" for s in sc.fake.log)
    # The watermark is today, not the end of the look-ahead.
    assert cb.output["datasets"]["roomstays"]["watermark"]["new"] == today.isoformat()


def test_businesscentral_sends_odata_paging_and_filter(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("businesscentral", env, 30)
    env.run("businesscentral", sc.step_config(page_size=10), run_id="r1")
    assert sc.fake.log[0].query == {"$orderby": "lastModifiedDateTime"}
    assert len(sc.fake.log) == 3 and "$skiptoken" in sc.fake.log[1].query
    sc.fake.reset_log()
    env.run("businesscentral", sc.step_config(page_size=10), run_id="r2")
    assert sc.fake.log[0].query["$filter"].startswith("lastModifiedDateTime gt 20")
    frame = env.warehouse.read(ACCOUNT, sc.table)
    assert "odata_etag" in frame.columns and "@odata.etag" not in frame.columns


def test_fourvenues_fans_out_over_events(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("fourvenues", env, 40)
    cb = env.run("fourvenues", sc.step_config(event_ids=["ev1", "ev2"]))
    assert cb.output["datasets"]["tickets"]["rows"] == 20
    assert {s.query["event_id"] for s in sc.fake.log} == {"ev1", "ev2"}
    frame = env.warehouse.read(ACCOUNT, sc.table)
    assert set(frame["event_id"]) == {"ev1", "ev2"}
    assert frame["updated_at"].dtype.kind == "i"  # epoch ms land as they came


def test_holded_rescans_a_trailing_sixty_days(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("holded", env, 40)
    env.run("holded", sc.step_config(), run_id="r1")
    sc.fake.reset_log()
    env.run("holded", sc.step_config(), run_id="r2")
    start = datetime.fromtimestamp(int(sc.fake.log[0].query["starttmp"]), UTC).date()
    assert start == datetime.now(UTC).date() - timedelta(days=60)


def test_holded_reference_data_is_a_full_refresh(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("holded", env, 1)
    sc.fake.data["/contacts"] = [{"id": f"c{i}", "name": f"Contact {i}"} for i in range(7)]
    for run in ("r1", "r2"):
        cb = env.run("holded", sc.step_config(datasets=["contacts"]), run_id=run)
        assert cb.output["datasets"]["contacts"]["rows"] == 7
        assert cb.output["datasets"]["contacts"]["watermark"]["new"] is None


def test_reviewpro_lodgings_daily_index_and_reviews(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("reviewpro", env, 1)
    today = datetime.now(UTC).date()
    sc.fake.reviews = [
        {
            "id": f"rv{i}",
            "pid": 12345,
            "source": "booking.com",
            "rating": 4 + i % 2,
            "publishedDate": (today - timedelta(days=i)).isoformat(),
            "language": "es",
        }
        for i in range(25)
    ]
    config = sc.step_config(
        datasets=["lodgings", "daily index", "Reviews"],
        date_from=str(today - timedelta(days=9)),
        page_size=4,
    )
    cb = env.run("reviewpro", config)
    assert cb.status == "succeeded", cb.error
    out = cb.output["datasets"]
    assert (out["lodgings"]["rows"], out["daily_index"]["rows"], out["reviews"]["rows"]) == (
        1,
        10,
        10,
    )
    index = env.warehouse.read(ACCOUNT, "raw.reviewpro_daily_index")
    assert set(index["rt"]) == {"OVERALL"} and set(index["pid"]) == {12345}
    pages = [s.query for s in sc.fake.log if s.path.endswith("summaries")]
    assert [(p["st"], p["rw"]) for p in pages] == [("0", "4"), ("4", "4"), ("8", "4")]


def test_a_backfill_window_never_moves_the_watermark_back(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("avalon", env, 80)
    first = env.run("avalon", sc.step_config(), run_id="r1")
    mark = first.output["datasets"]["reservations"]["watermark"]["new"]
    sc.fake.reset_log()
    lo = datetime.now(UTC).date() - timedelta(days=20)
    cb = env.run(
        "avalon",
        sc.step_config(date_from=str(lo), date_to=str(lo + timedelta(days=5))),
        run_id="r2",
    )
    assert sc.fake.log[0].query["updated_from"] == f"{lo}T00:00:00Z"
    assert sc.fake.log[0].query["updated_to"] == f"{lo + timedelta(days=6)}T00:00:00Z"
    out = cb.output["datasets"]["reservations"]
    assert 0 < out["rows"] < 80 and out["watermark"]["new"] == mark


def test_landed_columns_are_top_level_fields_nested_as_json(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("avalon", env, 5)
    env.run("avalon", sc.step_config())
    frame = env.warehouse.read(ACCOUNT, sc.table)
    source = {r["id"]: r for r in sc.records()}
    assert list(frame.columns) == [*source["R0000000"].keys(), "_landed_at", "_run_id"]
    assert frame.set_index("id").loc["R0000001", "guest"] == '{"name":"Guest 1","country":"ES"}'
    assert isinstance(frame["_landed_at"].dtype, pd.DatetimeTZDtype)
