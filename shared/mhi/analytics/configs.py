"""Config models of the analytics step kinds (pydantic, extra="forbid": typos are errors)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mhi.analytics.metrics import (
    COMPARISONS,
    DEFAULT_METRICS,
    DEFAULT_ON_MISSING_INVENTORY,
    DIMENSIONS,
    GRAINS,
    METRICS,
    RATE_OUTLIER_FACTOR,
    OnMissingInventory,
)

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,100}$")


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} must be lower-case letters, digits and '_'")
    return value


def _rooms(value: dict[str, int]) -> dict[str, int]:
    bad = {h: n for h, n in value.items() if n <= 0}
    if bad:
        raise ValueError(f"rooms must be positive per hotel, got {bad}")
    return value


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileImportConfig(_Config):
    """Load a CSV (optionally .gz) into `raw.<table>` of the run's account."""

    path: str = Field(description="local path, file:// URI, gs:// URI or blob key of the CSV")
    table: str = Field(description="raw table name (written as raw.<table>)")
    sep: str = Field(default=",", max_length=4, description="field separator")
    encoding: str = Field(default="utf-8", description="text encoding of the file")
    keep_default_na: bool = Field(
        default=False,
        description="also read pandas' default markers (NaN, N/A, NULL, ...) as missing values",
    )
    na_values: list[str] = Field(
        default_factory=lambda: ["NA"], description="cell values read as missing"
    )

    _check_table = field_validator("table")(lambda v: _name(v, "table"))


class ModelingConfig(_Config):
    """Map a source's raw reservations onto the canonical model."""

    source: str = Field(
        description="reservations: hotel_bookings, avalon or ulysescloud; revenue sources: "
        "madisa_tickets (POS), fourvenues_tickets and fourvenues_events, holded_invoices, "
        "businesscentral_sales_invoices, axional_invoices_issued; costs: "
        "axional_journal_entries, axional_invoices_received; scores: reviewpro_reviews; "
        "documents: sharepoint365_list_items, sharepoint365_files (mhi.analytics.fact_sources)"
    )
    target_schema: str = Field(default="model", description="layer that receives model tables")
    table: str | None = Field(default=None, description="raw table to read instead of the default")
    rooms: dict[str, int] = Field(default_factory=dict, description="rooms per hotel")
    currency: str = Field(
        default="EUR", pattern=r"^[A-Za-z]{3}$", description="reporting currency (ISO 4217 code)"
    )
    fx_rates: dict[str, float] = Field(
        default_factory=dict, description="reporting-currency units per unit of other currencies"
    )
    date: dt.date | None = Field(
        default=None,
        description="incremental: model only records changed on this day (re-running it "
        "replaces that day's changes); absent: rebuild the model from the whole raw table",
    )
    reviews_table: str | None = Field(default=None, description="raw reviews table, if any")
    rate_outlier_factor: float | None = Field(
        default=RATE_OUTLIER_FACTOR,
        gt=1,
        description="a nightly rate above this many times the hotel's median is a data error: "
        "the booking still counts, its revenue does not (null: no such check)",
    )
    guest_identity: Literal["hashed", "clear", "omit"] = Field(
        default="hashed",
        description="guest names, emails and phones in the model: hashed keeps only guest_key, "
        "an HMAC-SHA256 under the account's secret guest-hash-key (repeat guests stay "
        "countable); clear also keeps guest_name, guest_email, guest_phone; omit keeps neither",
    )

    _check_schema = field_validator("target_schema")(lambda v: _name(v, "target_schema"))
    _check_rooms = field_validator("rooms")(_rooms)


USALI_DEPARTMENTS = ("rooms", "food_and_beverage", "other_operated", "undistributed")


class KpiConfig(_Config):
    """Which KPIs, at which grains, by which dimensions, over which dates."""

    metrics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRICS),
        description=f"KPIs to compute, of: {', '.join(METRICS)}",
    )
    grain: str | list[str] = Field(
        default_factory=lambda: ["day", "month"],
        description=f"period(s), one table each: {', '.join(GRAINS)} (all: one row per "
        "dimension values over the whole range)",
    )
    dimensions: list[str] = Field(
        default_factory=lambda: ["hotel"],
        description=f"columns to break KPIs down by, of: {', '.join(DIMENSIONS)}; [] for totals",
    )
    start: dt.date | None = Field(
        default=None, description="first stay date (absent: from the data's first)"
    )
    end: dt.date | None = Field(default=None, description="last stay date, inclusive")
    comparisons: list[str] = Field(
        default_factory=lambda: list(COMPARISONS),
        description=f"comparison columns to add, of: {', '.join(COMPARISONS)}",
    )
    rooms: dict[str, int] | None = Field(
        default=None, description="rooms per hotel; overrides the model's room inventory"
    )
    include_complimentary: bool = Field(
        default=False,
        description="count complimentary stays (market segment Complementary) as rooms sold",
    )
    as_of: dt.date | None = Field(
        default=None,
        description="snapshot date of the pace metrics (rooms_on_books, pickup, final_pickup, "
        "the pace curve); default: the last booking date in the data",
    )
    pickup_days: int = Field(
        default=7, ge=1, le=365, description="pickup: rooms on books gained over these days"
    )
    on_missing_inventory: OnMissingInventory = Field(
        default=DEFAULT_ON_MISSING_INVENTORY,
        description="a hotel without room inventory: error fails the step, skip leaves its "
        "inventory-based metrics empty with a warning",
    )
    pace_curve_days: int | None = Field(
        default=None,
        ge=0,
        le=730,
        description="also write kpi.pace_<grain>_by_<dimensions>: rooms on the books 0..N days "
        "before each night, beside the same time last year",
    )
    model_schema: str | None = Field(
        default=None, description="layer holding the model tables (default: upstream's, or model)"
    )
    charts: bool = Field(default=True, description="draw trend charts (PNG) of the KPIs")
    report: bool = Field(
        default=False,
        description="write an HTML KPI report (headline, changes against last year, a table per "
        "hotel, charts) to the run's artifacts; needs dimensions [hotel] and a dated grain",
    )
    currency: str = Field(
        default="EUR", pattern=r"^[A-Za-z]{3}$", description="currency named in charts and report"
    )
    usali: bool = Field(
        default=False,
        description="also write kpi.<grain>_usali_by_hotel (revenue by department, TRevPAR, GOP, "
        "GOPPAR, cost per occupied room) from the model's pos_tickets, event_tickets and ledger, "
        "and kpi.<grain>_reviews_by_hotel_source from review_scores; needs room_revenue, "
        "rooms_sold and rooms_available among the metrics and dimensions [hotel]",
    )
    hotel_of: dict[str, str] = Field(
        default_factory=dict,
        description="hotel of each outlet, event and cost centre (not needed with one hotel)",
    )
    departments: dict[str, str] = Field(
        default_factory=dict,
        description="USALI department (rooms, food_and_beverage, other_operated, undistributed) "
        "of cost centres the built-in words do not name",
    )

    _check_rooms = field_validator("rooms")(lambda v: v if v is None else _rooms(v))

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}: valid metrics are {', '.join(METRICS)}")
        return value

    @model_validator(mode="after")
    def _known_grains(self) -> KpiConfig:
        for g in self.grains():
            if g not in GRAINS:
                raise ValueError(f"unknown grain {g!r}: valid grains are {', '.join(GRAINS)}")
        if self.report and (list(self.dimensions) != ["hotel"] or set(self.grains()) <= {"all"}):
            raise ValueError("report needs dimensions [hotel] and a grain other than all")
        return self

    @model_validator(mode="after")
    def _usali_needs(self) -> KpiConfig:
        lack = {"room_revenue", "rooms_sold", "rooms_available"} - set(self.metrics)
        if self.usali and (lack or list(self.dimensions) != ["hotel"]):
            raise ValueError(
                "usali needs dimensions [hotel] and metrics room_revenue, rooms_sold, "
                f"rooms_available (missing: {sorted(lack)})"
            )
        bad = sorted(set(self.departments.values()) - set(USALI_DEPARTMENTS))
        if bad:
            raise ValueError(f"departments {bad}: valid are {', '.join(USALI_DEPARTMENTS)}")
        return self

    def grains(self) -> list[str]:
        """Return the grains as a list."""
        return [self.grain] if isinstance(self.grain, str) else list(self.grain)


class SeriesSpec(_Config):
    """One family of series to forecast (one series per hotel)."""

    measure: Literal["room_nights", "arrivals", "occupancy", "room_revenue"] = Field(
        default="room_nights", description="what to forecast (occupancy needs room inventory)"
    )
    freq: Literal["D", "W", "M", "Q", "Y"] = Field(
        default="D",
        description="series frequency: D daily, W weekly, M monthly, Q quarterly, Y yearly",
    )
    horizon: int = Field(default=28, ge=1, le=730, description="periods to forecast ahead")


class ForecastConfig(_Config):
    """Demand forecasts per hotel, with the model chosen per series by backtest."""

    series: list[SeriesSpec] = Field(
        default_factory=lambda: [
            SeriesSpec(measure="room_nights", freq="D", horizon=28),
            SeriesSpec(measure="room_nights", freq="M", horizon=6),
        ],
        description="series families to forecast, one series per hotel each",
    )
    levels: list[float] = Field(
        default_factory=lambda: [80.0, 95.0],
        description="prediction interval levels, in percent (0-100 exclusive)",
    )
    model: str = Field(
        default="auto",
        description="auto (the combination of ETS, Theta and ARIMA unless one model wins the "
        "backtest clearly) or one of naive, snaive, ets, theta, arima, combo",
    )
    season_length: int | None = Field(
        default=None, ge=1, le=400, description="season length in periods (default: detected)"
    )
    backtest_folds: int = Field(
        default=3, ge=1, le=20, description="rolling-origin backtest folds used to pick the model"
    )
    history_end: dt.date | None = Field(
        default=None,
        description="last day of history (default: the earlier of the last arrival and the "
        "last booking)",
    )
    rooms: dict[str, int] | None = Field(
        default=None, description="rooms per hotel; overrides the model's room inventory"
    )
    model_schema: str | None = Field(
        default=None, description="layer holding the model tables (default: upstream's, or model)"
    )
    charts: bool = Field(default=True, description="draw a forecast chart (PNG) per series")

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0 < v < 100]
        if bad or not value:
            raise ValueError(f"levels must be percentages between 0 and 100, got {value}")
        return sorted(set(value))
