"""In-process message bus with worker threads: the embedded default (at-least-once, any order)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mhi.errors import OrchestratorError

logger = logging.getLogger(__name__)

Handler = Callable[[bytes, Mapping[str, str]], None]


@dataclass
class Delivery:
    """One message on its way to a subscriber."""

    topic: str
    data: bytes
    attributes: Mapping[str, str]
    attempt: int = 1
    not_before: float = 0.0


@dataclass
class BusStats:
    """Counters, for tests and benchmarks."""

    published: dict[str, int] = field(default_factory=dict)
    redelivered: int = 0
    dropped: int = 0


class InMemoryBus:
    """`MessageBus` that delivers to subscribed handlers on worker threads.

    Like Pub/Sub with retry on: a handler that raises a retryable error (or anything unexpected)
    gets the message again after a short backoff, up to `max_deliveries`; a permanent error is
    logged and the message acknowledged. `on_publish` hooks see every message (tests).
    """

    def __init__(
        self, workers: int = 4, max_deliveries: int = 5, redelivery_delay: float = 0.05
    ) -> None:
        self.workers = workers
        self.max_deliveries = max_deliveries
        self.redelivery_delay = redelivery_delay
        self.stats = BusStats()
        self.on_publish: list[Callable[[str, bytes, Mapping[str, str]], None]] = []
        self._subscribers: dict[str, Handler] = {}
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._idle = threading.Condition()

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Deliver messages published to `topic` to `handler`."""
        self._subscribers[topic] = handler

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        """Queue a message for the topic's subscriber."""
        if topic not in self._subscribers:
            raise OrchestratorError(f"no subscriber for topic {topic!r}")
        for hook in self.on_publish:
            hook(topic, data, attributes)
        self.stats.published[topic] = self.stats.published.get(topic, 0) + 1
        with self._idle:
            self._pending += 1
        self._queue.put(Delivery(topic, data, dict(attributes)))

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"mhi-bus-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers (messages still queued are not delivered)."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no message is queued or being handled; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            wait = delivery.not_before - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.5))
            self._deliver(delivery)

    def _deliver(self, d: Delivery) -> None:
        requeued = False
        try:
            self._subscribers[d.topic](d.data, d.attributes)
        except OrchestratorError as e:
            if e.retryable:
                requeued = self._redeliver(d, e)
            else:
                logger.error("message on %s rejected: %s", d.topic, e)
                self.stats.dropped += 1
        except Exception as e:
            logger.exception("handler for %s raised", d.topic)
            requeued = self._redeliver(d, e)
        finally:
            if not requeued:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _redeliver(self, d: Delivery, error: Exception) -> bool:
        if d.attempt >= self.max_deliveries:
            logger.error("message on %s dropped after %d deliveries: %s", d.topic, d.attempt, error)
            self.stats.dropped += 1
            return False
        self.stats.redelivered += 1
        delay = self.redelivery_delay * 2 ** (d.attempt - 1)
        self._queue.put(
            Delivery(d.topic, d.data, d.attributes, d.attempt + 1, time.monotonic() + delay)
        )
        return True
