"""The ports a process uses, built lazily once (cold start) from Settings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any, cast

from mhi.config import Settings
from mhi.ports import (
    BlobStore,
    Clock,
    FlowSource,
    MessageBus,
    RunStore,
    SecretStore,
    Timers,
    Warehouse,
)


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
        """The adapter `name`, built on first use (`wiring.build` returns the port's type)."""
        if name not in self._cache:
            with self._lock:
                if name not in self._cache:
                    from mhi.runtime.wiring import build

                    self._cache[name] = build(name, self.settings)
        return self._cache[name]

    @property
    def run_store(self) -> RunStore:
        """The write-once run-state store."""
        return cast(RunStore, self._get("run_store"))

    @property
    def bus(self) -> MessageBus:
        """The message bus."""
        return cast(MessageBus, self._get("bus"))

    @property
    def secrets(self) -> SecretStore:
        """The secret store."""
        return cast(SecretStore, self._get("secrets"))

    @property
    def blobs(self) -> BlobStore:
        """Files: landed raw data, charts, outbox."""
        return cast(BlobStore, self._get("blobs"))

    @property
    def warehouse(self) -> Warehouse:
        """Analytics tables."""
        return cast(Warehouse, self._get("warehouse"))

    @property
    def timers(self) -> Timers:
        """Timers that wake the controller for a run when it is due (Cloud Tasks on gcp)."""
        return cast(Timers, self._get("timers"))

    @property
    def flows(self) -> FlowSource:
        """Stored flows, for `flow_ref` starts and sub-flow steps (FLOWS_BUCKET or a folder)."""
        if "flows" not in self._cache:
            from mhi.runtime.wiring import flow_source

            self._cache["flows"] = flow_source(self.settings)
        return cast(FlowSource, self._cache["flows"])

    @property
    def step_types(self) -> frozenset[str]:
        """Step types a flow may use here: the catalog's, or a runtime's own (the embedded
        runtime adds its extra kinds). A sub-flow step validates its child flow with them."""
        if "step_types" not in self._cache:
            from mhi.catalog import step_types

            self._cache["step_types"] = step_types()
        return cast(frozenset[str], self._cache["step_types"])

    @property
    def clock(self) -> Clock:
        """The time source."""
        if "clock" not in self._cache:
            self._cache["clock"] = SystemClock()
        return cast(Clock, self._cache["clock"])
