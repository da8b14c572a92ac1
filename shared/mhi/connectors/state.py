"""Watermarks, kept as small JSON objects in the blob store.

A watermark belongs to one account × system × dataset × *source scope*: the credentials prefix
(which installation of the system), every system-specific option that chooses which records are
read (tenant, company, site, list, lodgings, surveys, events, chain, property, ...) and the
landing target (the raw table and the raw file prefix). Two flows that read different slices, or
land them in different places, never share a watermark, so neither can advance the other's and
skip its increments; two flows that read the same slice into the same table share one, which is
right (the records they would read are the same). Changing any of those options starts a new
watermark: the next run reads the full history window again (merged by key, so nothing doubles).

Written only after a dataset's data is landed and loaded, so a crash re-reads, never skips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mhi.errors import StepExecutionError
from mhi.ports import BlobStore


def watermark_scope(prefix: str, options: Mapping[str, Any], target: Mapping[str, str]) -> str:
    """Return the scope part of a watermark key: `<credentials prefix>-<16 hex digits>`.

    The digest covers the credentials prefix, the source-selecting options (lists sorted, so
    `[2, 1]` and `[1, 2]` are one scope) and the landing target.
    """
    canonical = {k: sorted(v, key=str) if isinstance(v, list) else v for k, v in options.items()}
    payload = json.dumps(
        {"credentials": prefix, "options": canonical, "target": dict(target)},
        sort_keys=True,
        default=str,
    )
    return f"{prefix}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def watermark_key(account: str, system: str, dataset: str, scope: str) -> str:
    """Return the blob key of a watermark:
    `state/watermarks/<account>/<system>/<dataset>/<scope>.json`."""
    return f"state/watermarks/{account}/{system}/{dataset}/{scope}.json"


@dataclass(frozen=True)
class WatermarkState:
    """Where the last successful run of a dataset got to, and the fields it saw."""

    value: str | None
    kind: str
    fields: list[str] = field(default_factory=list)
    schema_hash: str = ""
    run_id: str = ""
    saved_at: str = ""
    rows: int = 0


def read_state(blobs: BlobStore, key: str) -> WatermarkState | None:
    """Return the stored state, or None before the first run.

    Raises:
        StepExecutionError: the stored object is not a watermark (fix or delete it).
    """
    raw = blobs.read_bytes(key)
    if raw is None:
        return None
    try:
        data: dict[str, Any] = json.loads(raw)
        return WatermarkState(**data)
    except (ValueError, TypeError) as e:
        raise StepExecutionError(
            f"watermark {key} is unreadable ({type(e).__name__}); delete it to extract in full"
        ) from None


def write_state(blobs: BlobStore, key: str, state: WatermarkState) -> None:
    """Replace the stored state."""
    blobs.write_bytes(key, json.dumps(asdict(state), indent=1).encode(), "application/json")
