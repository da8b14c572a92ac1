"""Reading and writing the analytics layers through the Warehouse port.

Model tables of a schema (`model` by default, or the seed's `target_schema`):
  reservations, stay_nights, room_inventory, reviews, validation_report.
Incremental writes delete the changed reservations (by hotel + reservation_id) from
reservations and stay_nights, then append their new rows: re-running a day gives the same
tables, and a reservation that was cancelled or deleted loses its stay nights.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from mhi.analytics.modeling import ModelResult
from mhi.errors import StepConfigError, StepExecutionError
from mhi.ports import BlobStore, Warehouse

logger = logging.getLogger(__name__)

MODEL_TABLES = ("reservations", "stay_nights", "room_inventory", "reviews", "validation_report")
_KEYS = ("hotel", "reservation_id")


def table_names(schema: str) -> dict[str, str]:
    """Return `{short name: "<schema>.<name>"}` for the model tables."""
    return {t: f"{schema}.{t}" for t in MODEL_TABLES}


def read_csv_bytes(data: bytes, name: str, **options: Any) -> pd.DataFrame:
    """Parse CSV bytes (gzip when `name` ends in .gz); clear errors name the file."""
    compression = "gzip" if name.endswith(".gz") else None
    try:
        frame = pd.read_csv(io.BytesIO(data), compression=compression, **options)
    except pd.errors.EmptyDataError:
        raise StepExecutionError(f"{name}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as e:
        first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise StepExecutionError(f"{name}: not a readable CSV ({first})") from None
    if frame.empty:
        raise StepExecutionError(f"{name}: the file has a header but no rows")
    return frame


def read_source(path: str, blobs: BlobStore | None) -> bytes:
    """Return the bytes of a local path, file:// URI, gs:// URI (raw bucket) or blob key."""
    if path.startswith("file://"):
        local = Path(path.removeprefix("file://"))
        if not local.is_file():
            raise StepConfigError(f"{path}: no such file")
        return local.read_bytes()
    if path.startswith("gs://"):
        key = path.removeprefix("gs://").partition("/")[2]
        data = blobs.read_bytes(key) if blobs is not None and key else None
        if data is None:
            raise StepConfigError(f"{path}: no such object in the raw bucket")
        return data
    local = Path(path)
    if local.is_file():
        return local.read_bytes()
    data = blobs.read_bytes(path) if blobs is not None else None
    if data is None:
        raise StepConfigError(f"{path}: no such file (relative to {Path.cwd()}) or blob")
    return data


def read_table(warehouse: Warehouse, account: str, table: str, hint: str) -> pd.DataFrame:
    """Read a table, or raise a clear error saying what should have produced it."""
    if not warehouse.exists(account, table):
        raise StepExecutionError(f"table {table} does not exist for account {account}: {hint}")
    return warehouse.read(account, table)


def _reject_frame(result: ModelResult, batch: str) -> pd.DataFrame:
    """Return the validation report: rejected rows, then kept bookings without revenue."""
    parts = [
        frame.assign(action=action)
        for frame, action in ((result.rejects, "rejected"), (result.excluded, "revenue_excluded"))
        if not frame.empty
    ]
    report = pd.concat(parts, ignore_index=True) if parts else result.rejects.assign(action="")
    report.insert(0, "batch", batch)
    if report.empty:  # keep a typed, empty report so the table always exists
        report = report.astype(
            {"batch": "string", "reason": "string", "detail": "string", "action": "string"}
        )
    return report


def write_model(
    warehouse: Warehouse,
    account: str,
    schema: str,
    result: ModelResult,
    nights: pd.DataFrame,
    inventory: pd.DataFrame,
    day: date | None,
) -> dict[str, int]:
    """Write the model tables (full rebuild, or the changes of one day); return rows written."""
    names = table_names(schema)
    batch = day.isoformat() if day else "full"
    res = result.reservations
    if day is None:
        warehouse.write(account, names["reservations"], res)
        warehouse.write(account, names["stay_nights"], nights)
        warehouse.write(account, names["validation_report"], _reject_frame(result, batch))
        if not inventory.empty:
            warehouse.write(account, names["room_inventory"], inventory)
    else:
        _replace_reservations(warehouse, account, schema, result, nights)
        report = _reject_frame(result, batch)
        warehouse.write(account, names["validation_report"], report, mode="merge", keys=["batch"])
        if not inventory.empty:
            warehouse.write(
                account, names["room_inventory"], inventory, mode="merge", keys=["hotel", "date"]
            )
    return {
        "reservations": len(res),
        "stay_nights": len(nights),
        "room_inventory": len(inventory),
    }


def _replace_reservations(
    warehouse: Warehouse,
    account: str,
    schema: str,
    result: ModelResult,
    nights: pd.DataFrame,
) -> None:
    names = table_names(schema)
    changed = pd.concat(
        [result.reservations[list(_KEYS)], result.deleted.reindex(columns=list(_KEYS))]
    ).drop_duplicates()
    if changed.empty:
        return
    if not warehouse.exists(account, names["reservations"]):
        warehouse.write(account, names["reservations"], result.reservations)
        warehouse.write(account, names["stay_nights"], nights)
        return
    keys_table = f"{schema}._changed_reservations"
    warehouse.write(account, keys_table, changed.astype("string"))
    for short in ("reservations", "stay_nights"):
        match = " AND ".join(f"c.{k} = t.{k}" for k in _KEYS)
        warehouse.query(
            account,
            f"DELETE FROM {names[short]} AS t WHERE EXISTS "
            f"(SELECT 1 FROM {keys_table} AS c WHERE {match})",
        )
    if not result.reservations.empty:
        warehouse.write(account, names["reservations"], result.reservations, mode="append")
    if not nights.empty:
        warehouse.write(account, names["stay_nights"], nights, mode="append")


def read_model(
    warehouse: Warehouse, account: str, schema: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return (reservations, stay_nights, room_inventory) of a model schema."""
    names = table_names(schema)
    hint = "run an ms-data-modeling step first"
    res = read_table(warehouse, account, names["reservations"], hint)
    nights = read_table(warehouse, account, names["stay_nights"], hint)
    inv_table = names["room_inventory"]
    if warehouse.exists(account, inv_table):
        inventory = warehouse.read(account, inv_table)
    else:
        inventory = pd.DataFrame({"hotel": [], "date": [], "rooms_available": []})
    return _typed(res), _typed(nights), _typed(inventory)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalise dtypes after a warehouse round trip (datetimes without tz, bool flags)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            s = out[col]
            out[col] = (s.dt.tz_localize(None) if s.dt.tz is not None else s).astype(
                "datetime64[us]"
            )
        elif col.startswith("is_"):
            out[col] = out[col].astype("boolean").fillna(False).astype(bool)
    return out


def model_schema(explicit: str | None, upstream: Mapping[str, Mapping[str, Any]]) -> str:
    """Return the model layer: the config's, else an upstream modeling step's, else `model`."""
    if explicit:
        return explicit
    found = {o["schema"] for o in upstream.values() if isinstance(o.get("schema"), str)}
    if len(found) > 1:
        raise StepConfigError(
            f"upstream steps name several model schemas {sorted(found)}: set model_schema"
        )
    return found.pop() if found else "model"
