"""Reviews in the canonical model: one row per review with hotel, date, score (0-10) and source.

Raw reviews come from ReviewPro (`raw.reviewpro_reviews`, api-reference §7): survey responses
carry `customScore` as a JSON-encoded object (`{"value": 8.6}`) and `date` in epoch
milliseconds; other exports carry a plain `score` / `rating` and an ISO date.
"""

from __future__ import annotations

import pandas as pd

from mhi.analytics.sources import pick_columns
from mhi.ports import Warehouse

DEFAULT_REVIEWS_TABLE = "raw.reviewpro_reviews"
REVIEW_COLUMNS = ("hotel", "review_id", "review_date", "score", "source")

_ALIASES = {
    "review_id": ("id", "review_id", "reviewId", "response_id"),
    "hotel": ("hotel", "productId", "pid", "lodging_id", "hotel_id"),
    "review_date": ("date", "review_date", "published_at", "publishedAt", "created_at"),
    "score": ("customScore", "score", "rating", "overall", "gri"),
    "out_of": ("outOf", "out_of", "scale"),
}


def _number(s: pd.Series) -> pd.Series:
    if s.dtype.kind in "iuf":
        return s.astype("float64")
    text = s.astype("string")
    # A JSON-encoded object such as {"value": 8.6}: take its value without parsing row by row.
    inner = text.str.extract(r'"value"\s*:\s*(-?[0-9.]+)', expand=False)
    return pd.to_numeric(inner.fillna(text), errors="coerce")


def _dates(s: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(s, errors="coerce")
    if numeric.notna().all():
        return pd.to_datetime(numeric, unit="ms", utc=True).dt.tz_localize(None)
    parsed = pd.to_datetime(s.astype("string"), errors="coerce", utc=True, format="ISO8601")
    return parsed.dt.tz_localize(None)


def reviews_from_raw(raw: pd.DataFrame, source: str = "reviewpro") -> pd.DataFrame:
    """Map raw review records onto the canonical reviews table (scores scaled to 0-10)."""
    picked = pick_columns(raw, _ALIASES)
    missing = [c for c in ("hotel", "review_date", "score") if c not in picked.columns]
    if missing:
        from mhi.errors import StepExecutionError

        raise StepExecutionError(f"reviews lack {missing}; looked for {_ALIASES}")
    score = _number(picked["score"])
    if "out_of" in picked.columns:
        score = score * 10.0 / _number(picked["out_of"]).where(lambda v: v > 0)
    ids = picked.get("review_id", pd.Series(range(1, len(raw) + 1), index=raw.index))
    out = pd.DataFrame(
        {
            "hotel": picked["hotel"].astype("string"),
            "review_id": ids.astype("string"),
            "review_date": _dates(picked["review_date"]).astype("datetime64[us]"),
            "score": score,
            "source": source,
        }
    )
    return out[list(REVIEW_COLUMNS)]


def model_reviews(warehouse: Warehouse, account: str, table: str | None) -> pd.DataFrame | None:
    """Return canonical reviews from `table` (default ReviewPro's), or None if there is none."""
    name = table or DEFAULT_REVIEWS_TABLE
    if not warehouse.exists(account, name):
        if table:
            from mhi.errors import StepExecutionError

            raise StepExecutionError(f"reviews table {name} does not exist for account {account}")
        return None
    return reviews_from_raw(warehouse.read(account, name))
