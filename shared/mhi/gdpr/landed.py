"""Landed raw files: rewrite every gzip NDJSON file under `raw/<account>/` without the guest.

Each file is read as a stream of lines, and written back (same key, same format) only when it
held some of the guest's records; its run's `manifest.json` then says how many rows the file
keeps. Other files under the prefix are reported as not searched.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mhi.connectors.landing import NDJSON_GZ
from mhi.gdpr.guest import GdprError, Guest
from mhi.ports import BlobStore

logger = logging.getLogger(__name__)

LANDED_SUFFIX = ".ndjson.gz"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class FileErasure:
    """One landed file that held the guest: rows removed and rows kept."""

    key: str
    removed: int
    kept: int


@dataclass
class LandedErasure:
    """What the landed files held: files with the guest, their records, files not searched."""

    files: list[FileErasure] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    not_searched: list[str] = field(default_factory=list)


def landed_prefix(account: str) -> str:
    """Return the prefix of every file landed for an account (`raw/<account>/`)."""
    return f"raw/{account}/"


def _lines(key: str, data: bytes) -> Iterator[tuple[bytes, Any]]:
    """Yield (line, parsed record) of a gzip NDJSON file; a bad file is a clear error."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield line.rstrip(b"\n"), _record(key, number, line)
    except (OSError, EOFError) as e:
        raise GdprError(f"{key}: not a gzip file ({e}); nothing of it was changed") from None


def _record(key: str, number: int, line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise GdprError(f"{key}: line {number} is not JSON; nothing of it was changed") from None


def _gzip(lines: list[bytes]) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as stream:
        if lines:
            stream.write(b"\n".join(lines) + b"\n")
    return out.getvalue()


def erase_landed(
    blobs: BlobStore, account: str, guest: Guest, *, dry_run: bool = False
) -> LandedErasure:
    """Remove the guest's records from every landed file of `account`; return what was found."""
    result = LandedErasure()
    rewritten: dict[str, tuple[int, int]] = {}
    for key in blobs.list(landed_prefix(account)):
        if not key.endswith(LANDED_SUFFIX):
            if not key.endswith("/" + MANIFEST):
                result.not_searched.append(key)
            continue
        data = blobs.read_bytes(key)
        if data is None:  # deleted since the listing (retention): nothing left to erase
            continue
        kept: list[bytes] = []
        removed: list[Any] = []
        for line, record in _lines(key, data):
            if guest.matches(record):
                removed.append(record)
            else:
                kept.append(line)
        if not removed:
            continue
        result.files.append(FileErasure(key, len(removed), len(kept)))
        result.records += [r for r in removed if isinstance(r, dict)]
        if not dry_run:
            payload = _gzip(kept)
            blobs.write_bytes(key, payload, NDJSON_GZ)
            rewritten[key] = (len(kept), len(payload))
            logger.info("rewrote %s without %d guest rows", key, len(removed))
    if rewritten:
        _update_manifests(blobs, rewritten)
    return result


def _update_manifests(blobs: BlobStore, rewritten: dict[str, tuple[int, int]]) -> None:
    """Make each touched run's manifest give the rows and bytes its files now hold."""
    folders = sorted({key.rpartition("/")[0] for key in rewritten})
    for folder in folders:
        key = f"{folder}/{MANIFEST}"
        data = blobs.read_bytes(key)
        if data is None:
            continue
        try:
            manifest = json.loads(data)
        except ValueError:
            logger.warning("%s is not JSON: its row counts were left as they were", key)
            continue
        files = manifest.get("files") if isinstance(manifest, dict) else None
        for entry in files if isinstance(files, list) else []:
            if isinstance(entry, dict) and entry.get("key") in rewritten:
                entry["rows"], entry["bytes"] = rewritten[entry["key"]]
        manifest["erasures"] = int(manifest.get("erasures", 0)) + 1
        blobs.write_bytes(key, json.dumps(manifest, indent=1).encode(), "application/json")
