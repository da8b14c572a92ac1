"""Helpers shared by CLI commands: settings, services, JSON files, tables.

Every command module imports this at start-up: keep it to the standard library and light `mhi`
modules (no pydantic models, no pandas, no Google client).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mhi.config import Settings
from mhi.errors import InvalidMessageError
from mhi.services import Services


def services_from_env() -> Services:
    """Build services from the environment (the embedded default unless MHI_BACKEND says so).

    Raises:
        InvalidMessageError: an MHI_* variable has a value the settings do not accept.
    """
    try:
        settings = Settings.from_env()
    except ValueError as e:
        raise InvalidMessageError(f"settings from the environment: {e}") from None
    return Services(settings)


def load_json_file(path: str) -> Any:
    """Read a JSON file; a clear error names the file, line and column."""
    p = Path(path)
    if not p.is_file():
        raise InvalidMessageError(f"{path}: no such file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidMessageError(
            f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None
    except UnicodeDecodeError:
        raise InvalidMessageError(f"{path}: not UTF-8 text") from None


def parse_json_arg(value: str, what: str) -> Any:
    """Parse a JSON command-line argument (or `@file`)."""
    if value.startswith("@"):
        return load_json_file(value[1:])
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise InvalidMessageError(f"{what} is not valid JSON: {e.msg} (column {e.colno})") from None


def parse_assignments(items: Sequence[str], what: str) -> dict[str, Any]:
    """Parse `name=value` pairs; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise InvalidMessageError(f"{what} {item!r}: expected NAME=VALUE")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Render a plain text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def seconds(value: float | None) -> str:
    """Format a duration."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"
