"""Which third-party distributions a function's code imports, found by reading its source.

Starts from `functions/<name>/main.py`, the handlers of its step types and the GCP adapters the
wiring builds for the ports it uses, then follows every `mhi.*` import (module level and
inside functions; not `if TYPE_CHECKING:` blocks, which never run).
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterable
from pathlib import Path

from mhi.catalog import CATALOG
from mhi.packaging import CONTROLLER, FunctionSpec

ROOT = Path(__file__).resolve().parents[2]

# import name (longest prefix wins) -> distribution; "google-cloud-*" = any Google client.
IMPORT_DIST = {
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "croniter": "croniter",
    "functions_framework": "functions-framework",
    "cloudevents": "functions-framework",
    "flask": "functions-framework",
    "google.cloud.pubsub": "google-cloud-pubsub",
    "google.cloud.pubsub_v1": "google-cloud-pubsub",
    "google.pubsub_v1": "google-cloud-pubsub",
    "google.cloud.storage": "google-cloud-storage",
    "google.cloud.secretmanager": "google-cloud-secret-manager",
    "google.cloud.secretmanager_v1": "google-cloud-secret-manager",
    "google.cloud.bigquery": "google-cloud-bigquery",
    "google.cloud.tasks_v2": "google-cloud-tasks",
    "google.api_core": "google-cloud-*",
    "google.auth": "google-cloud-*",
    "google.cloud.exceptions": "google-cloud-*",
    "google.protobuf": "google-cloud-*",
    "grpc": "google-cloud-*",
    "requests": "requests",
    "urllib3": "urllib3",
    "pandas": "pandas",
    "numpy": "numpy",
    "statsmodels": "statsmodels",
    "scipy": "scipy",
    "pyarrow": "pyarrow",
    "matplotlib": "matplotlib",
    "duckdb": "duckdb",
}

# Imported inside functions of a module that is reachable, but never on a function's path:
# import name -> why.
NEVER_LOADED = {
    "duckdb": "only DuckDbWarehouse's methods import it; BigQuery functions import the "
    "module's naming helpers (dataset_name, qualify_sql), never the DuckDB warehouse",
}

# The adapter each port is served by on the gcp back end (shared/mhi/runtime/wiring.py).
_ADAPTERS = {
    "run_store": "mhi.adapters.gcp.gcs_run_store",
    "bus": "mhi.adapters.gcp.pubsub_bus",
    "blobs": "mhi.adapters.gcp.gcs_blob_store",
    "secrets": "mhi.adapters.gcp.secret_manager",
    "warehouse": "mhi.adapters.gcp.bigquery_warehouse",
    "flows": "mhi.adapters.gcp.gcs_flow_source",
    "timers": "mhi.adapters.gcp.cloud_tasks_timers",
}


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath("shared", *module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str) -> Iterable[str]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (i for n in node.orelse for i in _imports(n, package))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.split(".")[0] == "mhi":
                yield base  # the module itself; its names may be submodules too
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imports(node, package)


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def third_party(roots: Iterable[str], main: Path) -> set[str]:
    """Return the top import names outside `mhi` and the stdlib reachable from the roots."""
    seen: set[str] = set()
    found: set[str] = set()
    todo: list[tuple[str, Path]] = [("", main)]
    todo += [(m, p) for m in roots if (p := _module_file(m))]
    while todo:
        module, path = todo.pop()
        if str(path) in seen:
            continue
        seen.add(str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in _imports(_parse(path), package):
            top = name.split(".")[0]
            if top == "mhi":
                target = _module_file(name)
                if target is not None:
                    todo.append((name, target))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.add(name)
    return found


def distribution(name: str) -> str | None:
    """Return the distribution providing import `name` (None if unknown)."""
    best = None
    for prefix, dist in IMPORT_DIST.items():
        if (name == prefix or name.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, dist)
    return best[1] if best else None


def roots_of(spec: FunctionSpec) -> list[str]:
    """Return the modules a function may load lazily: its handlers and its GCP adapters."""
    roots = [e.target.partition(":")[0] for e in CATALOG if e.function == spec.name]
    ports = ["run_store", "bus"]
    if spec.flows_bucket:
        ports.append("flows")
    if spec.name == CONTROLLER:
        ports.append("timers")
    if spec.raw_bucket:
        ports.append("blobs")
    if spec.secrets or "google-cloud-secret-manager" in spec.requirements:
        ports.append("secrets")
    if spec.bigquery_read or spec.bigquery_write:
        ports.append("warehouse")
    return roots + [_ADAPTERS[p] for p in ports]
