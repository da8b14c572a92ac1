"""Schema checks while streaming: fields seen, required fields missing, schema drift, and the
watermark range. Memory stays bounded: counters and field sets, never the records."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import datetime
from typing import Any

from mhi.connectors.spec import parse_instant


class SchemaTracker:
    """Observe records: which fields occur, which required fields are missing, which records
    lack their natural key (those cannot be merged and are not loaded)."""

    def __init__(self, key: tuple[str, ...], required: tuple[str, ...]) -> None:
        self.key, self.required = key, tuple(dict.fromkeys((*key, *required)))
        self.fields: dict[str, None] = {}
        self._shapes: set[tuple[str, ...]] = set()
        self.missing: Counter[str] = Counter()
        self.rejected = 0
        self.rows = 0

    def observe(self, record: dict[str, Any]) -> None:
        """Count one record."""
        self.rows += 1
        shape = tuple(record)
        if shape not in self._shapes:
            self._shapes.add(shape)
            for name in shape:
                self.fields.setdefault(name, None)
        lacking = [f for f in self.required if record.get(f) is None]
        if lacking:
            self.missing.update(lacking)
            if any(record.get(k) is None for k in self.key):
                self.rejected += 1

    def schema_hash(self) -> str:
        """Return a short digest of the sorted field names."""
        return hashlib.sha256(json.dumps(sorted(self.fields)).encode()).hexdigest()[:16]

    def changes(self, previous: list[str] | None) -> dict[str, list[str]]:
        """Return fields new since the previous run and fields that vanished (empty when there
        is nothing to compare: first run, or no record this run)."""
        if previous is None or not self.rows:
            return {"new_fields": [], "vanished_fields": []}
        seen, before = set(self.fields), set(previous)
        return {
            "new_fields": sorted(seen - before),
            "vanished_fields": sorted(before - seen),
        }


class WatermarkTracker:
    """The smallest and largest value of the watermark field (timestamps in any common form)."""

    def __init__(self, field: str | None) -> None:
        self.field = field
        self.low: datetime | None = None
        self.high: datetime | None = None
        self.unreadable = 0

    def observe(self, record: dict[str, Any]) -> None:
        """Take the record's watermark value into the range."""
        if self.field is None or record.get(self.field) is None:
            return
        value = parse_instant(record[self.field])
        if value is None:
            self.unreadable += 1
            return
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value


_BAD_CHARS = re.compile(r"[^A-Za-z0-9_]+")


def column_names(fields: list[str]) -> dict[str, str]:
    """Map record fields to warehouse column names (BigQuery rules: letters, digits, `_`).

    `@odata.etag` becomes `odata_etag`; clashes get a numeric suffix.
    """
    out: dict[str, str] = {}
    used: set[str] = {"_landed_at", "_run_id"}
    for name in fields:
        col = _BAD_CHARS.sub("_", name).strip("_") or "field"
        if col[0].isdigit():
            col = f"f_{col}"
        base, n = col, 1
        while col.lower() in used:
            n += 1
            col = f"{base}_{n}"
        used.add(col.lower())
        out[name] = col
    return out
