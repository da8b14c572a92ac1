"""The CLI starts at once: the everyday commands load no heavy module, and a closed pipe is quiet.

Each command runs in a fresh interpreter (a test process has long imported everything), on an
empty-but-real run store and a real flow file, so the command's own code path really runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mhi.cli.main import EXIT_BROKEN_PIPE, main

# pandas & co. take seconds to import; the Google clients almost as long. `google.cloud` itself
# is a namespace package that .pth files preload, so only its submodules count.
HEAVY = ("pandas", "numpy", "scipy", "statsmodels", "duckdb", "matplotlib", "pyarrow")

_DRIVER = """
import importlib, json, sys
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
from mhi.cli.main import main
try:
    code = main(sys.argv[3:])
except SystemExit as e:  # --help
    code = e.code
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in json.loads(sys.argv[1]) or m.startswith("google.cloud.")
)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""

FLOW: dict[str, Any] = {
    "flow_id": "light",
    "account": "acme",
    "flow_config": {
        "steps": [
            {"id": "kpis", "type": "ms-kpi-engine", "config": {"metrics": ["occupancy"]}},
            {
                "id": "note",
                "type": "ms-notifications",
                "depends_on": ["kpis"],
                "config": {"type": "outbox", "recipients": "a@example.com"},
            },
        ]
    },
}


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MHI_FLOWS_DIR": str(tmp_path)}  # MHI_HOME: the test's own (conftest)


def _modules_loaded_by(
    args: list[str], tmp_path: Path, preload: tuple[str, ...] = ()
) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(HEAVY), json.dumps(preload), *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    last = proc.stderr.strip().splitlines()[-1:]
    assert last and last[0].startswith("{"), proc.stderr
    report = json.loads(last[0])
    return report["code"], report["heavy"]


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "light.json"
    path.write_text(json.dumps(FLOW))
    return path


@pytest.fixture
def finished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    flow = tmp_path / "echo.json"
    steps = [{"id": "a", "type": "ms-echo", "config": {"rows": 3}}]
    flow.write_text(json.dumps({**FLOW, "flow_config": {"steps": steps}}))
    assert main(["run", str(flow), "--run-id", "light-1", "-q"]) == 0
    capsys.readouterr()
    return "light-1"


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["runs", "list"],
        ["steps"],
        ["steps", "ms-kpi-engine"],
        ["steps", "ms-demand-forecast"],
        ["steps", "ms-extractor-avalon"],
    ],
    ids=" ".join,
)
def test_everyday_commands_load_no_heavy_module(args: list[str], tmp_path: Path) -> None:
    code, heavy = _modules_loaded_by(args, tmp_path)
    assert code == 0
    assert heavy == []


def test_validate_and_runs_show_load_no_heavy_module(
    tmp_path: Path, flow_file: Path, finished_run: str
) -> None:
    assert _modules_loaded_by(["validate", str(flow_file)], tmp_path) == (0, [])
    assert _modules_loaded_by(["runs", "show", finished_run], tmp_path) == (0, [])
    assert _modules_loaded_by(["runs", "list"], tmp_path) == (0, [])


def test_the_probe_is_not_blind(tmp_path: Path) -> None:
    preload = ("pandas", "google.cloud.storage")
    code, heavy = _modules_loaded_by(["--help"], tmp_path, preload)
    assert code == 0
    assert {"pandas", "numpy", "google.cloud.storage"} <= set(heavy)


def _into_closed_pipe(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `mhi ARGS` with stdout a pipe whose reader is already gone (as after `head -1`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "mhi.cli.main", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=_env(tmp_path),
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [["steps"], ["steps", "ms-kpi-engine"], ["runs", "list"], ["--help"], ["step", "ms-echo"]],
    ids=" ".join,
)
def test_a_closed_pipe_ends_quietly(args: list[str], tmp_path: Path, finished_run: str) -> None:
    proc = _into_closed_pipe(args, tmp_path)
    assert proc.stderr == ""
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_piping_into_head_prints_the_first_lines_only(tmp_path: Path) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m mhi.cli.main steps ms-notifications | head -2",
        shell=True,
        capture_output=True,
        env=_env(tmp_path),
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].startswith("ms-notifications: ")
    assert len(proc.stdout.splitlines()) == 2
    assert proc.stderr == ""


def test_python_dash_m_mhi_is_the_same_command_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mhi", "steps"],
        capture_output=True,
        env=_env(tmp_path),
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("TYPE ") and "ms-echo" in proc.stdout
