"""Session-scoped fixtures over the bundled dataset (the full file loads in well under 1 s)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mhi.analytics.modeling import ModelResult, inventory_for, model_reservations, stay_nights
from mhi.analytics.sources import source_mapping, stage

DATA = Path(__file__).resolve().parents[3] / "data" / "hotel_bookings.csv.gz"
ROOMS = {"City Hotel": 230, "Resort Hotel": 190}


@pytest.fixture(scope="session")
def raw_bookings() -> pd.DataFrame:
    """The bundled CSV exactly as its README says to load it."""
    return pd.read_csv(DATA, keep_default_na=False, na_values=["NA"])


@pytest.fixture(scope="session")
def modelled(raw_bookings: pd.DataFrame) -> ModelResult:
    return model_reservations(
        stage(source_mapping("hotel_bookings"), raw_bookings), source="hotel_bookings"
    )


@pytest.fixture(scope="session")
def nights(modelled: ModelResult) -> pd.DataFrame:
    return stay_nights(modelled.reservations)


@pytest.fixture(scope="session")
def inventory(modelled: ModelResult) -> pd.DataFrame:
    return inventory_for(modelled.reservations, ROOMS)
