"""Fake timers and a clock the test moves: timers are kept, then fired as controller messages.

`FakeTimers.due(now)` returns the wake messages due at `now`, each as it would be published on
the controller topic, for the test to route like a real delivery (through `Router.route`, or
as a CloudEvent to the controller function). Nothing fires on its own: no thread, no sleep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mhi.adapters.local.timers import due_second
from mhi.constants import CONTROLLER_TOPIC
from mhi.model.keys import RunRef
from mhi.model.messages import WakeMessage, encode
from tests.fakes.bus import Published

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


class FakeClock:
    """A `Clock` whose time moves only when the test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.time = start

    def now(self) -> datetime:
        """Return the current (fake) time."""
        return self.time

    def advance(self, seconds: float) -> datetime:
        """Move the time forward and return it."""
        self.time += timedelta(seconds=seconds)
        return self.time


def wake_published(ref: RunRef) -> Published:
    """The wake message of `ref` as it arrives on the controller topic."""
    data = encode(WakeMessage(account=ref.account, flow_id=ref.flow_id, run_id=ref.run_id))
    return Published(CONTROLLER_TOPIC, data, {"kind": "wake", "run_id": ref.run_id})


class FakeTimers:
    """A `Timers` that records timers by (run, due second), as Cloud Tasks names its tasks.

    As there, a name stays taken after its timer fired: the same run at the same second is
    refused quietly, whether that timer is still pending or already fired.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[datetime, RunRef]] = []
        self.fired: list[tuple[datetime, RunRef]] = []
        self._taken: set[tuple[RunRef, datetime]] = set()

    def schedule(self, ref: RunRef, at: datetime) -> None:
        """Record a timer for `ref` at `at` rounded up to the second (once per run and second)."""
        due = due_second(at)
        if (ref, due) in self._taken:
            return
        self._taken.add((ref, due))
        self.pending.append((due, ref))

    def due(self, now: datetime) -> list[Published]:
        """Fire and return the wake messages due at `now`, earliest first."""
        fire = sorted((t for t in self.pending if t[0] <= now), key=lambda t: t[0])
        self.pending = [t for t in self.pending if t[0] > now]
        self.fired += fire
        return [wake_published(ref) for _, ref in fire]

    def times(self, ref: RunRef) -> list[datetime]:
        """The due times of the pending timers of `ref`, sorted."""
        return sorted(t for t, r in self.pending if r == ref)
