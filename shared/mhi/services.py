"""The ports a process uses, built lazily once (cold start) from Settings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from mhi.config import Settings
from mhi.ports import BlobStore, Clock, MessageBus, RunStore, SecretStore, Warehouse


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class Services:
    """Lazily built adapters. Pass instances as keyword arguments to override (tests, fakes)."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        self._cache: dict[str, Any] = dict(overrides)
        self._lock = threading.Lock()

    def _get(self, name: str) -> Any:
        if name not in self._cache:
            with self._lock:
                if name not in self._cache:
                    from mhi.runtime.wiring import build

                    self._cache[name] = build(name, self.settings)
        return self._cache[name]

    @property
    def run_store(self) -> RunStore:
        """The write-once run-state store."""
        return self._get("run_store")  # type: ignore[no-any-return]

    @property
    def bus(self) -> MessageBus:
        """The message bus."""
        return self._get("bus")  # type: ignore[no-any-return]

    @property
    def secrets(self) -> SecretStore:
        """The secret store."""
        return self._get("secrets")  # type: ignore[no-any-return]

    @property
    def blobs(self) -> BlobStore:
        """Files: landed raw data, charts, outbox."""
        return self._get("blobs")  # type: ignore[no-any-return]

    @property
    def warehouse(self) -> Warehouse:
        """Analytics tables."""
        return self._get("warehouse")  # type: ignore[no-any-return]

    @property
    def clock(self) -> Clock:
        """The time source."""
        if "clock" not in self._cache:
            self._cache["clock"] = SystemClock()
        return self._cache["clock"]  # type: ignore[no-any-return]
