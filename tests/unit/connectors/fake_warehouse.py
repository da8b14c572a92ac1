"""An in-memory `Warehouse` for connector tests: frames per (account, table), merge on keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


class MemoryWarehouse:
    """Tables held as DataFrames; `writes` records every call (account, table, mode, rows)."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str], pd.DataFrame] = {}
        self.writes: list[tuple[str, str, str, int]] = []

    def write(
        self,
        account: str,
        table: str,
        frame: pd.DataFrame,
        *,
        mode: str = "replace",
        keys: Sequence[str] = (),
    ) -> int:
        """Write `frame`; `merge` deletes the rows whose keys the frame holds and inserts the
        frame (as the DuckDB and BigQuery adapters do), new columns are added."""
        if mode not in ("replace", "merge", "append"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode == "merge" and not keys:
            raise ValueError("merge needs keys")
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ValueError(f"merge keys {missing} are not columns of the frame")
        old = self.tables.get((account, table))
        if mode == "replace" or old is None:
            new = frame.copy()
        elif mode == "append":
            new = pd.concat([old, frame], ignore_index=True)
        else:
            held = pd.MultiIndex.from_frame(frame[list(keys)].astype("string"))
            replaced = pd.MultiIndex.from_frame(old[list(keys)].astype("string")).isin(held)
            new = pd.concat([old[~replaced], frame], ignore_index=True)
        self.tables[(account, table)] = new
        self.writes.append((account, table, mode, len(frame)))
        return len(frame)

    def read(self, account: str, table: str) -> pd.DataFrame:
        """Return a copy of the table."""
        return self.tables[(account, table)].copy()

    def query(
        self, account: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Extractors never query; a test that needs SQL uses the DuckDB adapter."""
        raise NotImplementedError("MemoryWarehouse does not run SQL")

    def exists(self, account: str, table: str) -> bool:
        """Return whether the table exists."""
        return (account, table) in self.tables
