"""Problems found in a document: (JSON path, message) pairs; pydantic errors turned into them."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

Problem = tuple[str, str]


def json_path(prefix: str, loc: Sequence[int | str]) -> str:
    """Append a pydantic location (`("steps", 0, "id")`) to a JSON path (`$.steps[0].id`)."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def format_validation_error(error: ValidationError, prefix: str = "$") -> list[Problem]:
    """Turn a pydantic error into (JSON path, message) pairs."""
    out = []
    for item in error.errors():
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append((json_path(prefix, item["loc"]), msg))
    return out
