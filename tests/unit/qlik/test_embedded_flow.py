"""A whole flow in the embedded runtime: extract -> Qlik reload (polled across turns) -> notify."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from mhi.adapters.local.env_secrets import EnvSecretStore, env_var
from mhi.config import Settings
from mhi.notify import NotifyOptions, make_notifications
from mhi.runtime.embedded import EmbeddedRuntime
from mhi.services import Services
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify import FakeQlikCloud, Script
from tests.unit.qlik._values import API_KEY

APP = "116dbfae-7fb9-4983-8e23-5ccd8c508722"


@pytest.mark.integration
def test_reload_waits_without_blocking_and_the_notification_quotes_upstream_output(
    cloud: FakeQlikCloud, tmp_path: Path, reload_kind: StepKind
) -> None:
    cloud.apps[APP] = Script(polls=2)
    services = Services(
        # the imitation Qlik Cloud listens on 127.0.0.1: loopback allowed, Qlik hosts widened
        Settings(
            home=tmp_path,
            allow_loopback_urls=True,
            extra={"MHI_QLIK_CLOUD_HOSTS": "127.0.0.1"},
        ),
        secrets=EnvSecretStore(None, environ={env_var("hotel-fergus", "qlik-api-key"): API_KEY}),
    )
    flow = {
        "flow_id": "nightly-qlik",
        "account": "hotel-fergus",
        "name": "Nightly Qlik",
        "flow_config": {
            "steps": [
                {"id": "extract", "type": "ms-echo", "config": {"rows": 1200}},
                {
                    "id": "reload",
                    "type": "ms-qlik-app-reload",
                    "depends_on": ["extract"],
                    "config": {"tenant_url": cloud.url, "apps": APP, "poll_seconds": 1},
                },
                {
                    "id": "tell",
                    "type": "ms-notifications",
                    "depends_on": ["extract", "reload"],
                    "config": {
                        "type": "outbox",
                        "recipients": "gm@example.com",
                        "subject": "Rows: {{ steps.extract.output.rows }}, reload "
                        "{{ steps.reload.output.jobs[0].status }}",
                    },
                },
            ]
        },
    }
    kinds = {
        "ms-qlik-app-reload": reload_kind,
        "ms-notifications": make_notifications(NotifyOptions(sleep=lambda s: None)),
    }
    with EmbeddedRuntime(services, extra_kinds=kinds, sweep_interval=0.5) as runtime:
        ref = runtime.start_json(flow)
        state = runtime.wait(ref, timeout=60)
    assert state.done is not None and state.done["status"] == "succeeded", state.done
    assert len(cloud.started()) == 1
    assert len(cloud.calls("GET", "/api/v1/reloads/")) == 2  # two polls, two later turns
    keys = services.blobs.list("outbox/hotel-fergus/nightly-qlik/")
    assert len(keys) == 1 and keys[0].endswith("/tell/gm@example.com.eml")
    mail = email.message_from_bytes(
        services.blobs.read_bytes(keys[0]) or b"", policy=email.policy.default
    )
    assert mail["Subject"] == "Rows: 1200, reload SUCCEEDED"
