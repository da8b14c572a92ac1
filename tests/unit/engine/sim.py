"""A deterministic simulator of a deployment: the real controller and the real step SDK over one
in-memory run store, an adversarial bus, crashing processes and a fake clock.

Messages are delivered in random order, some twice, some held back and redelivered later. Any
store create and any publish may fail (the process dies there: a controller loses its cache, a
step function dies holding its lease) and the message being handled is redelivered, as Pub/Sub
does when a function fails. Handlers succeed, fail (retryably or not) or die mid-run, per plan.
Several controller instances share the work, each with its own cache (so each sees what the
others wrote only by reading the store), as Cloud Functions instances do.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.constants import CALLBACK_TOPIC, CHILD_SEPARATOR, CONTROLLER_TOPIC, NOTIFY_STEP, SLA_STEP
from mhi.errors import StepExecutionError, UpstreamUnavailableError
from mhi.model import keys
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.messages import parse_callback, parse_step, parse_wake
from mhi.runtime.controller import Controller
from mhi.runtime.start import StartRequest, start_run
from mhi.services import Services
from mhi.steps.sdk import StepContext, StepKind, handle_step_message
from tests.unit.engine.helpers import T0

GRACE, LEASE = 30.0, 90.0
INSTANCES = 3


class Crash(BaseException):
    """A process died between two of its operations (a BaseException, so that no handler or
    SDK error path catches it: a store call inside a handler, such as a claim, dies too)."""


class Died(BaseException):
    """A step function's process died while its handler ran (no callback, no more beats)."""


class CrashingStore(MemoryRunStore):
    """Dies before a create with some probability (so between any two writes)."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        super().__init__()
        self.rng, self.rate, self.armed = rng, rate, False

    def create(self, key: str, data: bytes) -> bool:
        if self.armed and self.rng.random() < self.rate:
            raise Crash(key)
        return super().create(key, data)


class AnyConfig(BaseModel):
    """Every simulated step type takes any config."""

    model_config = ConfigDict(extra="allow")


class _Clock:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def now(self) -> datetime:
        return self.sim.now


class Sim:
    """Runs one flow to its end; `runs` counts handler executions per (step, attempt, turn)."""

    def __init__(
        self,
        flow: FlowDefinition,
        plan: dict[tuple[str, int, int], str],
        seed: int,
        crash_rate: float,
        hold_back: float = 0.1,
        duplicates: float = 0.1,
        instances: int = INSTANCES,
    ) -> None:
        self.rng = random.Random(seed)
        self.flow, self.plan = flow, plan
        self.now: datetime = T0
        self.store = CrashingStore(random.Random(seed + 1), crash_rate)
        self.pending: list[tuple[str, bytes]] = []
        self.delayed: list[tuple[str, bytes]] = []
        self.runs: Counter[tuple[str, int, int]] = Counter()
        self.hold_back = hold_back  # the share of deliveries held back until the clock moves
        self.duplicates = duplicates  # the share of deliveries delivered again later
        self.crashes = self.deaths = self.sends = self.sweeps = 0
        # the most attempts of each concurrency key dispatched and not yet ended, at any moment
        self.peak: Counter[str] = Counter()
        self._keyed = {
            s.id: s.concurrency.key for s in flow.steps if s.concurrency and s.concurrency.key
        }
        self.sla_sends: list[dict[str, Any]] = []  # what each SLA notification said was late
        settings = Settings(lease_seconds=LEASE, heartbeat_seconds=3600.0)
        self.services = Services(settings, run_store=self.store, bus=self, clock=_Clock(self))
        self.kind = StepKind("sim", AnyConfig, self._handler)
        self.instances = [self._controller() for _ in range(instances)]
        self.current = 0  # the instance handling the message being delivered
        self.start_request = StartRequest(flow, {}, "run-1")  # what `run` starts

    @property
    def controller(self) -> Controller:
        """The controller instance handling the current message."""
        return self.instances[self.current]

    def _controller(self) -> Controller:
        return Controller(self.store, self, lambda: self.now, dispatch_grace_seconds=GRACE)

    # ---- the ports the simulated processes use ------------------------------------------

    def publish(self, topic: str, data: bytes, attributes: Any) -> None:
        """The bus: a publish may fail (the publisher dies before it is confirmed)."""
        if self.store.armed and self.rng.random() < self.store.rate / 2:
            raise Crash(f"publish to {topic}")
        self.pending.append((topic, data))

    def _handler(self, ctx: StepContext, config: AnyConfig) -> dict[str, Any]:
        m = ctx.message
        key = (m.step_id, m.attempt, m.turn)
        self.runs[key] += 1
        outcome = self.plan.get(key, "ok")
        if outcome == "died":
            self.deaths += 1
            raise Died(m.step_id)
        if outcome == "retryable":
            raise UpstreamUnavailableError("the source is down")
        if outcome == "fatal":
            raise StepExecutionError("bad data")
        if m.step_id == NOTIFY_STEP:
            self._send_once(ctx)
        if m.step_id == SLA_STEP and self._send_once(ctx):
            self.sla_sends.append(dict(ctx.message.upstream["_run"]["sla"]))
        return {"by": m.step_id}

    def _send_once(self, ctx: StepContext) -> bool:
        """A side effect made idempotent the way `ms-notifications` does it: a send recorded by
        an earlier attempt is not repeated; within an attempt, claim then send (a turn run again
        after its process died finds the claim)."""
        m = ctx.message
        prefix = keys.run_prefix(m.account, m.flow_id, m.run_id)
        earlier = range(1, m.attempt)
        if any(self.store.read(prefix + keys.claim_key(m.step_id, a, "sent")) for a in earlier):
            return False
        if ctx.claim("sent", {"turn": m.turn}) != {"turn": m.turn}:
            return False
        if m.step_id == NOTIFY_STEP:
            self.sends += 1
        return True

    # ---- driving --------------------------------------------------------------------------

    def guarded(self, fn: Any, *args: Any) -> bool:
        """Run one process's work; a death loses its memory and keeps its message pending."""
        try:
            fn(*args)
            return True
        except (Crash, Died):
            self.crashes += 1
            self.instances[self.current] = self._controller()  # a new instance: empty cache
            return False

    def _step(self, data: bytes) -> None:
        handle_step_message(data, self.services, None, lambda _type: self.kind)

    def deliver(self, topic: str, data: bytes) -> bool:
        self.current = self.rng.randrange(len(self.instances))
        if topic == CONTROLLER_TOPIC:  # a wake: a concurrency slot was given back
            wake = parse_wake(data)
            ref = RunRef(wake.account, wake.flow_id, wake.run_id)
            return self.guarded(lambda: self.controller.advance(ref, full_refresh=True))
        if topic != CALLBACK_TOPIC:
            parse_step(data)  # the simulator itself only publishes valid messages
            return self.guarded(self._step, data)
        return self.guarded(self.controller.on_callback, parse_callback(data))

    def run(self, max_messages: int = 30_000) -> RunRef:
        """Start the run and deliver until it is done and closed; fail if it never is."""
        request = self.start_request
        self.store.armed = True
        while not self.guarded(start_run, self.controller, request):
            pass  # the start message is redelivered until it goes through
        ref = RunRef(self.flow.account, self.flow.flow_id, request.run_id or "run-1")
        for _ in range(max_messages):
            if self.pending:
                self._one_message()
            elif self._closed(ref) and not self.delayed:
                return ref
            else:
                # Time moves on in steps no longer than a precise timer's slack.
                self.now += timedelta(seconds=self.rng.choice([1, 5, 10]))
                self.pending += self.delayed
                self.delayed = []
                self.current = self.rng.randrange(len(self.instances))
                self.sweeps += 1
                self.guarded(self.controller.sweep)
        raise AssertionError("the run never finished")

    def _closed(self, ref: RunRef) -> bool:
        done = self.store.objects.get(ref.prefix + "done.json")
        return done is not None and ref.active_key not in self.store.objects

    def _note_in_flight(self) -> None:
        """Count, per concurrency key, the attempts dispatched and not yet ended (a slot each)."""
        run = keys.run_prefix(self.flow.account, self.flow.flow_id, "run-1")
        rel = {k[len(run) :] for k in self.store.objects if k.startswith(run)}
        now: Counter[str] = Counter()
        for name in rel:
            key = keys.parse(name)
            if key is None or key.kind != "dispatched" or key.turn or not key.step:
                continue
            slot_key = self._keyed.get(key.step.split(CHILD_SEPARATOR)[0])
            if slot_key and keys.result_key(key.step, key.attempt or 0) not in rel:
                now[slot_key] += 1
        for slot_key, count in now.items():
            self.peak[slot_key] = max(self.peak[slot_key], count)

    def _one_message(self) -> None:
        i = self.rng.randrange(len(self.pending))
        roll = self.rng.random()
        if roll < self.hold_back:
            self.delayed.append(self.pending.pop(i))  # held back, redelivered later
            return
        topic, data = self.pending[i]
        done = self.deliver(topic, data)
        if self._keyed:
            self._note_in_flight()
        if done and roll >= self.hold_back + self.duplicates:  # else kept: delivered again
            self.pending.pop(i)
