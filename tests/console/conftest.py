"""Fixtures of the console tests: a local store with a finished demo-like run and a failed run,
made by the embedded runtime with ms-echo steps, and the API app serving them on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mhi.api.app import create_app
from mhi.api.auth import LocalAuth
from mhi.config import Settings
from mhi.model.keys import RunRef
from mhi.ops.service import OpsService
from mhi.ops.wiring import build
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services

CHART = "charts/demo-hotels/demo-echo/20260101T060000Z-demo/kpi/adr.png"
ACTOR = "ana@hotel-team.example"
HOSTILE = "eve <script>alert(1)</script>@team"
DEMO = {
    "flow_id": "demo-echo",
    "account": "demo-hotels",
    "name": "Demo-like: extract, fan out, model, report",
    "schedule": {"cron": "0 6 * * *", "time_zone": "Europe/Madrid"},
    "flow_config": {
        "steps": [
            {"id": "extract", "type": "ms-echo", "config": {"rows": 3}},
            {
                "id": "per-hotel",
                "type": "ms-echo",
                "depends_on": ["extract"],
                "for_each": ["city", "resort"],
                "config": {"hotel": "{{ item }}"},
            },
            {
                "id": "model",
                "type": "ms-echo",
                "depends_on": ["per-hotel"],
                "retry": {"max_attempts": 2, "initial_backoff_seconds": 0.05},
                "config": {"fail_until_attempt": 2, "file": "gs://demo-bucket/model.csv"},
            },
            {
                "id": "report",
                "type": "ms-echo",
                "depends_on": ["model"],
                "config": {
                    "headline": [{"hotel": "City Hotel", "period": "2017-08-01", "adr": 118.5}],
                    "charts": [f"gs://demo-bucket/{CHART}"],
                },
            },
        ]
    },
    "notifications": {"success": {"type": ["outbox"], "recipients": "team@example.com"}},
}
NIGHTLY = {
    "flow_id": "nightly",
    "account": "acme",
    "flow_config": {
        "steps": [
            {"id": "extract", "type": "ms-echo", "config": {"rows": 2}},
            {
                "id": "load",
                "type": "ms-echo",
                "depends_on": ["extract"],
                "retry": {"max_attempts": 1},
                "config": {"fail_until_attempt": 2},
            },
            {"id": "publish", "type": "ms-echo", "depends_on": ["load"]},
        ]
    },
}


def _chart() -> bytes:
    """A small ADR trend chart as PNG (matplotlib, as the KPI step draws them)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 2.4), dpi=80)
    axes.plot(["May", "Jun", "Jul", "Aug"], [101.2, 109.8, 121.0, 118.5], marker="o")
    axes.set_title("ADR, City Hotel")
    out = io.BytesIO()
    figure.savefig(out, format="png")
    plt.close(figure)
    return out.getvalue()


@dataclass
class Console:
    """A served console: its base URL, the service behind it and the two runs it holds."""

    base: str
    ops: OpsService
    runtime: EmbeddedRuntime
    demo: RunRef
    failed: RunRef

    def wait(self, ref: RunRef, status: str) -> dict[str, Any]:
        """The run once it reached `status` (the runtime is idle in between)."""
        for _ in range(200):
            self.runtime.wait_idle(5.0)
            run = self.ops.show(ref)
            if run["status"] == status:
                return run
        raise AssertionError(f"run {ref.run_id} never reached {status}: {run['status']}")


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    """The app over the two runs, served on 127.0.0.1 (stopped after the test)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    for flow in (DEMO, NIGHTLY):
        (flows / f"{flow['flow_id']}.json").write_text(json.dumps(flow))
    monkeypatch.setenv("MHI_FLOWS_DIR", str(flows))
    monkeypatch.setenv("MHI_HOME", str(tmp_path / "home"))
    with EmbeddedRuntime(Services(Settings.from_env())) as runtime:
        ops = build(runtime.services, runtime=runtime)
        by = {"actor": ACTOR, "via": "cli"}
        demo = ops.start("demo-echo", {}, by, "20260101T060000Z-demo")
        failed = ops.start("nightly", {}, by, "20260102T060000Z-fail")
        runtime.services.blobs.write_bytes(CHART, _chart(), "image/png")
        served = Console("", ops, runtime, demo, failed)
        served.wait(demo, "succeeded")
        served.wait(failed, "failed")
        with serve(ops, runtime) as base:
            served.base = base
            yield served


@contextmanager
def serve(ops: OpsService, runtime: EmbeddedRuntime) -> Iterator[str]:
    """The console's app over `ops` on 127.0.0.1 (stopped on exit); yields its base URL."""
    from werkzeug.serving import make_server

    app = create_app(ops, LocalAuth(None, ACTOR), runtime.services.blobs)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
