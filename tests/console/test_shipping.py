"""The console ships inside the package: the `api` function's bundle carries its assets and
serves them, and the package data of the wheel names them."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mhi.packaging import build_bundle

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ("console.css", "console.js")


def test_the_api_bundle_carries_the_console_assets(tmp_path: Path) -> None:
    folder = build_bundle("api", tmp_path)
    for name in ASSETS:
        shipped = folder / "mhi" / "api" / "static" / name
        source = ROOT / "shared" / "mhi" / "api" / "static" / name
        assert shipped.read_bytes() == source.read_bytes()


def test_the_package_data_names_the_console_assets() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["mhi"]
    static = ROOT / "shared" / "mhi"
    for name in ASSETS:
        path = static / "api" / "static" / name
        assert any(path.match(str(static / p)) for p in patterns), name
