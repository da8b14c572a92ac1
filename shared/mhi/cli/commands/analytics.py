"""`mhi kpi` and `mhi forecast`: the analytics engines on a CSV file, CSV on stdout.

  mhi kpi BOOKINGS.csv --rooms "City Hotel=230,Resort Hotel=190" \\
      --metrics occupancy,adr,revpar,cancellation_rate --by month,hotel
  mhi forecast SERIES.csv --horizon 24 --freq M --levels 80,95

`mhi kpi` runs the same SQL as the ms-kpi-engine step, in a temporary DuckDB warehouse.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

from mhi.errors import StepConfigError

_KPI_EPILOG = """\
BOOKINGS.csv is the bundled dataset's format (hotel_bookings.csv[.gz]) or the canonical model
(hotel, reservation_id, arrival_date, departure_date, status, adr or room_revenue, ...).
--by mixes one grain ({grains}; default day, or all when --by names
dimensions only) with dimensions:
{dimensions}

Metrics (formula [source]):
{metrics}
  {pace}

Sources:
{sources}"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi kpi` and `mhi forecast`."""
    k = sub.add_parser(
        "kpi",
        help="hotel KPIs from a bookings CSV (CSV on stdout)",
        epilog=_kpi_epilog(),
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
    k.add_argument("--as-of", type=_date, help="snapshot date of the pace metrics (YYYY-MM-DD)")
    k.add_argument("--pickup-days", type=int, default=7, help="days of pickup (default 7)")
    k.add_argument(
        "--on-missing-inventory",
        choices=("skip", "error"),
        help="a hotel without --rooms: skip its inventory metrics (default) or fail",
    )
    k.add_argument(
        "--pace-curve",
        type=int,
        metavar="DAYS",
        help="print the pace curve instead: rooms on the books 0..DAYS days before each night",
    )
    k.add_argument(
        "--sql",
        choices=("duckdb", "bigquery"),
        help="print the query the warehouse would run, in that dialect, instead of running it",
    )
    k.set_defaults(func=run_kpi)

    f = sub.add_parser("forecast", help="forecast series_id,date,value series (CSV on stdout)")
    f.add_argument("file", metavar="SERIES.csv")
    f.add_argument("--horizon", type=int, required=True)
    f.add_argument("--freq", choices=("D", "W", "M", "Q", "Y"), default="D")
    f.add_argument("--levels", default="80,95", help="interval levels in percent")
    f.add_argument("--season-length", type=int, help="override the detected season length")
    f.add_argument(
        "--model", default="auto", help="auto, naive, snaive, ets, theta, arima or combo"
    )
    f.add_argument("--folds", type=int, default=3, help="rolling-origin backtest folds")
    f.set_defaults(func=run_forecast)


def _kpi_epilog() -> str:
    from mhi.analytics.metrics import DIMENSIONS, GRAINS, PACE_CURVE, metric_table, sources_legend

    rows = metric_table()
    width = max(len(name) for name, _, _ in rows)
    lines = "\n".join(f"  {n:<{width}}  {f} [{s}]" for n, f, s in rows)
    return _KPI_EPILOG.format(
        grains=", ".join(GRAINS),
        dimensions=textwrap.fill(
            ", ".join(DIMENSIONS), 96, initial_indent="  ", subsequent_indent="  "
        ),
        metrics=lines,
        pace=PACE_CURVE,
        sources=sources_legend(),
    )


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


def kpi_spec(args: argparse.Namespace) -> Any:
    """Return the KpiSpec of `mhi kpi`'s arguments."""
    from mhi.analytics.kpi_spec import KpiSpec
    from mhi.analytics.metrics import DEFAULT_ON_MISSING_INVENTORY, GRAINS, check_metrics

    by = _split(args.by)
    grains = [b for b in by if b in GRAINS]
    if len(grains) > 1:
        raise StepConfigError(f"--by names several grains {grains}: choose one")
    dimensions = [b for b in by if b not in GRAINS]
    return KpiSpec(
        metrics=check_metrics(_split(args.metrics)),
        grain=grains[0] if grains else ("all" if dimensions else "day"),
        dimensions=dimensions,
        start=args.start,
        end=args.end,
        comparisons=_split(args.compare),
        include_complimentary=args.include_complimentary,
        as_of=args.as_of,
        pickup_days=args.pickup_days,
        on_missing_inventory=args.on_missing_inventory or DEFAULT_ON_MISSING_INVENTORY,
        pace_curve_days=args.pace_curve,
    )


def run_kpi(args: argparse.Namespace) -> int:
    """Compute KPIs for a bookings file in a temporary DuckDB warehouse; print them as CSV."""
    import tempfile

    from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse
    from mhi.analytics import kpi_warehouse as kw
    from mhi.analytics.modeling import stay_nights
    from mhi.analytics.sql_dialect import dialect

    spec = kpi_spec(args)
    rooms = parse_rooms(args.rooms)
    res = _model(_read_csv(args.file), args.currency)
    with tempfile.TemporaryDirectory(prefix="mhi-kpi-") as tmp:
        wh = DuckDbWarehouse(Path(tmp) / "kpi.duckdb")
        with wh.session():  # this command's own file: one connection for all of it
            wh.write("cli", "model.reservations", res)
            wh.write("cli", "model.stay_nights", stay_nights(res))
            plan = kw.plan_kpis(wh, "cli", "model", spec, rooms)
            for warning in plan.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            if args.sql:
                plan.dialect = dialect(args.sql)
                print(plan.pace_sql(ordered=True) if args.pace_curve is not None else plan.sql())
                return 0
            if args.pace_curve is not None:
                table = kw.query_pace_curve(wh, "cli", plan)
            else:
                table = kw.query_kpis(wh, "cli", plan)
    table = table.assign(period=table["period"].dt.strftime("%Y-%m-%d"))
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
