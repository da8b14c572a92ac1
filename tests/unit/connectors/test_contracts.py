"""What the vendors' published contracts say, against imitation servers that follow them
(issue 21): Holded pages end only when empty, FourVenues tickets are read per event, Ulyses
Cloud's undocumented datasets are opt-in, ReviewPro accepts either documented shape, OData
filters travel with `%20`. And watermarks that two flows cannot share by accident (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mhi.connectors.state import watermark_scope
from mhi.connectors.systems.fourvenues import UNCONFIRMED_DATE_FILTER
from tests.fakes.apis.scenarios import ACCOUNT, build
from tests.unit.connectors.conftest import Env


def test_holded_reads_pages_of_250_until_an_empty_page(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("holded", env, 1)
    today = datetime.now(UTC).date()
    sc.fake.data["/documents/invoice"] = [sc.fake.make(i, today) for i in range(600)]
    cb = env.run("holded", sc.step_config())
    assert cb.status == "succeeded", cb.error
    out = cb.output["datasets"]["invoices"]
    # 250 + 250 + 100 + an empty page: ending on the first short page (as Holded's 500 was
    # assumed) would have stopped after 250 records with no error.
    assert out["rows"] == 600 and out["pages"] == 4
    assert [len(s.ids) for s in sc.fake.log] == [250, 250, 100, 0]
    assert [s.query["page"] for s in sc.fake.log] == ["1", "2", "3", "4"]


def test_holded_takes_no_page_size(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("holded", env, 3)
    cb = env.run("holded", sc.step_config(page_size=50))
    assert cb.error is not None and cb.error.kind == "invalid_config"
    assert "Holded takes no page size" in cb.error.message and sc.fake.data_requests == 0


def test_fourvenues_lists_events_first_then_tickets_per_event(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("fourvenues", env, 40)
    cb = env.run("fourvenues", sc.step_config())
    assert cb.status == "succeeded", cb.error
    out = cb.output["datasets"]["tickets"]
    assert out["rows"] == 40 and out["listings"] == 4
    paths = [s.path for s in sc.fake.log]
    assert paths[0] == "/events/" and set(paths[1:]) == {"/tickets/"}
    assert sorted(s.query["event_id"] for s in sc.fake.log[1:]) == ["ev0", "ev1", "ev2", "ev3"]


def test_fourvenues_named_events_need_no_listing(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("fourvenues", env, 40)
    cb = env.run("fourvenues", sc.step_config(event_ids=["ev1", "ev2", "ev1"]))
    assert cb.output["datasets"]["tickets"]["rows"] == 20
    assert {s.path for s in sc.fake.log} == {"/tickets/"}
    assert sorted(s.query["event_id"] for s in sc.fake.log) == ["ev1", "ev2"]


def test_fourvenues_rejects_tickets_without_an_event(env: Env, scenario_for: Any) -> None:
    """The imitation server behaves as the docs describe: tickets are listed given an event."""
    import requests

    sc = scenario_for("fourvenues", env, 4)
    answer = requests.get(
        sc.fake.url + "/tickets/", headers={"X-Api-Key": sc.secrets["fourvenues-api-key"]}
    )
    assert answer.status_code == 400 and "event_id" in answer.text


def test_fourvenues_incremental_filter_names_come_from_one_constant(
    env: Env, scenario_for: Any
) -> None:
    sc = scenario_for("fourvenues", env, 12)
    env.run("fourvenues", sc.step_config(), run_id="r1")
    sc.fake.reset_log()
    env.run("fourvenues", sc.step_config(), run_id="r2")
    tickets = [s.query for s in sc.fake.log if s.path == "/tickets/"]
    f = UNCONFIRMED_DATE_FILTER
    assert tickets and all(q[f.field_param] == f.field_value for q in tickets)
    assert all(q[f.start_param].endswith("Z") for q in tickets)


def test_ulyses_reads_only_the_documented_dataset_by_default(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("ulysescloud", env, 10)
    sc.fake.seed("invoice", 6, datetime.now(UTC).date())
    cb = env.run("ulysescloud", sc.step_config(datasets=None))
    assert cb.status == "succeeded", cb.error
    assert list(cb.output["datasets"]) == ["invoices"]
    assert cb.output["datasets"]["invoices"]["unconfirmed"] is None
    assert {s.path.rsplit("/", 1)[1] for s in sc.fake.log} == {"invoice"}


def test_ulyses_undocumented_datasets_are_opt_in_and_marked(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("ulysescloud", env, 10)
    cb = env.run("ulysescloud", sc.step_config(datasets=["roomstays"]))
    assert cb.status == "succeeded", cb.error
    assert "/roomstay" in cb.output["datasets"]["roomstays"]["unconfirmed"]


def test_ulyses_path_prefix_comes_from_the_accounts_secret(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("ulysescloud", env, 1)
    sc.fake.prefix = "/public/api/v1/con/chain/1/property/2/"
    sc.fake.seed("invoice", 5, datetime.now(UTC).date())
    env.add_secrets(ACCOUNT, {"ulysescloud-base-url": sc.fake.url + "/public/api/v1/con"})
    cb = env.run("ulysescloud", sc.step_config(datasets=["invoices"]))
    assert cb.status == "succeeded", cb.error
    assert cb.output["datasets"]["invoices"]["rows"] == 5
    assert all(s.path.startswith("/public/api/v1/con/chain/1/") for s in sc.fake.log)


@pytest.mark.parametrize(
    "shape",
    [lambda rows: rows, lambda rows: {"data": rows}, lambda rows: {"count": 3, "items": rows}],
    ids=["bare-array", "data-envelope", "other-envelope"],
)
def test_reviewpro_accepts_a_bare_array_or_a_one_array_envelope(
    shape: Any, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for("reviewpro", env, 1)
    sc.fake.shape = shape
    since = datetime.now(UTC).date() - timedelta(days=30)
    config = sc.step_config(datasets=["lodgings", "daily_index"], date_from=str(since))
    cb = env.run("reviewpro", config)
    assert cb.status == "succeeded", cb.error
    assert cb.output["datasets"]["lodgings"]["rows"] == 1
    assert cb.output["datasets"]["daily_index"]["rows"] == 31


def test_reviewpro_fails_loudly_on_any_other_shape(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("reviewpro", env, 1)
    sc.fake.shape = lambda rows: {"data": rows, "previous": rows}
    cb = env.run("reviewpro", sc.step_config(datasets=["lodgings"]))
    assert cb.error is not None and cb.error.kind == "unexpected_response"
    assert "one array" in cb.error.message and "previous" in cb.error.message


def test_reviewpro_survey_responses_are_opt_in(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("reviewpro", env, 5)
    cb = env.run("reviewpro", sc.step_config(datasets=None, date_from=None))
    assert cb.status == "succeeded", cb.error
    assert "survey_responses" not in cb.output["datasets"]
    assert not [s for s in sc.fake.log if s.path.startswith("/v3/")]


def test_odata_filters_travel_with_percent_20(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("businesscentral", env, 30)
    env.run("businesscentral", sc.step_config(page_size=10), run_id="r1")
    sc.fake.reset_log()
    cb = env.run("businesscentral", sc.step_config(page_size=10), run_id="r2")
    assert cb.status == "succeeded", cb.error  # the fake answers 400 to a '+' in $filter
    assert sc.fake.log[0].query["$filter"].startswith("lastModifiedDateTime gt ")


def test_two_flows_reading_different_installations_keep_their_own_watermarks(
    env: Env, scenario_for: Any
) -> None:
    """Fails with watermarks keyed by account x system x dataset only: the second flow would
    resume from the first flow's watermark and skip most of its own records."""
    first = scenario_for("avalon", env, 60)
    second = build("avalon")
    try:
        second.seed(60)
        env.add_secrets(
            ACCOUNT,
            {
                "avalon-palma-api-key": second.secrets["avalon-api-key"],
                "avalon-palma-base-url": second.fake.url,
            },
        )
        a = env.run("avalon", first.step_config(), run_id="a1")
        b = env.run("avalon", first.step_config(credentials="avalon-palma"), run_id="b1")
    finally:
        second.fake.stop()
    assert (a.status, b.status) == ("succeeded", "succeeded"), (a.error, b.error)
    assert b.output["datasets"]["reservations"]["watermark"]["previous"] is None
    assert b.output["datasets"]["reservations"]["rows"] == 60
    assert len(env.blobs.list(f"state/watermarks/{ACCOUNT}/avalon/reservations/")) == 2


def test_a_watermark_scope_ignores_list_order_and_includes_the_target() -> None:
    target = {"table": "raw.reviewpro_reviews", "raw": "raw/a/reviewpro/reviews/run=*/"}
    one = watermark_scope("reviewpro", {"pids": [2, 1]}, target)
    assert one == watermark_scope("reviewpro", {"pids": [1, 2]}, target)
    assert one != watermark_scope("reviewpro", {"pids": [1]}, target)
    assert one != watermark_scope("reviewpro", {"pids": [1, 2]}, {**target, "table": "raw.x"})
    assert one.startswith("reviewpro-") and one != watermark_scope("rp2", {"pids": [1, 2]}, target)


def test_a_next_link_to_another_host_is_refused_before_any_token_is_sent(
    env: Env, scenario_for: Any
) -> None:
    """Graph's next links are followed as given, so they are checked like any URL: a link to a
    host outside the system's hosts (here `localhost` beside the operator's `127.0.0.1`) is
    refused, and that host never sees the bearer token."""
    sc = scenario_for("sharepoint365", env, 50)
    elsewhere = build("avalon")  # any other listener
    try:
        sc.fake.link_root = f"http://localhost:{elsewhere.fake.url.rsplit(':', 1)[1]}"
        cb = env.run("sharepoint365", sc.step_config(page_size=20))
        seen = elsewhere.fake.log
    finally:
        elsewhere.fake.stop()
    assert cb.error is not None and cb.error.kind == "url_refused"
    assert "host localhost is not one of sharepoint365's API hosts" in cb.error.message
    assert seen == [] and sc.fake.data_requests == 1
    assert not env.blobs.list(f"state/watermarks/{ACCOUNT}/")
