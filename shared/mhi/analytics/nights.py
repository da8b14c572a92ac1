"""Stay nights and room inventory: the day-level tables of the canonical model, vectorised."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mhi.analytics.metrics import SEGMENT_DIMENSIONS
from mhi.errors import StepConfigError

NIGHT_COLUMNS = (
    "hotel",
    "stay_date",
    "reservation_id",
    "room_revenue",
    "other_revenue",
    "is_complimentary",
    "booking_date",
    "status",
    *SEGMENT_DIMENSIONS,
)
# Personal data among these and the guest columns (MODEL_GUEST_COLUMNS, those the staging kept
# at the end of reservations): mhi.analytics.personal.PERSONAL_COLUMNS.


def expand_nights(res: pd.DataFrame, columns: tuple[str, ...] = NIGHT_COLUMNS) -> pd.DataFrame:
    """Return one row per night of each reservation in `res` (no filtering), vectorised."""
    counts = res["nights"].clip(lower=0).to_numpy(dtype=np.int64)
    idx = np.repeat(np.arange(len(res)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    offset = np.arange(len(idx)) - starts
    out = res.iloc[idx].reset_index(drop=True)
    out["stay_date"] = out["arrival_date"] + pd.to_timedelta(offset, unit="D")
    nights = out["nights"].where(out["nights"] > 0)
    out["room_revenue"] = out["adr"]
    out["other_revenue"] = out["other_revenue"] / nights
    return out[[c for c in columns if c in out.columns]]


def stay_nights(res: pd.DataFrame) -> pd.DataFrame:
    """Return one row per occupied room-night (bookings that were not cancelled)."""
    return expand_nights(res[~res["is_cancelled"] & (res["nights"] > 0)])


def room_inventory(
    rooms: Mapping[str, int], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Return rooms available per hotel per day from a `{hotel: rooms}` mapping."""
    bad = {h: n for h, n in rooms.items() if not isinstance(n, int | np.integer) or n <= 0}
    if bad:
        raise StepConfigError(f"rooms must be positive whole numbers per hotel, got {bad}")
    days = pd.date_range(start.normalize(), end.normalize(), freq="D")
    grid = pd.MultiIndex.from_product([sorted(rooms), days], names=["hotel", "date"])
    inv = grid.to_frame(index=False)
    inv["hotel"] = inv["hotel"].astype("string")
    inv["rooms_available"] = inv["hotel"].map(dict(rooms)).astype("int64")
    return inv


def inventory_for(res: pd.DataFrame, rooms: Mapping[str, int]) -> pd.DataFrame:
    """Return room inventory covering every night of `res` for the configured hotels."""
    if res.empty or not rooms:
        return room_inventory({}, pd.Timestamp("2000-01-01"), pd.Timestamp("1999-12-31"))
    last = (res["departure_date"] - pd.Timedelta(days=1)).max()
    return room_inventory(rooms, res["arrival_date"].min(), max(last, res["arrival_date"].min()))
