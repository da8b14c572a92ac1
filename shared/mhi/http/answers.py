"""Short, safe descriptions of answers for error messages (shared by Qlik and notifications)."""

from __future__ import annotations

from typing import Any

from mhi.http.client import Response


def tries(n: int) -> str:
    """Return `1 try` / `n tries`."""
    return "1 try" if n == 1 else f"{n} tries"


def body_excerpt(response: Response, limit: int = 300) -> str:
    """Return a short, single-line excerpt of a response body (a JSON error's message when the
    body has one); the caller redacts it."""
    try:
        data = response.json()
    except ValueError:
        text = response.text()
    else:
        text = _json_message(data) or response.text()
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _json_message(data: Any) -> str | None:
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return " ".join(str(first.get(k)) for k in ("title", "detail") if first.get(k))
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return None
