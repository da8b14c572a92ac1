"""What the Cloud Functions call: decode the Pub/Sub CloudEvent, route it, apply the error policy.

Error policy (Pub/Sub push with retry on; the deploy attaches dead-letter topics):
  - a message that can never be processed (bad JSON, schema violation, unknown run, invalid
    flow) is logged at ERROR with the reason and acknowledged: returning normally;
  - a transient failure (`RetryableError`: GCS or Pub/Sub unavailable, ...) is re-raised, so the
    function answers 500 and Pub/Sub redelivers with backoff;
  - anything unexpected is logged with its stack trace and re-raised (the dead-letter policy
    bounds the redeliveries).

Services, the controller and logging are built once per cold start, on the first event, never at
import: importing this module stays cheap (no Google client, no pandas).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from mhi.config import Settings
from mhi.errors import InvalidMessageError, PermanentError, RetryableError
from mhi.ports import FlowSource, Timers
from mhi.runtime.controller import Controller
from mhi.runtime.logs import bind, setup_json_logging
from mhi.runtime.pubsub_event import PubSubMessage, decode
from mhi.runtime.router import Routed, Router, peek
from mhi.services import Services

logger = logging.getLogger(__name__)

T = TypeVar("T")

_lock = threading.RLock()  # re-entrant: one built thing may build another
_built: dict[str, Any] = {}


def _once(name: str, make: Callable[[], T]) -> T:
    if name not in _built:
        with _lock:
            if name not in _built:
                _built[name] = make()
    return cast(T, _built[name])  # `_built[name]` was made by `make`


def _make_services() -> Services:
    setup_json_logging()
    return Services(Settings.from_env())


def services() -> Services:
    """The process's Services (read from the environment on first use)."""
    return _once("services", _make_services)


def controller() -> Controller:
    """The process's Controller (its run cache lives as long as the instance)."""

    def make() -> Controller:
        svc = services()
        grace = svc.settings.dispatch_grace_seconds
        return Controller(
            svc.run_store,
            svc.bus,
            svc.clock.now,
            dispatch_grace_seconds=grace,
            concurrency_limits=svc.settings.concurrency_limits,
            step_concurrency=svc.settings.step_concurrency,
        )

    return _once("controller", make)


def router() -> Router:
    """The process's Router (starts, callbacks and sweeps of this deployment's accounts)."""

    def make() -> Router:
        from mhi.catalog import step_types

        accounts = services().settings.accounts
        return Router(controller, flow_source(), step_types, accounts=accounts)

    return _once("router", make)


def flow_source() -> FlowSource:
    """Stored flows for `flow_ref` starts: FLOWS_BUCKET on gcp, else the flows folder."""
    from mhi.runtime.wiring import flow_source as build

    return _once("flows", lambda: build(services().settings))


def reset() -> None:
    """Forget what was built (tests that change the environment between events)."""
    with _lock:
        _built.clear()


def install(svc: Services) -> None:
    """Serve the next events with `svc` (tests and fakes); the controller is rebuilt on it."""
    with _lock:
        _built.clear()
        _built["services"] = svc


# ---- handlers ---------------------------------------------------------------------------


def handle_controller_event(event: Any) -> None:
    """Handle one message of `ms-flows-controller` / `ms-flows-callbacks`.

    `mhi.runtime.router` says what each body means (callback, sweep or start).
    """
    _handle(event, _route_controller)


def handle_step_event(event: Any, step_type: str) -> None:
    """Handle one step message on the topic of `step_type`: run it, publish its callback."""
    from mhi.steps.sdk import handle_step_message

    _handle(event, lambda message: handle_step_message(message.data, services(), step_type))


def _handle(event: Any, route: Callable[[PubSubMessage], object]) -> None:
    settings = services().settings
    try:
        message = decode(event)
    except InvalidMessageError as e:
        logger.error("event %s acknowledged without effect: %s", _event_id(event), e)
        return
    with bind(**_labels(message, settings)):
        try:
            route(message)
        except PermanentError as e:
            logger.error(
                "message %s acknowledged without effect (%s): %s", message.message_id, e.kind, e
            )
        except RetryableError as e:
            logger.warning("message %s will be redelivered (%s): %s", message.message_id, e.kind, e)
            raise
        except Exception:
            logger.exception("message %s failed; it will be redelivered", message.message_id)
            raise


def _route_controller(message: PubSubMessage) -> None:
    routed = router().route(message)
    schedule_wakes(services().timers, routed)


def schedule_wakes(timers: Timers, routed: Routed) -> None:
    """Set a timer for every run the message left waiting (`Routed.wake`, when not None).

    A timer that cannot be set is logged and does not fail the message: the run's state is
    already written, and the minute sweep wakes the run all the same, only later.
    """
    for ref, at in routed.wake.items():
        if at is None:
            continue
        try:
            timers.schedule(ref, at)
        except RetryableError as e:
            logger.warning("run %s: timer not set (%s); the sweep will wake it", ref.run_id, e)
        except (PermanentError, ValueError) as e:
            logger.error("run %s: timer not set: %s; the sweep will wake it", ref.run_id, e)


def _labels(message: PubSubMessage, settings: Settings) -> dict[str, str | None]:
    attrs = message.attributes
    labels: dict[str, str | None] = {
        "message_id": message.message_id,
        "run_id": attrs.get("run_id"),
        "step_id": attrs.get("step_id"),
        "attempt": attrs.get("attempt"),
    }
    body = peek(message.data) if attrs.get("run_id") else None
    if isinstance(body, dict) and isinstance(body.get("flow_id"), str):
        labels["flow_id"] = body["flow_id"]
    if message.trace_id and settings.project_id:
        labels["trace"] = f"projects/{settings.project_id}/traces/{message.trace_id}"
    return labels


def _event_id(event: Any) -> str:
    try:
        return str(event["id"])
    except (KeyError, TypeError, IndexError):
        return "?"
