"""Landing: stream records into gzip NDJSON files under `raw/<account>/<system>/<dataset>/`,
upload each file as soon as it is full (at most one file is ever on local disk), then load the
files one by one into the warehouse raw layer with a merge on the natural key.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mhi.errors import StepExecutionError
from mhi.ports import BlobStore, Warehouse

logger = logging.getLogger(__name__)

NDJSON_GZ = "application/x-ndjson"


def raw_prefix(account: str, system: str, dataset: str, run_id: str) -> str:
    """Return the prefix of one run's landed files (ending in '/')."""
    return f"raw/{account}/{system}/{dataset}/run={run_id}/"


@dataclass(frozen=True)
class Part:
    """One landed file."""

    key: str
    uri: str
    rows: int
    bytes: int


class PartWriter:
    """Write records to `part-00001.ndjson.gz`, ... under a prefix, `rows_per_file` each."""

    def __init__(
        self, blobs: BlobStore, prefix: str, rows_per_file: int, workdir: str, level: int = 3
    ) -> None:
        self.blobs, self.prefix, self.rows_per_file = blobs, prefix, rows_per_file
        self.workdir, self.level = workdir, level
        self.parts: list[Part] = []
        self._file: gzip.GzipFile | None = None
        self._rows = 0

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records, rolling over to a new file every `rows_per_file`."""
        lines: list[str] = []
        for record in records:
            lines.append(_ENCODE(record))
            if self._rows + len(lines) >= self.rows_per_file:
                self._append(lines)
                self._flush()
                lines = []
        if lines:
            self._append(lines)

    def _append(self, lines: list[str]) -> None:
        if self._file is None:
            self._open()
        self._file.write(("\n".join(lines) + "\n").encode())  # type: ignore[union-attr]
        self._rows += len(lines)

    def close(self) -> list[Part]:
        """Upload the last file; return every part landed."""
        self._flush()
        return self.parts

    def _path(self) -> str:
        return os.path.join(self.workdir, "part.ndjson.gz")

    def _open(self) -> None:
        self._file = gzip.GzipFile(self._path(), "wb", compresslevel=self.level, mtime=0)
        self._rows = 0

    def _flush(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        key = f"{self.prefix}part-{len(self.parts) + 1:05d}.ndjson.gz"
        size = os.path.getsize(self._path())
        uri = self.blobs.upload_file(key, self._path(), NDJSON_GZ)
        os.unlink(self._path())
        self.parts.append(Part(key, uri, self._rows, size))
        self._rows = 0
        logger.info("landed %s (%d rows, %d bytes)", key, self._rows, size)


def clear_prefix(blobs: BlobStore, prefix: str) -> int:
    """Delete what an earlier, unfinished attempt of the same run left under `prefix`."""
    keys = blobs.list(prefix)
    for key in keys:
        blobs.delete(key)
    return len(keys)


def read_part(blobs: BlobStore, part: Part, batch: int) -> Iterator[list[dict[str, Any]]]:
    """Read a landed file back, `batch` records at a time (decompressed as a stream).

    Raises:
        StepExecutionError: the file vanished between landing and loading.
    """
    data = blobs.read_bytes(part.key)
    if data is None:
        raise StepExecutionError(f"landed file {part.key} disappeared before it was loaded")
    out: list[dict[str, Any]] = []
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for line in lines:
            if line.strip():
                out.append(json.loads(line))
            if len(out) >= batch:
                yield out
                out = []
    if out:
        yield out


# One encoder: `json.dumps(..., separators=...)` would build a new one per record.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _column(records: Sequence[dict[str, Any]], name: str) -> list[Any]:
    values = [r.get(name) for r in records]
    if any(isinstance(v, dict | list) for v in values):
        return [_ENCODE(v) if isinstance(v, dict | list) else v for v in values]
    return values


def to_frame(
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    landed_at: datetime,
    run_id: str,
) -> Any:
    """Build the raw-layer frame: one column per top-level field (nested values as JSON text),
    plus `_landed_at` and `_run_id`."""
    import pandas as pd

    frame = pd.DataFrame({col: _column(records, name) for name, col in columns.items()})
    frame["_landed_at"] = pd.Timestamp(landed_at)
    frame["_run_id"] = run_id
    return frame


@dataclass
class Loader:
    """Load landed files into one raw table with a merge on the natural key, in batches."""

    warehouse: Warehouse
    account: str
    table: str
    key: tuple[str, ...]
    columns: dict[str, str]
    landed_at: datetime
    run_id: str
    batch: int = 10_000  # records per warehouse write: bounds memory, whatever the file size

    def load(self, blobs: BlobStore, parts: Sequence[Part]) -> int:
        """Load every part in order (later records win); return the rows written."""
        if not parts:
            return 0
        total = 0
        key_cols = [self.columns.get(k, k) for k in self.key]
        for part in parts:
            for batch in read_part(blobs, part, self.batch):
                records = [r for r in batch if _has_key(r, self.key)]
                if not records:
                    continue
                frame = to_frame(records, self.columns, self.landed_at, self.run_id)
                frame = frame.drop_duplicates(key_cols, keep="last")
                total += self.warehouse.write(
                    self.account, self.table, frame, mode="merge", keys=key_cols
                )
        return total


def _has_key(record: dict[str, Any], key: tuple[str, ...]) -> bool:
    return all(record.get(k) is not None for k in key)
