"""End to end on the emulators: real clients, real push delivery, real function processes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC
from tests.integration.conftest import Stack, unique

pytestmark = pytest.mark.integration

FAST_RETRY = {"max_attempts": 3, "initial_backoff_seconds": 0, "jitter": 0}


def _flow(flow_id: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "flow_id": flow_id,
        "account": "acme",
        "run_id": unique("run"),
        "flow_config": {"steps": steps},
        **extra,
    }


def _objects(stack: Stack, prefix: str, suffix: str) -> list[str]:
    return [k[len(prefix) :] for k in stack.store.list(prefix) if k.endswith(suffix)]


def test_a_20_step_diamond_completes_with_one_dispatch_per_step(stack: Stack) -> None:
    middle = [f"m{i:02d}" for i in range(18)]
    steps = [{"id": "root", "type": "ms-echo", "config": {"seed": 7}}]
    steps += [
        {
            "id": m,
            "type": "ms-echo",
            "depends_on": ["root"],
            "config": {"n": i, "seed": "{{ steps.root.output.seed }}"},
        }
        for i, m in enumerate(middle)
    ]
    steps.append({"id": "sink", "type": "ms-echo", "depends_on": middle, "config": {"ok": True}})
    flow = _flow(unique("diamond"), steps)
    prefix = stack.start(flow)
    done = stack.wait_done(prefix)
    assert done["status"] == "succeeded", done
    assert len(_objects(stack, prefix, "/dispatched.json")) == 20
    results = _objects(stack, prefix, "/result.json")
    assert sorted(r.split("/")[1] for r in results) == sorted(["root", *middle, "sink"])
    m05 = stack.read_json(prefix + "steps/m05/1/result.json") or {}
    assert m05["output"] == {"n": 5, "seed": 7}


def test_a_failing_step_is_retried_per_policy_then_the_run_fails_with_the_error(
    stack: Stack,
) -> None:
    steps = [
        {
            "id": "flaky",
            "type": "ms-echo",
            "config": {"fail_until_attempt": 2, "fail_message": "flaky upstream"},
            "retry": FAST_RETRY,
        },
        {
            "id": "broken",
            "type": "ms-echo",
            "depends_on": ["flaky"],
            "config": {"fail_until_attempt": 99, "fail_message": "still down"},
            "retry": {**FAST_RETRY, "max_attempts": 2},
        },
        {"id": "after", "type": "ms-echo", "depends_on": ["broken"]},
    ]
    prefix = stack.start(_flow(unique("retry"), steps))
    done = stack.wait_done(prefix, sweep_every=2.0)
    assert done["status"] == "failed"
    assert done["failed_step"] == "broken"
    assert "still down (attempt 2)" in json.dumps(done["error"])
    flaky = [stack.read_json(f"{prefix}steps/flaky/{n}/result.json") or {} for n in (1, 2)]
    assert [r["status"] for r in flaky] == ["failed", "succeeded"]
    assert flaky[0]["error"]["message"] == "flaky upstream (attempt 1)"
    assert sorted(_objects(stack, prefix, "/result.json")) == [
        "steps/broken/1/result.json",
        "steps/broken/2/result.json",
        "steps/flaky/1/result.json",
        "steps/flaky/2/result.json",
    ]
    assert stack.read_json(prefix + "steps/after/skipped.json") is not None


def test_a_duplicate_start_message_starts_nothing_new(stack: Stack) -> None:
    flow = _flow(unique("dup-start"), [{"id": "only", "type": "ms-echo", "config": {"v": 1}}])
    prefix = stack.start(flow)
    first = stack.wait_done(prefix)
    before = stack.store.list(prefix)
    stack.start(flow)  # the same message again, as an at-least-once redelivery would
    stack.wait_for(
        "the duplicate start to be logged",
        lambda: stack.logged("controller", "duplicate start ignored", flow["run_id"]),
        timeout=30,
    )
    assert stack.store.list(prefix) == before
    assert stack.read_json(prefix + "done.json") == first
    assert (
        len([k for k in stack.store.list(f"runs/acme/{flow['flow_id']}/") if "flow.json" in k]) == 1
    )


def test_a_callback_published_twice_changes_nothing(stack: Stack) -> None:
    tap = stack.tap(CALLBACK_TOPIC)
    steps = [
        {"id": "first", "type": "ms-echo", "config": {"v": 1}},
        {"id": "second", "type": "ms-echo", "depends_on": ["first"], "config": {"v": 2}},
    ]
    flow = _flow(unique("dup-callback"), steps)
    prefix = stack.start(flow)
    done = stack.wait_done(prefix)
    callbacks = []
    while len(callbacks) < 2:
        callbacks += [m for m in stack.pull(tap) if m.attributes["run_id"] == flow["run_id"]]
    before = {k: stack.store.read(k) for k in stack.store.list(prefix)}
    for message in callbacks:
        stack.publish(CALLBACK_TOPIC, message.data, **dict(message.attributes))
    for step in ("first", "second"):
        stack.wait_for(
            f"the duplicate callback of {step} to be ignored",
            lambda step=step: stack.logged(
                "controller", f"duplicate or stale callback for {step} attempt 1", flow["run_id"]
            ),
            timeout=30,
        )
    after = {k: stack.store.read(k) for k in stack.store.list(prefix)}
    assert after == before
    assert stack.read_json(prefix + "done.json") == done


def test_a_step_process_killed_mid_run_is_timed_out_by_the_sweep_and_retried(
    stack: Stack,
) -> None:
    steps = [
        {
            "id": "slow",
            "type": "ms-echo",
            # Attempt 1 is killed while it sleeps; attempt 2 must finish its sleep, on a loaded
            # machine too, well within the timeout.
            "config": {"sleep_seconds": 3, "v": "survived"},
            "timeout_seconds": 12,
            "retry": FAST_RETRY,
        }
    ]
    prefix = stack.start(_flow(unique("killed"), steps))
    stack.wait_for(
        "attempt 1 to start running",
        lambda: stack.store.read(prefix + "steps/slow/1/started-0.json"),
    )
    stack.dev.kill_function("echo")
    stack.dev.start_function("echo")
    done = stack.wait_done(prefix, timeout=60, sweep_every=1.0)
    assert done["status"] == "succeeded", done
    first = stack.read_json(prefix + "steps/slow/1/result.json") or {}
    assert (first["status"], first["error"]["kind"]) == ("failed", "timeout")
    second = stack.read_json(prefix + "steps/slow/2/result.json") or {}
    assert (second["status"], second["output"]) == ("succeeded", {"v": "survived"})


def test_the_seed_style_flow_published_with_the_ordinary_client_runs_to_the_end(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import pubsub_v1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.dev.state.pubsub_host)
    flow_id = unique("daily-echo-extract")
    flow = {
        "flow_id": flow_id,
        "account": "hotel-fergus",
        "name": "Daily extraction (echo stand-ins)",
        "flow_config": {
            "steps": [
                {
                    "id": "extract-reservations",
                    "name": "Extract Reservations",
                    "type": "ms-echo",
                    "config": {"_m_account": "hotel-fergus", "datasets": ["Reservations"]},
                },
                {
                    "id": "model-data",
                    "type": "ms-echo",
                    "depends_on": ["extract-reservations"],
                    "config": {"source": "avalon", "target_schema": "analytics"},
                },
            ]
        },
    }
    # Exactly the seed README's snippet: no run_id, the ordinary publisher client.
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(stack.project, CONTROLLER_TOPIC)
    publisher.publish(topic, json.dumps(flow).encode("utf-8")).result(10)

    def finished() -> str | None:
        dones = [k for k in stack.store.list(f"runs/hotel-fergus/{flow_id}/") if "done.json" in k]
        return dones[0] if dones else None

    key = stack.wait_for("the seed-style run to finish", finished)
    assert (stack.read_json(key) or {})["status"] == "succeeded"


def test_flow_ref_starts_run_flows_stored_in_the_flows_bucket(stack: Stack) -> None:
    flow_id = unique("stored")
    flow = {
        "flow_id": flow_id,
        "account": "acme",
        "params": {"greeting": {"default": "hi"}},
        "flow_config": {
            "steps": [{"id": "s", "type": "ms-echo", "config": {"g": "{{ params.greeting }}"}}]
        },
    }
    bucket = stack.dev.storage_client().bucket("mhi-flows")
    bucket.blob(f"{flow_id}.json").upload_from_string(json.dumps(flow))
    run_id = unique("ref")
    stack.publish(
        CONTROLLER_TOPIC, {"flow_ref": flow_id, "params": {"greeting": "hola"}, "run_id": run_id}
    )
    prefix = f"runs/acme/{flow_id}/{run_id}/"
    assert stack.wait_done(prefix)["status"] == "succeeded"
    assert (stack.read_json(prefix + "steps/s/1/result.json") or {})["output"] == {"g": "hola"}


def test_poison_messages_are_acknowledged_and_logged(stack: Stack) -> None:
    seen = stack.log("controller").count("acknowledged without effect")
    stack.publish(CONTROLLER_TOPIC, b"{not json")
    stack.publish(CONTROLLER_TOPIC, {"flow_id": unique("poison"), "account": "acme"})
    log = stack.wait_for(
        "both poison messages to be logged",
        lambda: (
            (text := stack.log("controller")).count("acknowledged without effect") >= seen + 2
            and text
        ),
        timeout=30,
    )
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    rejected = [r for r in lines if "acknowledged without effect" in r["message"]][seen:]
    assert any("not valid JSON" in r["message"] for r in rejected)
    assert any("$.flow_config: Field required" in r["message"] for r in rejected)
    assert all(r["severity"] == "ERROR" for r in rejected)
