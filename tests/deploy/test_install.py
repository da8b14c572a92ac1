"""What `pip install` gives: the package `mhi` (from shared/mhi/), and no top-level `shared`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_package_is_mhi_and_nothing_called_shared(tmp_path: Path) -> None:
    # Run away from the checkout, whose shared/ folder would shadow the installed packages.
    code = (
        "import importlib.util, mhi, sys\n"
        "print(mhi.__file__)\n"
        "print(importlib.util.find_spec('shared'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    location, shared = out.stdout.split()
    assert Path(location) == ROOT / "shared" / "mhi" / "__init__.py"
    assert shared == "None"


def test_the_project_declares_mhi_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = project["tool"]["setuptools"]["packages"]["find"]
    assert find == {"where": ["shared"], "include": ["mhi*"]}
    assert project["project"]["scripts"] == {"mhi": "mhi.cli.main:main"}
    assert not (ROOT / "shared" / "__init__.py").exists()
