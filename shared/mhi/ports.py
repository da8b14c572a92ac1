"""Ports: the small interfaces every back end implements (local, GCP, fakes).

Names are roles; adapters are named technology + role (`FsRunStore`, `GcsRunStore`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pandas is heavy: the controller must not import it.
    import pandas as pd

    from mhi.model.keys import RunRef


@runtime_checkable
class RunStore(Protocol):
    """Write-once object store holding run state (`runs/...`), the active-run index, and the
    concurrency slots and shared request rates every run shares (`limits/...`, `rates/...`).

    Keys are '/'-separated relative paths. Values are bytes (JSON documents in practice).
    """

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` with `data` only if it does not exist; return False if it already did."""
        ...

    def read(self, key: str) -> bytes | None:
        """Return the object's bytes, or None when it does not exist."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Return every key that starts with `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Delete `key` if present. Only markers are ever deleted: the active-run index, waiters
        of a concurrency slot, and superseded slot tenancies and rate windows."""
        ...


class MessageBus(Protocol):
    """Publish messages to logical topics (`ms-flows-callbacks`, `ms-kpi-engine`, ...)."""

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        """Publish one message and return once the bus has accepted it (never lose it silently)."""
        ...


class SecretStore(Protocol):
    """Read secrets. An account reads only secrets under its own name prefix."""

    def get(self, account: str, name: str) -> str:
        """Return the latest value of secret `name` of `account`.

        Raises:
            SecretAccessError: the secret does not exist or may not be read.
        """
        ...


class BlobStore(Protocol):
    """Files that are too big for messages: landed raw data, charts, outbox mail."""

    def write_bytes(self, key: str, data: bytes, content_type: str = ...) -> str:
        """Write (or replace) `key`; return its URI (`file://...` or `gs://...`)."""
        ...

    def upload_file(self, key: str, path: str, content_type: str = ...) -> str:
        """Upload a local file to `key`; return its URI."""
        ...

    def read_bytes(self, key: str) -> bytes | None:
        """Return the object's bytes, or None when absent."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Return every key that starts with `prefix`, sorted."""
        ...

    def delete(self, key: str) -> None:
        """Delete `key` if present."""
        ...


WriteMode = Literal["replace", "merge", "append"]


class Warehouse(Protocol):
    """Tables for the analytics layers. Table names are `<layer>.<name>`.

    Layers: `raw`, `model`, `kpi`, `forecast`. One dataset (schema) per account and layer.
    `dialect` names the SQL that `query` and `materialize` take: `duckdb` or `bigquery`.
    """

    dialect: str

    def write(
        self,
        account: str,
        table: str,
        frame: pd.DataFrame,
        *,
        mode: WriteMode = "replace",
        keys: Sequence[str] = (),
    ) -> int:
        """Write `frame` to `table`; mode `merge` replaces rows matching `keys`. Return the rows."""
        ...

    def read(self, account: str, table: str) -> pd.DataFrame:
        """Return the whole table."""
        ...

    def query(
        self, account: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run a parameterised query (`@name` placeholders) in the account's datasets."""
        ...

    def materialize(
        self,
        account: str,
        table: str,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        mode: WriteMode = "replace",
        keys: Sequence[str] = (),
    ) -> int:
        """Write a query's result to `table` inside the warehouse (the rows never leave it);
        modes as for `write`. Return the rows written."""
        ...

    def exists(self, account: str, table: str) -> bool:
        """Return whether the table exists."""
        ...

    def session(self) -> AbstractContextManager[None]:
        """Run the operations inside with the warehouse opened once, where opening costs (a
        unit of work such as a KPI query and its checks); the same results as without."""
        ...


class FlowSource(Protocol):
    """Stored flow definitions, for `{"flow_ref": ...}` starts (FLOWS_BUCKET or `flows/`)."""

    def get(self, flow_id: str) -> bytes | None:
        """Return the flow JSON stored for `flow_id`, or None."""
        ...


class Clock(Protocol):
    """The time source; the engine itself never reads a clock."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class Timers(Protocol):
    """Wake the controller for one run at a given time (retries, polls, lease expiries, timeouts).

    A timer delivers `{"kind": "wake", "account", "flow_id", "run_id"}` to the controller topic
    at (or a little after) its time; the minute sweep stays the safety net for a lost timer.
    """

    def schedule(self, ref: RunRef, at: datetime) -> None:
        """Wake the controller for `ref` at `at` (timezone-aware), rounded up to the second.

        Idempotent: the same run at the same second twice makes one timer.

        Raises:
            ValueError: `at` has no timezone.
            RetryableError: the timer service is unavailable for now.
            PermanentError: the timer service refuses (missing queue, permission).
        """
        ...
