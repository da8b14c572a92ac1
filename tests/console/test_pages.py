"""The console's pages over HTTP (Flask's test client on the served runs): authentication,
escaping, filters, for_each folding, the flow page, clear errors, and actions audited by the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from mhi.api.app import create_app
from mhi.api.auth import LocalAuth
from mhi.api.console_pages import next_fires
from tests.console.conftest import ACTOR, CHART, HOSTILE, Console

PAGES = ("/ui/runs", "/ui/flows", "/ui/flows/nightly", "/ui/static/console.css")


def _client(console: Console, token: str | None = None) -> Any:
    blobs = console.runtime.services.blobs
    return create_app(console.ops, LocalAuth(token, "bob@team"), blobs).test_client()


def _path(console: Console, which: str) -> str:
    ref = getattr(console, which)
    return f"/ui/runs/{ref.account}/{ref.flow_id}/{ref.run_id}"


def test_pages_and_actions_need_the_api_token(console: Console) -> None:
    client = _client(console, token="s3cret")
    run = _path(console, "failed")
    for path in (*PAGES, run):
        assert client.get(path).status_code == 401, path
    refused = client.post("/api/v1" + run.removeprefix("/ui") + "/rerun", json={})
    assert refused.status_code == 401
    assert console.ops.show(console.failed)["status"] == "failed"
    ok = client.get(run, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.headers["Content-Security-Policy"].startswith("default-src")


def test_user_data_is_escaped(console: Console) -> None:
    blobs = console.runtime.services.blobs
    client = create_app(console.ops, LocalAuth(None, HOSTILE), blobs).test_client()
    edits = {"reason": "<img src=x onerror=alert(2)>", "set": {"load": {"note": "<b>x</b>"}}}
    api = "/api/v1" + _path(console, "failed").removeprefix("/ui")
    assert client.post(api + "/rerun", json=edits).status_code == 202
    console.wait(console.failed, "succeeded")
    html = client.get(_path(console, "failed")).get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>x" not in html
    assert "eve &lt;script&gt;alert(1)&lt;/script&gt;@team" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert ACTOR in client.get("/ui/runs").get_data(as_text=True)


def test_runs_filters_and_clear_errors(console: Console) -> None:
    client = _client(console)
    failed = client.get("/ui/runs?status=failed").get_data(as_text=True)
    assert console.failed.run_id in failed and console.demo.run_id not in failed
    by_flow = client.get("/ui/runs?flow=demo-echo&since=7d").get_data(as_text=True)
    assert console.demo.run_id in by_flow and console.failed.run_id not in by_flow
    later = client.get("/ui/runs?since=2999-01-01").get_data(as_text=True)
    assert "No run matches" in later
    for path, status, words in [
        ("/ui/runs?since=yesterday", 400, "expected 30d"),
        ("/ui/runs?status=done", 400, "status"),
        ("/ui/runs?limit=x", 400, "limit must be an integer"),
        ("/ui/runs/acme/nightly/nope", 404, "nope"),
        ("/ui/flows/nope", 404, "no stored flow"),
        ("/ui/static/../app.py", 404, ""),
    ]:
        answer = client.get(path)
        assert answer.status_code == status, path
        assert words in answer.get_data(as_text=True), path


def test_for_each_children_fold_into_their_parent(console: Console) -> None:
    client = _client(console)
    folded = client.get(_path(console, "demo")).get_data(as_text=True)
    assert "per-hotel.0" not in folded and "2 items: 2 succeeded" in folded
    assert re.findall(r'data-step="([^"]+)"', folded)[:4] == [
        "extract",
        "per-hotel",
        "model",
        "report",
    ]
    opened = client.get(_path(console, "demo") + "?expand=per-hotel&step=per-hotel.1")
    html = opened.get_data(as_text=True)
    assert "per-hotel.0" in html and 'id="panel" data-step="per-hotel.1"' in html
    assert "&quot;hotel&quot;: &quot;resort&quot;" in html  # the child's output


def test_flow_page_shows_schedule_strip_and_stats(console: Console) -> None:
    client = _client(console)
    html = client.get("/ui/flows/demo-echo").get_data(as_text=True)
    assert "0 6 * * *" in html and "Europe/Madrid" in html
    assert html.count('class="bar st-succeeded"') == 1
    assert "Next fire times" in html and "&quot;flow_id&quot;: &quot;demo-echo&quot;" in html
    flow = console.ops.flow("demo-echo")
    fires = next_fires(flow, datetime(2026, 1, 1, tzinfo=UTC), 3)
    assert [f.isoformat() for f in fires] == [
        "2026-01-01T05:00:00+00:00",
        "2026-01-02T05:00:00+00:00",
        "2026-01-03T05:00:00+00:00",
    ]


def test_an_action_of_the_page_is_audited_by_the_api(console: Console) -> None:
    client = _client(console)
    html = client.get(_path(console, "failed")).get_data(as_text=True)
    endpoint = re.search(r'data-action="rerun-from" data-url="([^"]+)"', html)
    assert endpoint is not None
    answer = client.post(endpoint.group(1), json={"from_step": "load", "reason": "fixed"})
    assert answer.status_code == 202 and answer.get_json()["steps"] == ["load", "publish"]
    run = console.wait(console.failed, "succeeded")
    assert [(a["action"], a["by"]["actor"]) for a in run["audit"]][-1] == ("rerun", "bob@team")


def test_headline_figures_and_charts_of_a_run(console: Console) -> None:
    client = _client(console)
    html = client.get(_path(console, "demo")).get_data(as_text=True)
    assert "Headline figures" in html and "City Hotel" in html and "118.5" in html
    src = re.search(r'<img src="([^"]+)"', html)
    assert src is not None and src.group(1).endswith("/kpi/adr.png")
    chart = client.get(src.group(1))
    assert chart.status_code == 200 and chart.mimetype == "image/png"
    assert chart.data.startswith(b"\x89PNG")
    other = src.group(1).replace(console.demo.run_id, console.failed.run_id)
    for path in (other, src.group(1).replace("kpi/adr.png", "kpi/../adr.png"), "/ui/charts/x"):
        assert client.get(path).status_code == 404, path
    assert CHART.endswith("adr.png")


def test_an_action_must_be_a_json_post(console: Console) -> None:
    client = _client(console)
    api = "/api/v1" + _path(console, "failed").removeprefix("/ui")
    for kind in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        answer = client.post(api + "/rerun", data="", content_type=kind)
        assert answer.status_code == 415 and "JSON" in answer.get_json()["error"]["message"]
    assert client.post(api + "/rerun").status_code == 415  # no body, no type: refused too
    assert [a["action"] for a in console.ops.show(console.failed)["audit"]] == ["start"]


def test_without_a_token_only_requests_to_this_machine_are_served(console: Console) -> None:
    client = _client(console)
    for host in ("localhost", "127.0.0.1:8080", "[::1]:8080"):
        assert client.get("/ui/runs", headers={"Host": host}).status_code == 200, host
    api = "/api/v1" + _path(console, "failed").removeprefix("/ui")
    for host in ("rebound.example:8080", "192.168.1.9:8080", "localhost.example", ""):
        headers = {"Host": host}
        assert client.get("/ui/runs", headers=headers).status_code == 401, host
        assert client.post(api + "/rerun", json={}, headers=headers).status_code == 401, host
    assert [a["action"] for a in console.ops.show(console.failed)["audit"]] == ["start"]
