"""Start-up time of the `mhi` command line, beside a bare interpreter.

Runs each command N times in a fresh process and prints the median wall time of each and the
difference from `python -c pass` (the interpreter's own start-up, site and .pth files included).
Run from the repository root:  .venv/bin/python bench/bench_cli.py [--runs N]

Every command runs against an empty state folder (a fresh MHI_HOME) so the figures are those of
the command's own imports, not of a large run store. `mhi steps TYPE` imports the step type's
config model; `mhi runs list` imports the runtime that reads run state.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "mhi --help": ["-m", "mhi.cli.main", "--help"],
    "mhi steps": ["-m", "mhi.cli.main", "steps"],
    "mhi steps ms-kpi-engine": ["-m", "mhi.cli.main", "steps", "ms-kpi-engine"],
    "mhi runs list": ["-m", "mhi.cli.main", "runs", "list"],
    "mhi validate flows/demo-hotel-kpis.json": [
        "-m",
        "mhi.cli.main",
        "validate",
        "flows/demo-hotel-kpis.json",
    ],
    "python -c 'import pandas' (for scale)": ["-c", "import pandas"],
}


def wall_times(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Seconds each of `runs` fresh interpreters took to run `python ARGS` to its end."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, check=True, timeout=120
        )
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    """Print the median start-up of each command and its difference from `python -c pass`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as home:
        env = {**os.environ, "MHI_HOME": str(Path(home) / "mhi")}
        wall_times(COMMANDS["mhi --help"], 1, env)  # warm the file cache and the .pyc files
        medians = {
            name: statistics.median(wall_times(cmd, args.runs, env))
            for name, cmd in COMMANDS.items()
        }
    base = medians["python -c pass"]
    print(f"median of {args.runs} runs each, {sys.executable}")
    print(f"{'COMMAND':<44} {'MEDIAN':>9} {'VS PASS':>9}")
    for name, median in medians.items():
        print(f"{name:<44} {median * 1000:7.0f}ms {(median - base) * 1000:+7.0f}ms")


if __name__ == "__main__":
    main()
