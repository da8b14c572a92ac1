"""Request rates shared by every instance of the extractor functions.

A connector paces its requests through a `RequestRate`. By default that is the process's own
limiter (`mhi.connectors.http.limiter`): each Cloud Function instance keeps to the system's
`requests_per_second` by itself, so N instances together may send N times as much. A system
named in the deployment's `MHI_SHARED_RATES` (`avalon=avalon-pms@5`) is paced by a
`SharedRateLimiter` instead: every instance counts its requests in the run store, per
whole-second window, under the shared key, and a caller that finds the window full waits for the
next one. The count is exact however many instances race: the n-th request of a window is the
one that created `rates/<key>/<window>/<n>.json` (write-once), and n never exceeds the window's
capacity.

Cost: one listing and one create per request (GCS Class A operations), so shared rates suit the
slow, strict APIs they are for (a PMS at a few requests per second), not bulk downloads. The
first request of each window deletes the claims of windows before the previous one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import mhi.connectors.http as http
from mhi.connectors.http import RequestRate
from mhi.model import slot_keys
from mhi.ports import RunStore

if TYPE_CHECKING:
    from mhi.services import Services


class SharedRateLimiter:
    """At most `per_second` requests per second under `key`, across every process sharing
    the run store.

    Windows are whole seconds (a rate below 1/s uses windows of `ceil(1 / rate)` seconds with
    one request each) counted from the Unix epoch, so every instance agrees on them.
    """

    def __init__(
        self,
        store: RunStore,
        key: str,
        per_second: float,
        now: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        if not per_second > 0:
            raise ValueError(f"shared rate {key!r}: requests per second must be above 0")
        self.store = store
        self.key = key
        self.window_seconds = 1 if per_second >= 1 else math.ceil(1 / per_second)
        self.capacity = max(1, math.floor(per_second * self.window_seconds))
        self.now = now
        self.sleep = sleep

    def acquire(self) -> float:
        """Claim a place in the current window, or wait for the next one and try again."""
        waited = 0.0
        while True:
            t = self.now().timestamp()
            window = int(t // self.window_seconds) * self.window_seconds
            if self._claim(window, t):
                return waited
            pause = max(window + self.window_seconds - t, 0.001)
            self.sleep(pause)
            waited += pause

    def _claim(self, window: int, t: float) -> bool:
        taken = len(self.store.list(slot_keys.rate_key(self.key, window)))
        body = json.dumps({"at": t}).encode()
        for n in range(taken + 1, self.capacity + 1):
            if self.store.create(slot_keys.rate_key(self.key, window, n), body):
                if n == 1:
                    self._forget_before(window - self.window_seconds)
                return True
        return False

    def _forget_before(self, window: int) -> None:
        """Delete the claims of windows older than `window` (they can no longer matter)."""
        for old in self.store.list(slot_keys.rates_prefix(self.key)):
            started = slot_keys.parse_rate_window(self.key, old)
            if started is not None and started < window:
                self.store.delete(old)


def request_rate(
    services: Services, system: str, configured: float | None, default: float
) -> RequestRate:
    """The pacer of one system's requests in a step.

    Args:
        services: the step's services (settings, run store, clock).
        system: the connector's system name (`avalon`).
        configured: the step config's `requests_per_second`, if it gives one.
        default: the system's own `requests_per_second`.

    A system in `MHI_SHARED_RATES` shares its rate (the deployment's rate if it names one, and
    never more than a rate the step config asks for); any other paces itself per process.
    """
    shared = services.settings.shared_rates.get(system)
    if shared is None:
        return http.limiter(system, configured or default)
    key, deployed = shared
    rates = [r for r in (configured, deployed) if r is not None]
    per_second = min(rates) if rates else default
    return SharedRateLimiter(
        services.run_store, key, per_second, services.clock.now, lambda s: http.sleep(s)
    )
