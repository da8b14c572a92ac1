"""The lease of a running turn: taken when a step function starts it, renewed while it works.

`started-<turn>.json` is both the claim that makes a duplicate delivery harmless (only its
creator runs the handler) and the first lease; `heartbeat-<turn>-<n>.json` renews it every
`heartbeat_seconds` for as long as the handler runs, so long handlers (Qlik waits, forecasts)
hold it without code of their own. A lease not renewed in time tells the controller the process
died: it runs the turn again (`mhi.engine.recovery`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from datetime import timedelta
from types import TracebackType

from mhi.model import keys
from mhi.model.messages import StepMessage
from mhi.services import Services

logger = logging.getLogger(__name__)


def holder() -> str:
    """Who holds a lease: `<host>:<pid>` (the embedded runtime resumes a dead holder's turns)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """Take a turn's lease with `acquire()`, then hold it (heartbeats) inside `with lease:`."""

    def __init__(self, message: StepMessage, services: Services) -> None:
        self.message = message
        self.services = services
        settings = services.settings
        self.length = timedelta(seconds=settings.lease_seconds)
        self.interval = settings.heartbeat_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beats = 0

    def _key(self, rel: str) -> str:
        return self.message.ref.key(rel)

    def _body(self) -> bytes:
        now = self.services.clock.now()
        body = {"at": now.isoformat(), "lease_until": (now + self.length).isoformat()}
        return json.dumps({**body, "holder": holder()}).encode()

    def acquire(self) -> bool:
        """Create the turn's `started` record; False if another delivery already holds it."""
        m = self.message
        rel = keys.turn_key(m.step_id, m.attempt, m.turn, "started")
        return self.services.run_store.create(self._key(rel), self._body())

    def __enter__(self) -> Lease:
        self._thread = threading.Thread(
            target=self._renew, name=f"lease-{self.message.step_id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _renew(self) -> None:
        m = self.message
        while not self._stop.wait(self.interval):
            self._beats += 1
            rel = keys.heartbeat_key(m.step_id, m.attempt, m.turn, self._beats)
            try:
                self.services.run_store.create(self._key(rel), self._body())
            except Exception:  # a missed beat is retried at the next one; the lease has slack
                logger.warning("heartbeat %d of step %s failed", self._beats, m.step_id)
