"""`mhi kpi` and `mhi forecast`: the analytics engines on a CSV file, CSV on stdout.

  mhi kpi BOOKINGS.csv --rooms "City Hotel=230,Resort Hotel=190" \\
      --metrics occupancy,adr,revpar,cancellation_rate --by month,hotel
  mhi forecast SERIES.csv --horizon 24 --freq M --levels 80,95
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from mhi.errors import StepConfigError

_KPI_EPILOG = """\
BOOKINGS.csv is the bundled dataset's format (hotel_bookings.csv[.gz]) or the canonical model
(hotel, reservation_id, arrival_date, departure_date, status, adr or room_revenue, ...).
--by mixes one grain (day, week, month, year; default day) with dimensions (hotel,
market_segment, distribution_channel, room_type, country, customer_type, ...).
Metrics: {metrics}."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi kpi` and `mhi forecast`."""
    from mhi.analytics.metrics import METRICS

    k = sub.add_parser(
        "kpi",
        help="hotel KPIs from a bookings CSV (CSV on stdout)",
        epilog=_KPI_EPILOG.format(metrics=", ".join(METRICS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    k.add_argument("file", metavar="BOOKINGS.csv")
    k.add_argument("--rooms", default="", help='rooms per hotel: "City Hotel=230,Resort Hotel=190"')
    k.add_argument("--metrics", default="occupancy,adr,revpar", help="comma-separated metrics")
    k.add_argument("--by", default="day,hotel", help="grain and dimensions, e.g. month,hotel")
    k.add_argument("--start", type=_date, help="first date (YYYY-MM-DD)")
    k.add_argument("--end", type=_date, help="last date (YYYY-MM-DD)")
    k.add_argument("--compare", default="", help="previous_period,last_year")
    k.add_argument("--include-complimentary", action="store_true")
    k.add_argument("--currency", default="EUR")
    k.set_defaults(func=run_kpi)

    f = sub.add_parser("forecast", help="forecast series_id,date,value series (CSV on stdout)")
    f.add_argument("file", metavar="SERIES.csv")
    f.add_argument("--horizon", type=int, required=True)
    f.add_argument("--freq", choices=("D", "W", "M"), default="D")
    f.add_argument("--levels", default="80,95", help="interval levels in percent")
    f.add_argument("--season-length", type=int, help="override the detected season length")
    f.add_argument("--model", default="auto", help="auto, snaive, ets, sarima or combo")
    f.add_argument("--folds", type=int, default=3, help="rolling-origin backtest folds")
    f.set_defaults(func=run_forecast)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_rooms(text: str) -> dict[str, int]:
    """Parse `"City Hotel=230,Resort Hotel=190"`."""
    rooms: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        hotel, sep, count = part.rpartition("=")
        if not sep or not hotel.strip() or not count.strip().isdigit() or int(count) <= 0:
            raise StepConfigError(f"--rooms {part!r}: expected HOTEL=ROOMS with ROOMS > 0")
        rooms[hotel.strip()] = int(count)
    return rooms


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _read_csv(path: str) -> Any:
    from mhi.analytics.store import read_csv_bytes

    p = Path(path)
    if not p.is_file():
        raise StepConfigError(f"{path}: no such file")
    return read_csv_bytes(p.read_bytes(), path, keep_default_na=False, na_values=["NA", ""])


def _model(raw: Any, currency: str) -> Any:
    from mhi.analytics.modeling import model_reservations
    from mhi.analytics.sources import SOURCES, SourceMapping, stage

    if "arrival_date_year" in raw.columns:
        mapping = SOURCES["hotel_bookings"]
    else:
        mapping = SourceMapping("canonical", "the file", SOURCES["avalon"].columns)
    result = model_reservations(stage(mapping, raw), source=mapping.name, currency=currency)
    rejected = result.rejected_by_reason()
    if rejected:
        first = result.rejects.iloc[0]
        print(
            f"warning: {sum(rejected.values())} rows rejected ({rejected}); first: data row "
            f"{first['source_row']}: {first['reason']} ({first['detail']})",
            file=sys.stderr,
        )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return result.reservations


def run_kpi(args: argparse.Namespace) -> int:
    """Compute KPIs for a bookings file and print them as CSV."""
    from mhi.analytics.kpi import KpiSpec, compute_kpis
    from mhi.analytics.metrics import GRAINS, check_metrics
    from mhi.analytics.modeling import inventory_for

    by = _split(args.by)
    grains = [b for b in by if b in GRAINS]
    if len(grains) > 1:
        raise StepConfigError(f"--by names several grains {grains}: choose one")
    spec = KpiSpec(
        metrics=check_metrics(_split(args.metrics)),
        grain=grains[0] if grains else "day",
        dimensions=[b for b in by if b not in GRAINS],
        start=args.start,
        end=args.end,
        comparisons=_split(args.compare),
        include_complimentary=args.include_complimentary,
    )
    res = _model(_read_csv(args.file), args.currency)
    result = compute_kpis(res, inventory_for(res, parse_rooms(args.rooms)), spec)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    table = result.table.assign(period=result.table["period"].dt.strftime("%Y-%m-%d"))
    table.round(6).to_csv(sys.stdout, index=False, lineterminator="\n")
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    """Forecast every series of a long CSV and print forecasts with intervals as CSV."""
    from mhi.analytics.forecast import forecast_many
    from mhi.analytics.series_input import regular_series

    try:
        levels = sorted({float(v) for v in _split(args.levels)})
    except ValueError:
        raise StepConfigError(f"--levels {args.levels!r}: expected numbers like 80,95") from None
    if not levels or any(not 0 < v < 100 for v in levels):
        raise StepConfigError(f"--levels {args.levels!r}: each level must be between 0 and 100")
    if args.horizon < 1 or args.folds < 1:
        raise StepConfigError("--horizon and --folds must be at least 1")
    series = regular_series(_read_csv(args.file), args.freq)
    fc, _, _ = forecast_many(
        series,
        horizon=args.horizon,
        freq=args.freq,
        levels=levels,
        model=args.model,
        season_length=args.season_length,
        folds=args.folds,
    )
    fc = fc.assign(date=fc["date"].dt.strftime("%Y-%m-%d"))
    fc.round(4).to_csv(sys.stdout, index=False, lineterminator="\n")
    return 0
