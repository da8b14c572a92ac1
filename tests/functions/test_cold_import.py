"""The controller's cold start imports nothing heavy (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.handle)
print(json.dumps(sorted(sys.modules)))
"""

HEAVY = ("pandas", "numpy", "statsmodels", "duckdb", "pyarrow", "matplotlib")
LAZY = ("google.cloud.bigquery", "google.cloud.storage", "google.cloud.pubsub_v1", "grpc")


def _modules_after_import(function: str) -> set[str]:
    main = ROOT / "functions" / function / "main.py"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(main)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=60,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_controller_imports_no_analytics_stack_and_no_cloud_client() -> None:
    modules = _modules_after_import("controller")
    assert "mhi.runtime.entry" in modules
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(LAZY))
    assert loaded == [], f"imported at cold start: {loaded}"


def test_a_step_function_defers_its_handler_until_the_first_message() -> None:
    modules = _modules_after_import("kpi_engine")
    assert not any(m.split(".")[0] in HEAVY for m in modules)
    assert "mhi.analytics" not in modules
