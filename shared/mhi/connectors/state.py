"""Watermarks per account × system × dataset, kept as small JSON objects in the blob store.

Written only after a dataset's data is landed and loaded, so a crash re-reads, never skips.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mhi.errors import StepExecutionError
from mhi.ports import BlobStore


def watermark_key(account: str, system: str, dataset: str) -> str:
    """Return the blob key of a watermark: `state/watermarks/<account>/<system>/<dataset>.json`."""
    return f"state/watermarks/{account}/{system}/{dataset}.json"


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
