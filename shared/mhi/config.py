"""Settings: read once from the environment by the runtime, passed explicitly everywhere else."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mhi.constants import DISPATCH_GRACE_SECONDS, HEARTBEAT_SECONDS, LEASE_SECONDS

Backend = Literal["local", "gcp"]


@dataclass(frozen=True)
class Settings:
    """Where things live and which back ends to use.

    Environment variables (seed names kept where the seed has them):
      MHI_BACKEND       `local` (default: no cloud at all) or `gcp`
      MHI_HOME          local state folder (default `.mhi`): runs, blobs, warehouse, outbox
      MHI_FLOWS_DIR     where `flow_ref` starts look for `<flow_id>.json` locally (default `flows`)
      MHI_WAREHOUSE     `duckdb` (default) or `bigquery`
      MHI_SECRETS_FILE  local secrets JSON (default `$MHI_HOME/secrets.json`)
      MHI_SECRETS       `local` or `gcp` (Secret Manager); default: the same as MHI_BACKEND
                        (the emulator stack runs `gcp` with `local` secrets: no emulator exists)
      _M_PROJECT_ID, _M_ENV_ACRONYM, RUNS_BUCKET, FLOWS_BUCKET, RAW_BUCKET   (gcp back end)
      MHI_DISPATCH_GRACE_SECONDS, MHI_HEARTBEAT_SECONDS, MHI_LEASE_SECONDS   recovery timing
                        (defaults 30, 30, 90: `mhi.constants`)
      MHI_ACCOUNTS      comma-separated accounts this deployment serves; the controller refuses
                        starts for any other (terraform sets it from `var.accounts`; unset:
                        every account, the embedded default)
      PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST   host:port of the emulators (dev stack, tests)
      MHI_ALLOW_LOOPBACK_URLS  `1`: outbound calls may go to loopback (imitation servers in
                        tests); default refused, as every private address (`mhi.http.policy`)
      MHI_PRIVATE_NETWORKS  comma-separated CIDR ranges of on-premises systems outbound calls
                        may reach (e.g. `10.20.0.0/16`); default none
      MHI_TIMER_QUEUE   Cloud Tasks queue of the controller's timers
                        (`projects/P/locations/L/queues/Q`; terraform sets it on the controller;
                        unset on gcp: retries, polls and timeouts wait for the minute sweep)
      MHI_CONTROLLER_SA the controller's service-account email: timers publish as it
      MHI_CONCURRENCY_LIMITS  concurrency limits per key across runs, `key=limit` pairs
                        separated by commas (`qlik:hotel-fergus=2,pms:*=5`; `*` matches any
                        text; an exact key wins over a pattern). A step's `concurrency` obeys
                        the smaller of this and the flow's `limit` (`mhi.model.limits`)
      MHI_STEP_CONCURRENCY  concurrency keys the deployment gives every step of a type that
                        declares none, `type=key` pairs separated by commas
                        (`ms-qlik-app-reload=qlik:{{ run.account }}`); the limit comes from
                        MHI_CONCURRENCY_LIMITS
      MHI_SHARED_RATES  request rates shared by every instance of the extractor functions,
                        `system=key` or `system=key@per_second` pairs separated by commas
                        (`avalon=avalon-pms@1,holded=holded-api`): the system's requests are
                        counted per second in the run store under that key
                        (`mhi.connectors.rates`); unset: each process paces itself
    """

    backend: Backend = "local"
    home: Path = Path(".mhi")
    flows_dir: Path = Path("flows")
    warehouse: Literal["duckdb", "bigquery"] = "duckdb"
    secrets_file: Path | None = None
    project_id: str | None = None
    env_acronym: str | None = None
    runs_bucket: str | None = None
    flows_bucket: str | None = None
    raw_bucket: str | None = None
    secrets_backend: Backend = "local"
    pubsub_emulator_host: str | None = None
    storage_emulator_host: str | None = None
    accounts: frozenset[str] | None = None
    dispatch_grace_seconds: float = DISPATCH_GRACE_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    lease_seconds: float = LEASE_SECONDS
    allow_loopback_urls: bool = False
    private_networks: tuple[str, ...] = ()
    timer_queue: str | None = None
    controller_service_account: str | None = None
    concurrency_limits: tuple[tuple[str, int], ...] = ()
    step_concurrency: Mapping[str, str] = field(default_factory=dict)
    shared_rates: Mapping[str, tuple[str, float | None]] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (see the class docstring)."""
        env = os.environ if environ is None else environ
        backend = env.get("MHI_BACKEND", "local")
        if backend not in ("local", "gcp"):
            raise ValueError(f"MHI_BACKEND must be 'local' or 'gcp', not {backend!r}")
        warehouse = env.get("MHI_WAREHOUSE", "bigquery" if backend == "gcp" else "duckdb")
        if warehouse not in ("duckdb", "bigquery"):
            raise ValueError(f"MHI_WAREHOUSE must be 'duckdb' or 'bigquery', not {warehouse!r}")
        secrets_backend = env.get("MHI_SECRETS", backend)
        if secrets_backend not in ("local", "gcp"):
            raise ValueError(f"MHI_SECRETS must be 'local' or 'gcp', not {secrets_backend!r}")
        home = Path(env.get("MHI_HOME", ".mhi"))
        secrets = env.get("MHI_SECRETS_FILE")
        return cls(
            backend=_backend("MHI_BACKEND", backend),
            home=home,
            flows_dir=Path(env.get("MHI_FLOWS_DIR", "flows")),
            warehouse="bigquery" if warehouse == "bigquery" else "duckdb",
            secrets_file=Path(secrets) if secrets else home / "secrets.json",
            project_id=env.get("_M_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT"),
            env_acronym=env.get("_M_ENV_ACRONYM"),
            runs_bucket=env.get("RUNS_BUCKET"),
            flows_bucket=env.get("FLOWS_BUCKET"),
            raw_bucket=env.get("RAW_BUCKET"),
            secrets_backend=_backend("MHI_SECRETS", secrets_backend),
            pubsub_emulator_host=env.get("PUBSUB_EMULATOR_HOST") or None,
            storage_emulator_host=env.get("STORAGE_EMULATOR_HOST") or None,
            accounts=_accounts(env.get("MHI_ACCOUNTS")),
            dispatch_grace_seconds=_seconds(
                env, "MHI_DISPATCH_GRACE_SECONDS", DISPATCH_GRACE_SECONDS
            ),
            heartbeat_seconds=_seconds(env, "MHI_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS),
            lease_seconds=_seconds(env, "MHI_LEASE_SECONDS", LEASE_SECONDS),
            allow_loopback_urls=_flag(env, "MHI_ALLOW_LOOPBACK_URLS"),
            private_networks=_networks(env.get("MHI_PRIVATE_NETWORKS")),
            timer_queue=env.get("MHI_TIMER_QUEUE") or None,
            controller_service_account=env.get("MHI_CONTROLLER_SA") or None,
            concurrency_limits=_concurrency_limits(env.get("MHI_CONCURRENCY_LIMITS")),
            shared_rates=_shared_rates(env.get("MHI_SHARED_RATES")),
            step_concurrency=_step_concurrency(env.get("MHI_STEP_CONCURRENCY")),
            extra={k: v for k, v in env.items() if k.startswith("MHI_")},
        )


def _accounts(value: str | None) -> frozenset[str] | None:
    """Parse MHI_ACCOUNTS: None when unset; a set (possibly empty) otherwise."""
    if value is None:
        return None
    return frozenset(a.strip() for a in value.split(",") if a.strip())


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from the environment; a clear error names the variable."""
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {raw!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    """Read a boolean variable: 1/true/yes or 0/false/no (unset: false)."""
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name} must be 1/true/yes or 0/false/no, not {value!r}")


def _networks(value: str | None) -> tuple[str, ...]:
    """Parse MHI_PRIVATE_NETWORKS: comma-separated CIDR ranges, each checked."""
    import ipaddress

    out = []
    for item in (value or "").split(","):
        if item.strip():
            try:
                out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"MHI_PRIVATE_NETWORKS: {item.strip()!r} is not a CIDR range"
                ) from None
    return tuple(out)


def _pairs(
    name: str, value: str | None, form: str = "name=value", *, at_first: bool = False
) -> list[tuple[str, str]]:
    """`a=b,c=d` as [(a, b), (c, d)], split at each item's last `=` (`at_first`: its first, for
    values that may hold one); a clear error names the variable and the bad item."""
    out = []
    for item in (value or "").split(","):
        left, sep, right = item.strip().partition("=") if at_first else item.strip().rpartition("=")
        if not item.strip():
            continue
        if not sep or not left.strip() or not right.strip():
            raise ValueError(f"{name}: {item.strip()!r} is not of the form {form}")
        out.append((left.strip(), right.strip()))
    return out


_LIMIT_KEY = re.compile(r"\A[A-Za-z0-9*][A-Za-z0-9._:@*-]{0,127}\Z")
_RATE_KEY = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def _concurrency_limits(value: str | None) -> tuple[tuple[str, int], ...]:
    """Parse MHI_CONCURRENCY_LIMITS: `key=limit` pairs, keys maybe with `*` patterns."""
    out = []
    for key, limit in _pairs("MHI_CONCURRENCY_LIMITS", value):
        if not _LIMIT_KEY.match(key):
            raise ValueError(
                f"MHI_CONCURRENCY_LIMITS: key {key!r} is not allowed (letters, digits, "
                "'.', '_', ':', '@', '-' and '*')"
            )
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise ValueError(
                f"MHI_CONCURRENCY_LIMITS: limit of {key!r} must be a whole number from 1 to "
                f"1000, not {limit!r}"
            )
        out.append((key, int(limit)))
    return tuple(out)


def _step_concurrency(value: str | None) -> dict[str, str]:
    """Parse MHI_STEP_CONCURRENCY: `type=key` pairs (a key may be a `{{ ... }}` template)."""
    from mhi.model.limits import template_problem

    out = {}
    for step_type, key in _pairs("MHI_STEP_CONCURRENCY", value, "type=key", at_first=True):
        problem = template_problem(key)
        if problem is not None:
            raise ValueError(f"MHI_STEP_CONCURRENCY: {step_type}: {problem}")
        out[step_type] = key
    return out


def _shared_rates(value: str | None) -> dict[str, tuple[str, float | None]]:
    """Parse MHI_SHARED_RATES: `system=key` or `system=key@per_second` pairs."""
    out: dict[str, tuple[str, float | None]] = {}
    for system, target in _pairs("MHI_SHARED_RATES", value):
        key, at, rate = target.partition("@")
        if not _RATE_KEY.match(key):
            raise ValueError(
                f"MHI_SHARED_RATES: key {key!r} of {system!r} is not allowed (letters, digits, "
                "'.', '_' and '-')"
            )
        per_second = None
        if at:
            try:
                per_second = float(rate)
            except ValueError:
                per_second = -1.0
            if not 0 < per_second <= 10_000:
                raise ValueError(
                    f"MHI_SHARED_RATES: rate of {system!r} must be a number of requests per "
                    f"second above 0 and at most 10000, not {rate!r}"
                )
        out[system] = (key, per_second)
    return out


def _backend(variable: str, value: str) -> Backend:
    """Narrow a validated back-end name to its Literal type."""
    if value == "gcp":
        return "gcp"
    if value == "local":
        return "local"
    raise ValueError(f"{variable} must be 'local' or 'gcp', not {value!r}")
