"""The one router for controller messages: a start, a step's callback, or a sweep.

Cloud Functions (`mhi.runtime.entry`) and the embedded runtime both hand every message of
`ms-flows-controller` and `ms-flows-callbacks` to `Router.route`, so a message means the same thing
wherever it arrives. The body says what it is: `{"kind": "callback", ...}` is a step's report,
`{"kind": "sweep"}` asks for timeouts, retries and polls of every active run (and records the
schedule slots nobody started by their SLA deadline), `{"kind": "wake",
"account", "flow_id", "run_id"}` is a timer (`mhi.ports.Timers`) saying one run is due, and
anything else is a start (a flow JSON, or `{"flow_ref": ...}`), validated in full before anything
is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mhi.errors import InvalidMessageError
from mhi.model.keys import RunRef
from mhi.model.messages import parse_callback, parse_wake
from mhi.ports import FlowSource
from mhi.runtime.controller import Controller
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.records import message_actor
from mhi.runtime.start import StartRequest, parse_start, parse_starts, start_run

logger = logging.getLogger(__name__)

MessageKind = Literal["start", "callback", "sweep", "wake"]


@dataclass(frozen=True)
class Routed:
    """What a message did: its kind and, per run it touched, when to look at that run again."""

    kind: MessageKind
    wake: dict[RunRef, datetime | None] = field(default_factory=dict)


def message_kind(data: bytes | str) -> MessageKind:
    """Say what a controller message is, from its body (a bad body is a start: its parser says
    what is wrong)."""
    body = peek(data)
    kind = body.get("kind") if isinstance(body, dict) else None
    return kind if kind in ("callback", "sweep", "wake") else "start"


class Router:
    """Routes controller messages to a Controller.

    Args:
        controller: returns the Controller that carries out the run's decisions (called only
            once a message has parsed, so a bad message never builds the back ends).
        flows: stored flows for `flow_ref` starts (None: such starts are refused).
        known_types: step types a flow may use (the catalog, plus a runtime's extra kinds).
        accounts: the accounts this deployment serves; a start for any other is refused before
            anything is written. None serves every account (the embedded default).
    """

    def __init__(
        self,
        controller: Callable[[], Controller],
        flows: FlowSource | None,
        known_types: Callable[[], frozenset[str]],
        *,
        accounts: frozenset[str] | None = None,
    ) -> None:
        self._controller = controller
        self.flows = flows
        self.known_types = known_types
        self.accounts = accounts

    def route(self, message: PubSubMessage) -> Routed:
        """Carry out one message (on the embedded bus only `data` and `attributes` are set).

        Raises:
            PermanentError: the message can never be processed (bad JSON, schema violation,
                invalid flow, unknown run, account not served): acknowledge it and log why.
            RetryableError: a transient failure: let the bus redeliver.
        """
        kind = message_kind(message.data)
        if kind == "callback":
            callback = parse_callback(message.data)
            ref = RunRef(callback.account, callback.flow_id, callback.run_id)
            return Routed(kind, {ref: self._controller().on_callback(callback)})
        if kind == "sweep":
            _check_sweep(message.data)
            return Routed(kind, self.sweep())
        if kind == "wake":
            wake = parse_wake(message.data)
            ref = RunRef(wake.account, wake.flow_id, wake.run_id)
            # A timer fires once: re-list the whole run, as the sweep would, not only the cache.
            return Routed(kind, {ref: self._controller().advance(ref, full_refresh=True)})
        started: dict[RunRef, datetime | None] = {}
        for request in self.start_requests(message):
            ref = self.start(request)
            started[ref] = self._controller().advance(ref)
            if message.attributes.get("mhi_trigger") == "schedule":
                started.update(self.catch_up(request))
        return Routed(kind, started)

    def sweep(self) -> dict[RunRef, datetime | None]:
        """Advance every active run, then record the schedule slots nobody started by their SLA
        deadline as missed runs (`mhi.runtime.sla_watch`). Returns each run's next wake-up."""
        from mhi.runtime.sla_watch import record_missed

        controller = self._controller()
        woken = controller.sweep()
        logger.info("sweep: %d active run(s) advanced", len(woken))
        now, types = controller.now(), self.known_types()
        for ref in record_missed(
            controller.store, self.flows, types, now, self.start, self.accounts
        ):
            woken[ref] = controller.advance(ref)
        return woken

    def start_request(self, message: PubSubMessage) -> StartRequest:
        """Validate a start message (every problem at once) and give it its run id."""
        return self._checked(parse_start(message.data, self.flows, self.known_types()), message)

    def start_requests(self, message: PubSubMessage) -> list[StartRequest]:
        """`start_request`, one per account for a scheduled start of a flow whose schedule
        lists `accounts` (each run keyed under its own account); every one is checked before
        any starts."""
        scheduled = message.attributes.get("mhi_trigger") == "schedule"
        parsed = parse_starts(message.data, self.flows, self.known_types(), scheduled=scheduled)
        return [self._checked(request, message) for request in parsed]

    def _checked(self, request: StartRequest, message: PubSubMessage) -> StartRequest:
        if self.accounts is not None and request.flow.account not in self.accounts:
            served = ", ".join(sorted(self.accounts)) or "none"
            raise InvalidMessageError(
                f"flow {request.flow.flow_id!r}: account {request.flow.account!r} is not served "
                f"by this deployment (served: {served}; see MHI_ACCOUNTS)"
            )
        by = message_actor(message.attributes, message.message_id)
        request = replace(request, requested_by=by)
        if request.run_id is None and message.attributes.get("mhi_trigger") == "schedule":
            # A Cloud Scheduler job retried after a failed publish sends a new message: the run
            # id comes from the cron fire time so the retry starts nothing new.
            request = replace(request, run_id=scheduled_run_id(message))
        if request.run_id is None and message.message_id:
            # A redelivered start message keeps its message id: it maps to the same run.
            request = replace(request, run_id=message_run_id(message))
        return request

    def catch_up(self, request: StartRequest) -> dict[RunRef, datetime | None]:
        """Start the slots a `"catchup": true` schedule missed before this scheduled start (and
        rerun those the SLA watch recorded as missed: they never ran)."""
        from mhi.model.slots import slot_of, slot_run_id
        from mhi.runtime.catchup import missed_slots, recorded_missed

        flow, fired = request.flow, slot_of(request.run_id or "")
        if flow.schedule is None or not flow.schedule.catchup or fired is None:
            return {}
        controller = self._controller()
        woken: dict[RunRef, datetime | None] = {}
        by = {"actor": "scheduler", "via": "catchup"}
        for slot in missed_slots(controller.store, flow, fired):
            ref = RunRef(flow.account, flow.flow_id, slot_run_id(slot))
            if recorded_missed(controller.store, ref):
                if self._rerun_missed(ref, by):
                    woken[ref] = controller.advance(ref, full_refresh=True)
                continue
            ref = self.start(replace(request, run_id=ref.run_id, requested_by=by))
            logger.info("flow %s: missed slot %s started (catch-up)", flow.flow_id, ref.run_id)
            woken[ref] = controller.advance(ref)
        return woken

    def _rerun_missed(self, ref: RunRef, by: dict[str, str]) -> bool:
        """Rerun a slot recorded as missed (the same rerun `mhi runs rerun` makes); False when
        it cannot be rerun yet (not finished) or another rerun came first."""
        from mhi.ops.control import rerun
        from mhi.ops.errors import OpsError

        controller = self._controller()
        try:
            rerun(controller.store, ref, by, controller.now(), reason="catch-up of a missed slot")
        except OpsError as e:
            logger.warning("catch-up: slot %s recorded as missed not rerun: %s", ref.run_id, e)
            return False
        logger.info("flow %s: slot %s recorded as missed rerun (catch-up)", ref.flow_id, ref.run_id)
        return True

    def start(self, request: StartRequest) -> RunRef:
        """Start a validated request (idempotent on its run id)."""
        ref, _created = start_run(self._controller(), request)
        return ref


def _check_sweep(data: bytes) -> None:
    body = peek(data)
    extra = sorted(set(body) - {"kind"}) if isinstance(body, dict) else []
    if extra:
        raise InvalidMessageError(f"sweep message: unknown field(s) {', '.join(extra)}")


def scheduled_run_id(message: PubSubMessage, now: Callable[[], datetime] | None = None) -> str:
    """`scheduled-<fire time, UTC>`: the latest cron fire time at or before the publish time."""
    from croniter import croniter

    attrs = message.attributes
    try:
        zone = ZoneInfo(attrs.get("mhi_time_zone", "UTC"))
        published = (message.publish_time or _now(now)).astimezone(zone)
        fired: datetime = croniter(attrs["mhi_cron"], published + timedelta(seconds=1)).get_prev(
            datetime
        )
    except (KeyError, ValueError, ZoneInfoNotFoundError) as e:
        raise InvalidMessageError(
            f"scheduled start: bad mhi_cron/mhi_time_zone attributes: {e}"
        ) from e
    return "scheduled-" + fired.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def message_run_id(message: PubSubMessage, now: Callable[[], datetime] | None = None) -> str:
    """The run id of a start message without `run_id`: publish time plus a hash of its id."""
    digest = hashlib.sha256((message.message_id or "").encode()).hexdigest()[:8]
    when = message.publish_time or _now(now)
    return f"{when.strftime('%Y%m%dT%H%M%SZ')}-{digest}"


def _now(now: Callable[[], datetime] | None) -> datetime:
    return now() if now is not None else datetime.now(UTC)


def peek(data: bytes | str) -> Any:
    """The decoded JSON body of a message, or None (its kind's parser says what is wrong)."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None  # the parser of the message's kind says what is wrong
