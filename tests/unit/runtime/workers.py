"""Racing OS processes for the runtime tests: each a worker script beside the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def run_workers(script: str, args: list[list[str]], timeout: float = 90) -> list[int]:
    """Start `script` (a file in this folder) once per argument list, all at once; return their
    exit codes. One still running after `timeout` seconds is killed (and fails the test)."""
    worker = str(Path(__file__).with_name(script))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, worker, *a], env=env) for a in args]
    try:
        return [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
