"""What each Cloud Function is and the exact source bundle Cloud Build deploys.

One function per folder `functions/<name>/`: the `controller`, and one per `StepType.function`
of the catalog. Everything terraform needs about a function (size, trigger topics, topics it
publishes to, secrets, buckets, BigQuery layers) comes from here, through the generated
`terraform/functions.auto.tfvars.json` (`mhi package --tfvars`), so adding a step type stays
one catalog entry (plus its `functions/<name>/main.py`). Versions of third-party packages
come from `pyproject.toml` only.

A bundle is: the function's folder (its `main.py` at the root), the `mhi` package copied in
(less `mhi.dev`, the developer tooling no function runs), and a `requirements.txt` holding only
the packages that function needs.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mhi.catalog import CATALOG, StepType
from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC
from mhi.errors import OrchestratorError

CONTROLLER = "controller"
# The HTTP API of the operations plane (and the console): not a step type, no trigger topic.
API = "api"
ENTRY_POINT = "handle"
RUNTIME = "python312"
LAYERS = ("raw", "model", "kpi", "forecast")

# What every function imports at run time (the runtime wiring, run store, bus, step SDK).
# `requests` is google-cloud-storage's transport; the GCS adapters import it directly.
_CORE = (
    "pydantic",
    "croniter",
    "functions-framework",
    "google-cloud-pubsub",
    "google-cloud-storage",
    "requests",
)
# The Warehouse port moves pandas frames; BigQuery loads them through pyarrow.
_WAREHOUSE = ("google-cloud-bigquery", "db-dtypes", "pandas", "pyarrow")
_ANALYTICS = (*_WAREHOUSE, "numpy", "scipy", "statsmodels", "matplotlib")
_SECRETS = ("google-cloud-secret-manager",)
# Steps that call systems outside go through mhi.http (urllib3 pools and Retry).
_OUTBOUND = ("urllib3", "google-cloud-secret-manager")
_IGNORED = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store", "requirements.txt")
# Subpackages of `mhi` that no function runs: the local emulator tooling behind `mhi dev`.
DEV_ONLY = ("dev",)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so a bundle's zip depends on its content only


class PackagingError(OrchestratorError):
    """A function cannot be described or packaged (missing folder, unknown package, ...)."""

    kind = "packaging"


@dataclass(frozen=True)
class Profile:
    """The needs and sizing shared by a family of functions."""

    requirements: tuple[str, ...]
    memory: str
    cpu: str
    timeout_seconds: int
    max_instances: int
    raw_bucket: bool = False
    bigquery_read: tuple[str, ...] = ()
    flows_bucket: bool = False  # reads files deployed beside the flows (ms-sql's flows/sql/)
    publishes: tuple[str, ...] = ()  # topics besides the callbacks (ms-sub-flow starts runs)


# Families, by the package of the step handler ("controller" for the controller). Sizes are for
# the work each does: the controller only lists and writes small objects.
PROFILES: dict[str, Profile] = {
    # The controller sets its own timers (retries, polls, timeouts) on Cloud Tasks.
    CONTROLLER: Profile((*_CORE, "google-cloud-tasks"), "512Mi", "1", 300, 20),
    # Flask comes with functions-framework; a backfill publishes its starts paced (60 s at most).
    API: Profile(_CORE, "512Mi", "1", 300, 5),
    "mhi.steps": Profile(_CORE, "256Mi", "0.167", 120, 3),
    # A sub-flow step reads the child's stored flow and publishes its start to the controller.
    "mhi.steps.subflow": Profile(
        _CORE, "256Mi", "0.167", 120, 5, flows_bucket=True, publishes=(CONTROLLER_TOPIC,)
    ),
    "mhi.connectors": Profile(
        (*_CORE, *_WAREHOUSE, *_OUTBOUND),
        "1Gi",
        "1",
        540,
        10,
        raw_bucket=True,
    ),
    "mhi.analytics": Profile(
        (*_CORE, *_ANALYTICS),
        "4Gi",
        "2",
        540,
        5,
        raw_bucket=True,
        bigquery_read=LAYERS,
    ),
    "mhi.qlik": Profile((*_CORE, *_OUTBOUND), "256Mi", "0.167", 120, 5),
    "mhi.notify": Profile((*_CORE, *_OUTBOUND), "256Mi", "0.167", 120, 5),
    # Generic steps: SQL and transforms run in the warehouse; step outputs (records) are
    # queried in an in-memory DuckDB. A more specific prefix wins (see `_family`).
    "mhi.generic": Profile(
        (*_CORE, *_WAREHOUSE, "numpy", "duckdb"), "1Gi", "1", 540, 5, bigquery_read=LAYERS
    ),
    "mhi.generic.sql_step": Profile(
        (*_CORE, *_WAREHOUSE, "numpy", "duckdb"),
        "1Gi",
        "1",
        540,
        5,
        bigquery_read=LAYERS,
        flows_bucket=True,
    ),
    "mhi.generic.request_step": Profile(
        (*_CORE, *_OUTBOUND), "256Mi", "0.167", 300, 10, raw_bucket=True
    ),
}

# The BigQuery layer each warehouse-writing step type writes (read access comes from the profile).
WRITES: dict[str, tuple[str, ...]] = {
    "ms-file-import": ("raw",),
    "ms-data-modeling": ("model",),
    "ms-kpi-engine": ("kpi",),
    "ms-demand-forecast": ("forecast",),
    # A SQL statement or a transform writes the table its flow names, in any layer.
    "ms-sql": LAYERS,
    "ms-transform": LAYERS,
    "ms-data-quality": ("model",),  # its results table (model.data_quality_results)
}


@dataclass(frozen=True)
class FunctionSpec:
    """One Cloud Function: what terraform deploys and what its bundle holds."""

    name: str
    trigger_topics: tuple[str, ...]
    publishes: tuple[str, ...]
    requirements: tuple[str, ...]
    memory: str
    cpu: str
    timeout_seconds: int
    max_instances: int
    function_id: str
    service_account_id: str
    secrets: tuple[str, ...] = ()
    flows_bucket: bool = False
    raw_bucket: bool = False
    bigquery_read: tuple[str, ...] = ()
    bigquery_write: tuple[str, ...] = ()
    entry_point: str = ENTRY_POINT
    step_types: tuple[str, ...] = field(default=())
    http: bool = False  # HTTP-triggered (IAM invokers), not by a topic


def repo_root() -> Path:
    """Return the checkout the `mhi` package was imported from (it lives in `shared/mhi/`)."""
    return Path(__file__).resolve().parents[2]


def _family(entry: StepType) -> str:
    """The profile of the longest prefix of the handler's module."""
    module = entry.target.partition(":")[0]
    found = [p for p in PROFILES if module == p or module.startswith(p + ".")]
    if found:
        return max(found, key=len)
    raise PackagingError(
        f"step type {entry.type!r}: no packaging profile for handler module {module!r} "
        f"(add one to PROFILES in shared/mhi/packaging.py; known: {', '.join(sorted(PROFILES))})"
    )


def function_id(name: str) -> str:
    """Return the Cloud Function's name (without env suffix): `mhi-` plus the folder, dashed."""
    return "mhi-" + name.replace("_", "-")


def service_account_id(name: str) -> str:
    """Return the service-account id (without env suffix) of a function: at most 22 characters.

    GCP allows 30; 8 are left for terraform's `-<env>` suffix.
    """
    base = "mhi-" + name.replace("_", "-").replace("extractor-", "x-")
    if len(base) <= 22:
        return base
    return f"{base[:17].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:4]}"


def function_specs() -> dict[str, FunctionSpec]:
    """Return every Cloud Function by folder name: the controller, then one per catalog function."""
    groups: dict[str, list[StepType]] = {}
    for entry in CATALOG:
        groups.setdefault(entry.function, []).append(entry)
    specs = {
        CONTROLLER: _spec(
            CONTROLLER,
            PROFILES[CONTROLLER],
            trigger_topics=(CONTROLLER_TOPIC, CALLBACK_TOPIC),
            publishes=tuple(sorted(e.type for e in CATALOG)),
            flows_bucket=True,
        ),
        API: _api_function(),
    }
    for name, entries in sorted(groups.items()):
        specs[name] = _step_function(name, entries)
    _check_unique_accounts(specs.values())
    return specs


def _api_function() -> FunctionSpec:
    """The `api` function: reads and writes run state, reads flows, publishes to the controller."""
    return _spec(
        API,
        PROFILES[API],
        trigger_topics=(),
        publishes=(CONTROLLER_TOPIC,),
        flows_bucket=True,
        http=True,
    )


def _spec(name: str, prof: Profile, **fields: Any) -> FunctionSpec:
    """A function's spec: its profile's requirements and sizing, its ids, and `fields`."""
    sizing: dict[str, Any] = {
        "requirements": prof.requirements,
        "memory": prof.memory,
        "cpu": prof.cpu,
        "timeout_seconds": prof.timeout_seconds,
        "max_instances": prof.max_instances,
    }
    return FunctionSpec(
        name=name,
        function_id=function_id(name),
        service_account_id=service_account_id(name),
        **{**sizing, **fields},
    )


def _step_function(name: str, entries: list[StepType]) -> FunctionSpec:
    families = {_family(e) for e in entries}
    if len(families) > 1:
        raise PackagingError(f"function {name!r} mixes handler families {sorted(families)}")
    prof = PROFILES[families.pop()]
    writes = sorted({layer for e in entries for layer in WRITES.get(e.type, ())})
    if prof.raw_bucket and "google-cloud-bigquery" in prof.requirements and not writes:
        writes = ["raw"]  # extractors land to the raw layer
    secrets = tuple(sorted({s for e in entries for s in e.secrets}))
    # A function that reads secrets reads them from Secret Manager in production.
    requirements = tuple(dict.fromkeys((*prof.requirements, *_SECRETS * bool(secrets))))
    return _spec(
        name,
        prof,
        trigger_topics=tuple(e.type for e in entries),
        publishes=(CALLBACK_TOPIC, *prof.publishes),
        requirements=requirements,
        secrets=secrets,
        raw_bucket=prof.raw_bucket,
        flows_bucket=prof.flows_bucket,
        bigquery_read=tuple(sorted(set(prof.bigquery_read) | set(writes))),
        bigquery_write=tuple(writes),
        step_types=tuple(e.type for e in entries),
    )


def _check_unique_accounts(specs: Iterable[FunctionSpec]) -> None:
    seen: dict[str, str] = {}
    for spec in specs:
        other = seen.setdefault(spec.service_account_id, spec.name)
        if other != spec.name:
            raise PackagingError(
                f"functions {other!r} and {spec.name!r} map to the same service account id "
                f"{spec.service_account_id!r}"
            )


def _pyproject_pins(root: Path) -> dict[str, str]:
    """Return `normalized name -> requirement string` from pyproject's dependencies and extras."""
    path = root / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        raise PackagingError(f"cannot read [project] from {path}: {e}") from e
    pins: dict[str, str] = {}
    groups = [project.get("dependencies", [])]
    groups += list(project.get("optional-dependencies", {}).values())
    for group in groups:
        for req in group:
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
            if match and not req.strip().startswith(project.get("name", "\0")):
                pins.setdefault(_normalize(match.group(1)), req.strip())
    return pins


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_txt(spec: FunctionSpec, root: Path | None = None) -> str:
    """Return the function's requirements.txt: its packages, pinned as in pyproject.toml."""
    pins = _pyproject_pins(root or repo_root())
    missing = [r for r in spec.requirements if _normalize(r) not in pins]
    if missing:
        raise PackagingError(
            f"function {spec.name!r} needs {', '.join(missing)}, not declared in pyproject.toml "
            "(add it to [project] dependencies or an optional-dependencies group)"
        )
    lines = sorted(pins[_normalize(r)] for r in spec.requirements)
    return "# generated by `mhi package`: do not edit\n" + "\n".join(lines) + "\n"


def build_bundle(
    name: str,
    out_dir: Path,
    root: Path | None = None,
    specs: Mapping[str, FunctionSpec] | None = None,
) -> Path:
    """Write the deployable source of function `name` to `out_dir/<name>/`; return that folder.

    Raises:
        PackagingError: unknown function, or its folder or `main.py` is missing.
    """
    root = root or repo_root()
    specs = specs if specs is not None else function_specs()
    if name not in specs:
        raise PackagingError(f"unknown function {name!r} (known: {', '.join(sorted(specs))})")
    source = root / "functions" / name
    if not (source / "main.py").is_file():
        raise PackagingError(f"function {name!r}: {source / 'main.py'} does not exist")
    target = out_dir / name
    if target.exists():
        shutil.rmtree(target)
    ignore = shutil.ignore_patterns(*_IGNORED)
    shutil.copytree(source, target, ignore=ignore)
    package = root / "shared" / "mhi"
    shutil.copytree(package, target / "mhi", ignore=_package_ignore(package))
    (target / "requirements.txt").write_text(requirements_txt(specs[name], root), encoding="utf-8")
    return target


def _package_ignore(package: Path) -> Callable[[str, list[str]], set[str]]:
    """Return a `copytree` filter: build litter anywhere, `DEV_ONLY` subpackages at the top."""
    litter = shutil.ignore_patterns(*_IGNORED)

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(litter(folder, names))
        if Path(folder) == package:
            skipped.update(n for n in DEV_ONLY if n in names)
        return skipped

    return ignore


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def bundle_hash(folder: Path) -> str:
    """Return a content hash of a bundle folder (paths and bytes; not times or permissions)."""
    digest = hashlib.sha256()
    for path in _files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def zip_bundle(folder: Path, zip_path: Path) -> Path:
    """Zip a bundle folder reproducibly (same content, same bytes) to `zip_path`."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _files(folder):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return zip_path
