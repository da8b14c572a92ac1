"""Vectorised parsing helpers for validation: per-distinct-value string work, first-failure
reasons per row, ISO date parsing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


class Checks:
    """Collect the first failing reason per row, with a human-readable detail."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(pd.NA, index=index, dtype="string")
        self.detail = pd.Series(pd.NA, index=index, dtype="string")

    def fail(
        self, mask: pd.Series, reason: str, detail: str | Callable[[pd.Series], pd.Series]
    ) -> None:
        """Mark rows in `mask` not failed yet; `detail` gets the boolean mask of those rows."""
        new = mask.fillna(False).astype(bool) & self.reason.isna()
        if not new.any():
            return
        self.reason[new] = reason
        self.detail[new] = detail if isinstance(detail, str) else detail(new).astype("string")


def per_unique(s: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply a vectorised string function to the distinct values only, then broadcast back."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = fn(pd.Series(uniques, dtype="string"))
    if not len(mapped):
        return pd.Series(pd.NA, index=s.index, dtype=mapped.dtype)
    out = mapped.iloc[np.where(codes < 0, 0, codes)]
    out.index = s.index
    return out.mask(codes < 0)


def blank(s: pd.Series) -> pd.Series:
    """Return where a value is missing or only whitespace."""
    if s.dtype.kind in "iufbmM":
        return s.isna()
    empty = per_unique(s, lambda u: (u.str.strip() == "").fillna(True).astype(bool))
    return empty.fillna(True).astype(bool)


def quote(col: str, raw: pd.Series) -> Callable[[pd.Series], pd.Series]:
    """Return a detail maker quoting `col`'s raw value for the failing rows."""
    return lambda m: f"{col}=" + raw[m].astype("string").fillna("<empty>")


def to_datetime(s: pd.Series) -> pd.Series:
    """Parse ISO dates/timestamps (once per distinct value) to naive UTC datetime64[us]."""
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
        return out.astype("datetime64[us]")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    text = pd.Series(uniques, dtype="string").str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    values = parsed.dt.tz_localize(None).astype("datetime64[us]").to_numpy()
    if not len(values):
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    out = pd.Series(values.take(np.where(codes < 0, 0, codes)), index=s.index)
    return out.mask(codes < 0, pd.NaT)
