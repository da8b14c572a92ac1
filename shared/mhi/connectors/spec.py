"""Declarations: what a connector is made of (system, datasets, incremental strategy, config).

A connector module declares one `System`; `mhi.connectors.extract` does the rest.

Where a system's API lives is never the flow's choice: a system with public API hosts
(`System.api_hosts`) has a default base URL and sends its credentials only to those hosts; a
system without one takes its base URL from the account's secret `<prefix>-base-url` (or the
deployment setting `MHI_<SYSTEM>_BASE_URL`). A step config that still carries `base_url` or
`token_url` is refused with the name of the secret to set instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mhi.connectors.auth import Auth
from mhi.connectors.paging import Paging
from mhi.constants import SAFE_ID_PATTERN
from mhi.http.endpoints import setting_name

# Config keys a flow may no longer set -> the secret suffix that holds the value instead.
MOVED_TO_SECRETS = {"base_url": "base-url", "token_url": "token-url"}


def moved_message(system: str, key: str, secret: str, prefix: str | None) -> str:
    """Explain where a URL a flow used to carry now comes from."""
    name = f"{prefix or system}-{secret}"
    return (
        f"{key} is not read from a flow (a flow may not choose where the account's credentials "
        f"go): set the account's secret {name!r} or the deployment setting "
        f"{setting_name(system, secret)}, and remove {key} from the step config"
    )


class ExtractConfig(BaseModel):
    """Options every extractor accepts (the seed's `_m_account`, `datasets`, `incremental`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    m_account: str | None = Field(
        None,
        alias="_m_account",
        description="account the step acts for; must equal the flow's account",
    )
    datasets: list[str] | None = Field(
        None,
        min_length=1,
        description="datasets to extract (case-insensitive); default: every dataset whose "
        "contract is confirmed (an UNCONFIRMED one is read only when named here)",
    )
    incremental: bool = Field(True, description="resume from the stored watermark")
    date_from: date | None = Field(None, description="extract from this date (backfill)")
    date_to: date | None = Field(None, description="extract up to this date, inclusive")
    page_size: int | None = Field(None, ge=1, le=20_000, description="records per request")
    credentials: str | None = Field(
        None,
        pattern=SAFE_ID_PATTERN,
        description="prefix of the secret names (default: the system name)",
    )
    timeout_seconds: float = Field(60.0, gt=0, le=600, description="per-request timeout")
    max_attempts: int = Field(6, ge=1, le=20, description="tries per request on 429/5xx")
    backoff_seconds: float = Field(1.0, ge=0, le=60, description="first backoff delay")
    max_backoff_seconds: float = Field(60.0, ge=0, le=600, description="longest backoff")
    requests_per_second: float | None = Field(None, gt=0, le=10_000, description="rate cap")
    rows_per_file: int = Field(50_000, ge=1, le=1_000_000, description="records per file")
    # Refused when set (hidden from `mhi steps`): see MOVED_TO_SECRETS.
    base_url: SkipJsonSchema[Any] = Field(None, exclude=True)
    token_url: SkipJsonSchema[Any] = Field(None, exclude=True)

    system_name: ClassVar[str] = "extractor"

    @field_validator("base_url", "token_url")
    @classmethod
    def _not_from_flows(cls, value: Any, info: ValidationInfo) -> None:
        if value is not None:
            key = str(info.field_name)
            prefix = info.data.get("credentials")
            raise ValueError(moved_message(cls.system_name, key, MOVED_TO_SECRETS[key], prefix))
        return None

    @model_validator(mode="after")
    def _dates_in_order(self) -> ExtractConfig:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self


@dataclass(frozen=True)
class Window:
    """The slice of source data one run asks for (reported in the output and manifest)."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class FullRefresh:
    """No incremental filter: every run reads everything (reference data)."""

    kind = "full"


@dataclass(frozen=True)
class ModifiedSince:
    """Filter on a modified timestamp; the watermark is the largest one seen, re-read with an
    overlap so records committed late are not skipped."""

    field: str
    params: Callable[[datetime | None, datetime | None], dict[str, Any]]
    overlap: timedelta = timedelta(minutes=10)
    kind = "modified"


@dataclass(frozen=True)
class DateWindow:
    """The source filters only on a business date: re-scan a trailing window each run, in
    chunks of `chunk_days` when the source wants short windows."""

    params: Callable[[date, date], dict[str, Any]]
    lookback: timedelta = timedelta(days=30)
    ahead: timedelta = timedelta(0)  # also read future dates (stays booked ahead)
    chunk_days: int | None = None
    kind = "window"


@dataclass(frozen=True)
class DeltaLink:
    """A change feed: the final page's link (`@odata.deltaLink`) is where the next run resumes;
    HTTP 410 means it expired and the feed restarts from the beginning."""

    kind = "delta"


Incremental = FullRefresh | ModifiedSince | DateWindow | DeltaLink
FULL_REFRESH = FullRefresh()


@dataclass(frozen=True)
class Dataset:
    """One extractable dataset: where it lives, how it pages, its key and required fields.

    `path` is formatted with the config's fields and the partition's values. Partition values
    not used by the path become query parameters, and are stamped onto records that lack them.
    """

    name: str
    path: str
    key: tuple[str, ...]
    paging: Paging
    incremental: Incremental = FULL_REFRESH
    required: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    partitions: Callable[[Any, Lister], list[dict[str, Any]]] | None = None
    summary: str = ""
    # None: confirmed by the vendor's public material. Otherwise what is assumed: the dataset
    # is then read only when a flow names it (opt-in), and its output says it is unconfirmed.
    unconfirmed: str | None = None

    @property
    def watermark_field(self) -> str | None:
        """The record field the watermark follows, when there is one."""
        return self.incremental.field if isinstance(self.incremental, ModifiedSince) else None


class Lister(Protocol):
    """Reads a whole listing (for partitions that must be looked up, e.g. FourVenues events)."""

    def __call__(
        self, path: str, paging: Paging, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return every record of `GET {base}{path}`, paged with `paging`."""
        ...


class Credentials:
    """Reads the account's secrets for one system: `<prefix>-<name>` through `ctx.secret`."""

    def __init__(self, read: Callable[[str], str], prefix: str) -> None:
        self._read, self.prefix = read, prefix

    def name(self, name: str) -> str:
        """Return the full secret name of `name`."""
        return f"{self.prefix}-{name}"

    def get(self, name: str) -> str:
        """Return the value of secret `<prefix>-<name>`."""
        return self._read(self.name(name))


@dataclass(frozen=True)
class Endpoints:
    """Where one step turn sends requests: the API root and the token endpoint, resolved from
    the system's defaults and the operator's secrets or settings."""

    base: str
    token: str | None = None


@dataclass(frozen=True)
class TokenEndpoint:
    """An OAuth token endpoint: its default URL and the secret that moves it (the operator's)."""

    default: Callable[[Any, str], str]  # (config, base URL) -> token URL
    secret: Callable[[Credentials], str]  # the secret's full name, e.g. `avalon-token-url`


@dataclass(frozen=True)
class System:
    """A source system: its datasets, config model, auth scheme, API hosts and HTTP limits."""

    name: str
    config_model: type[ExtractConfig]
    datasets: tuple[Dataset, ...]
    auth: Callable[[Credentials, Any, Endpoints], Auth]  # (secrets, config, endpoints) -> scheme
    # Public API hosts (names or `*.suffix`): the only hosts its credentials go to. Empty: the
    # system has no public host; the base URL comes from the secret `<prefix>-base-url`.
    api_hosts: tuple[str, ...] = ()
    default_base: Callable[[Any], str] | None = None  # (config) -> base URL, public systems
    token: TokenEndpoint | None = None  # OAuth systems: where tokens come from
    requests_per_second: float = 10.0
    page_size: int = 500
    history_days: int = 365
    summary: str = ""

    def dataset(self, name: str) -> Dataset:
        """Return a dataset by name (case, spaces, '-' and '_' ignored)."""
        wanted = _norm(name)
        for ds in self.datasets:
            if _norm(ds.name) == wanted:
                return ds
        raise KeyError(name)

    def table(self, dataset: Dataset) -> str:
        """Return the warehouse table a dataset lands in (`raw.<system>_<dataset>`)."""
        return f"raw.{self.name}_{dataset.name}"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def iso_z(value: datetime) -> str:
    """Format a UTC timestamp as `2025-03-01T00:00:00Z` (OData and most APIs accept it)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: Any) -> datetime | None:
    """Read a timestamp as sources send it: ISO-8601 (with `Z` or offset), a date, or Unix
    seconds or milliseconds. Return None when it is not a timestamp."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
