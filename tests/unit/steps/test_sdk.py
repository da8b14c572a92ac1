"""The step SDK turns whatever a handler does into exactly one callback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.config import Settings
from mhi.errors import AuthError, InvalidMessageError, UpstreamUnavailableError
from mhi.model.messages import CallbackStatus, StepMessage, encode
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind, Wait, handle_step_message, run_step
from tests.fakes.bus import RecordingBus


class Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: int = 1
    mode: str = "ok"


def _handler(ctx: StepContext, cfg: Cfg) -> Any:
    if cfg.mode == "boom":
        raise ZeroDivisionError("division by zero")
    if cfg.mode == "auth":
        raise AuthError("credentials rejected by Avalon (401)")
    if cfg.mode == "busy":
        raise UpstreamUnavailableError("429 after 6 tries")
    if cfg.mode == "wait":
        return Wait({"job": "j1", "polls": (ctx.continuation or {}).get("polls", 0) + 1}, 5)
    if cfg.mode == "huge":
        return {"data": "x" * 100_000}
    if cfg.mode == "list":
        return [1, 2]
    if cfg.mode == "notjson":
        return {"x": {1, 2}}
    return {"rows": cfg.rows, "upstream": ctx.upstream, "account": ctx.account}


KIND = StepKind("ms-test", Cfg, _handler, "test kind")


def _msg(config: dict[str, Any], **kw: Any) -> StepMessage:
    fields = {
        "run_id": "r1",
        "flow_id": "f",
        "account": "acme",
        "step_id": "s",
        "attempt": 1,
        "type": "ms-test",
        "config": config,
        "callback_topic": "ms-flows-callbacks",
        "deadline": datetime.now(UTC) + timedelta(minutes=5),  # from when the test runs
        "upstream": {"up": {"n": 1}},
        **kw,
    }
    return StepMessage(**fields)


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def services(tmp_path: Path, bus: RecordingBus) -> Services:
    return Services(Settings(home=tmp_path), run_store=FsRunStore(tmp_path / "state"), bus=bus)


def test_success_carries_output_and_metrics(services: Services) -> None:
    cb = run_step(_msg({"rows": 5}), KIND, services)
    assert cb.status == CallbackStatus.SUCCEEDED
    assert cb.output == {"rows": 5, "upstream": {"up": {"n": 1}}, "account": "acme"}
    assert cb.metrics["rows"] == 5 and cb.metrics["duration_seconds"] >= 0


@pytest.mark.parametrize(
    ("config", "kind", "retryable", "text"),
    [
        ({"mode": "boom"}, "unexpected", True, "ZeroDivisionError: division by zero"),
        ({"mode": "auth"}, "auth", False, "credentials rejected"),
        ({"mode": "busy"}, "upstream_unavailable", True, "429"),
        ({"rows": "many"}, "invalid_config", False, "config.rows: Input should be a valid integer"),
        ({"rowz": 1}, "invalid_config", False, "config.rowz: unknown field"),
        ({"mode": "huge"}, "output_too_large", False, "the limit is 65536"),
        ({"mode": "list"}, "bad_output", False, "expected a JSON object"),
        ({"mode": "notjson"}, "bad_output", False, "not JSON"),
    ],
)
def test_failures_become_failed_callbacks(
    services: Services, config: dict[str, Any], kind: str, retryable: bool, text: str
) -> None:
    cb = run_step(_msg(config), KIND, services)
    assert cb.status == CallbackStatus.FAILED and cb.error is not None
    assert (cb.error.kind, cb.error.retryable) == (kind, retryable)
    assert text in cb.error.message


def test_wait_asks_to_be_polled_with_state(services: Services) -> None:
    cb = run_step(_msg({"mode": "wait"}, turn=2, continuation={"polls": 2}), KIND, services)
    assert cb.status == CallbackStatus.WAITING
    assert (
        cb.continuation == {"job": "j1", "polls": 3} and cb.poll_after_seconds == 5 and cb.turn == 2
    )


def test_a_duplicate_delivery_runs_nothing_and_resends_the_stored_callback(
    services: Services, bus: RecordingBus
) -> None:
    calls: list[int] = []

    def counting(ctx: StepContext, cfg: Cfg) -> Any:
        calls.append(1)
        return {"rows": cfg.rows}

    kind = StepKind("ms-test", Cfg, counting)
    data = encode(_msg({"rows": 2}))
    first = handle_step_message(data, services, "ms-test", lambda t: kind)
    again = handle_step_message(data, services, "ms-test", lambda t: kind)
    assert calls == [1]  # the handler ran once
    assert first is not None and again == first
    sent = bus.published
    assert [s[1] for s in sent] == [sent[0][1]] * 2 and sent[0][0] == "ms-flows-callbacks"
    assert json.loads(sent[0][1])["output"]["rows"] == 2


def test_a_callback_whose_publish_failed_is_resent_by_the_redelivery(services: Services) -> None:
    calls: list[int] = []

    def counting(ctx: StepContext, cfg: Cfg) -> Any:
        calls.append(1)
        return {"rows": cfg.rows}

    kind = StepKind("ms-test", Cfg, counting)
    data = encode(_msg({"rows": 2}))
    down = RecordingBus(UpstreamUnavailableError("publish: not confirmed"))
    failing = Services(services.settings, run_store=services.run_store, bus=down)
    with pytest.raises(UpstreamUnavailableError):
        handle_step_message(data, failing, "ms-test", lambda t: kind)  # Pub/Sub redelivers
    up = RecordingBus()
    working = Services(services.settings, run_store=services.run_store, bus=up)
    again = handle_step_message(data, working, "ms-test", lambda t: kind)
    assert calls == [1]  # the handler ran once; the stored callback is re-sent
    assert again is not None and again.output == {"rows": 2}
    assert [json.loads(p.data)["output"] for p in up.published] == [{"rows": 2}]


def test_a_duplicate_while_the_first_delivery_runs_is_ignored(
    services: Services, bus: RecordingBus
) -> None:
    data = encode(_msg({"rows": 2}))
    services.run_store.create("runs/acme/f/r1/steps/s/1/started-0.json", b"{}")
    assert handle_step_message(data, services, "ms-test", lambda t: KIND) is None
    assert bus.published == []


def test_message_past_its_deadline_is_not_run(services: Services, bus: RecordingBus) -> None:
    data = encode(_msg({}, deadline=datetime.now(UTC) - timedelta(seconds=1)))
    assert handle_step_message(data, services, "ms-test", lambda t: KIND) is None
    assert bus.published == []


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"nope", "not valid JSON"),
        (b'{"kind": "step"}', "invalid step message"),
        (encode(_msg({})), "delivered to the 'ms-other' function"),
    ],
)
def test_poison_step_messages_raise_invalid_message(
    services: Services, data: bytes, text: str
) -> None:
    with pytest.raises(InvalidMessageError, match=text):
        handle_step_message(data, services, "ms-other", lambda t: KIND)


def test_claim_records_once_per_attempt(services: Services) -> None:
    ctx = StepContext(_msg({}), services)
    assert ctx.claim("reload", {"id": "a"}) == {"id": "a"}
    assert ctx.claim("reload", {"id": "b"}) == {"id": "a"}
