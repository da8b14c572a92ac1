"""The whole KPI cube through the warehouse path, beside hand-written DuckDB SQL of the same cube,
on the bundled 119,390 bookings and 10x / 100x scale-ups.

Cube: every metric but TRevPAR (the dataset has no other revenue), by day x hotel x market
segment, computed and materialised inside a DuckDB file with the same memory limit for both
(DuckDB spills to disk beyond it; default 2GB): the product's path (`plan_kpis`:
profile and checks, then `materialize_kpis`: one generated query) against one query written by
hand for this cube. Both tables are then compared cell by cell. Scale-ups copy the modelled
bookings, stay nights and room inventory under new hotel names, inside DuckDB. Each measured
step runs in its own process, so its peak RSS is its own (DuckDB's memory included, bounded by
its limit); a last run of the path traces the Python heap alone: what the step function holds
beside the warehouse. Target (issue 15): the warehouse path within 1.5x of the hand-written SQL,
memory flat in data size.
Run from the repository root:

    python bench/bench_kpi.py [--scales 1,10,100] [--dir /tmp/mhi-bench-kpi] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

DATA = Path("data/hotel_bookings.csv.gz")
ROOMS = {"City Hotel": 230, "Resort Hotel": 190}
ACCOUNT = "bench"
AS_OF = date(2017, 6, 1)
SCHEMA = '"bench_model"'

HAND = """
CREATE OR REPLACE TABLE "bench_kpi"."hand" AS
WITH n AS (
  SELECT stay_date::DATE AS period, hotel, market_segment, count(*) AS sold,
         count(room_revenue) AS rated, sum(room_revenue) AS revenue
  FROM {m}.stay_nights WHERE NOT is_complimentary GROUP BY ALL
), i AS (
  SELECT "date"::DATE AS period, hotel, sum(rooms_available) AS rooms
  FROM {m}.room_inventory GROUP BY ALL
), b AS (
  SELECT arrival_date::DATE AS period, hotel, market_segment, count(*) AS bookings,
         count_if(NOT is_cancelled) AS arrivals, count_if(status = 'cancelled') AS cancelled,
         count_if(status = 'no_show') AS no_shows, count_if(status = 'confirmed') AS confirmed,
         count_if(status = 'checked_in') AS checked_in,
         count_if(status = 'checked_out') AS checked_out,
         sum(nights) FILTER (WHERE NOT is_cancelled AND nights > 0) AS nights,
         count_if(NOT is_cancelled AND nights > 0) AS stays,
         avg(lead_time) AS avg_lead, median(lead_time) AS median_lead
  FROM {m}.reservations GROUP BY ALL
), nights_all AS (
  SELECT hotel, market_segment, is_cancelled, booking_date::DATE AS booked,
         status_date::DATE AS status_on, arrival_date::DATE + t.i::INTEGER AS stay_date
  FROM {m}.reservations, range(nights) AS t(i)
  WHERE nights > 0 AND NOT is_complimentary
), ob AS (
  SELECT *,
    (booked <= DATE '{as_of}'
     AND NOT (is_cancelled AND coalesce(status_on <= DATE '{as_of}', true)))::INT AS ob_as_of,
    (booked <= DATE '{before}'
     AND NOT (is_cancelled AND coalesce(status_on <= DATE '{before}', true)))::INT AS ob_before,
    (booked <= stay_date
     AND NOT (is_cancelled AND coalesce(status_on <= stay_date, true)))::INT AS ob_night,
    (booked <= stay_date - 7
     AND NOT (is_cancelled AND coalesce(status_on <= stay_date - 7, true)))::INT AS ob_prior
  FROM nights_all
), p AS (
  SELECT stay_date AS period, hotel, market_segment,
         sum(ob_as_of) FILTER (WHERE stay_date >= DATE '{as_of}') AS on_books,
         sum(ob_as_of - ob_before) FILTER (WHERE stay_date >= DATE '{as_of}') AS pickup,
         sum(ob_night - ob_prior) FILTER (WHERE stay_date < DATE '{as_of}') AS final_pickup
  FROM ob GROUP BY ALL
), k AS (
  SELECT period, hotel, market_segment FROM n UNION SELECT period, hotel, market_segment FROM b
  UNION SELECT period, hotel, market_segment FROM p
)
SELECT period, hotel, market_segment, i.rooms AS rooms_available,
       coalesce(sold, 0) AS rooms_sold, coalesce(sold, 0) - coalesce(rated, 0) AS unrated_rooms,
       coalesce(revenue, 0) AS room_revenue, coalesce(sold, 0) / nullif(i.rooms, 0) AS occupancy,
       revenue / nullif(rated, 0) AS adr,
       coalesce(sold, 0) / nullif(i.rooms, 0)
         * CASE WHEN coalesce(sold, 0) = 0 THEN 0 ELSE revenue / nullif(rated, 0) END AS revpar,
       coalesce(bookings, 0) AS bookings, coalesce(arrivals, 0) AS arrivals,
       coalesce(cancelled, 0) AS cancellations, coalesce(no_shows, 0) AS no_shows,
       coalesce(cancelled, 0) / bookings AS cancellation_rate,
       coalesce(no_shows, 0) / bookings AS no_show_rate,
       coalesce(confirmed, 0) AS confirmed_bookings, coalesce(checked_in, 0) AS checked_in_bookings,
       coalesce(checked_out, 0) AS checked_out_bookings, nights / nullif(stays, 0) AS alos,
       avg_lead AS avg_lead_time, median_lead AS median_lead_time, on_books AS rooms_on_books,
       pickup, final_pickup
FROM k LEFT JOIN n USING (period, hotel, market_segment)
       LEFT JOIN b USING (period, hotel, market_segment)
       LEFT JOIN p USING (period, hotel, market_segment)
       LEFT JOIN i USING (period, hotel)
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warehouse(folder: Path, limit: str | None = None):  # type: ignore[no-untyped-def]
    from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse

    return DuckDbWarehouse(folder / "warehouse.duckdb", memory_limit=limit)


def build(scale: int, folder: Path) -> dict[str, float]:
    """Model the bundled file once, then copy the model tables `scale` times inside DuckDB."""
    import duckdb
    import pandas as pd

    from mhi.analytics.modeling import inventory_for, model_reservations, stay_nights
    from mhi.analytics.sources import source_mapping, stage

    raw = pd.read_csv(DATA, keep_default_na=False, na_values=["NA"])
    res = model_reservations(stage(source_mapping("hotel_bookings"), raw), source="hb").reservations
    wh = _warehouse(folder)
    wh.write(ACCOUNT, "seed.reservations", res)
    wh.write(ACCOUNT, "seed.stay_nights", stay_nights(res))
    wh.write(ACCOUNT, "seed.room_inventory", inventory_for(res, ROOMS))
    con = duckdb.connect(str(wh.path))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for table in ("reservations", "stay_nights", "room_inventory"):
        con.execute(
            f"CREATE OR REPLACE TABLE {SCHEMA}.{table} AS SELECT * REPLACE "
            f"(hotel || ' #' || c.i AS hotel) FROM bench_seed.{table}, range({scale}) AS c(i)"
        )
    con.execute("DROP SCHEMA bench_seed CASCADE")
    counts = {
        t: con.execute(f"SELECT count(*) FROM {SCHEMA}.{t}").fetchone()[0]  # type: ignore[index]
        for t in ("reservations", "stay_nights")
    }
    con.close()
    return {"bookings": counts["reservations"], "stay_nights": counts["stay_nights"]}


def warehouse_path(folder: Path, limit: str, heap: bool = False) -> dict[str, float]:
    """The product's path: plan (profile, checks) and materialise the cube; time and memory.
    `heap`: the peak of the Python heap instead (tracemalloc: numpy and pandas included, DuckDB
    not), what the step function itself holds; tracing slows it, so no time then."""
    import tracemalloc

    import duckdb  # noqa: F401  (imports are the process's cost, not the path's)
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    from mhi.analytics.kpi_spec import KpiSpec
    from mhi.analytics.kpi_warehouse import materialize_kpis, plan_kpis
    from mhi.analytics.metrics import METRICS

    wh = _warehouse(folder, limit)
    spec = KpiSpec(
        metrics=[m for m in METRICS if m != "trevpar"],
        grain="day",
        dimensions=["hotel", "market_segment"],
        as_of=AS_OF,
    )
    if heap:
        tracemalloc.start()
        with wh.session():
            materialize_kpis(wh, ACCOUNT, plan_kpis(wh, ACCOUNT, "model", spec), "kpi.cube")
        return {"heap_mb": tracemalloc.get_traced_memory()[1] / 2**20}
    t0 = time.perf_counter()
    with wh.session():  # as the KPI step does: one open of the file for checks and query
        plan = plan_kpis(wh, ACCOUNT, "model", spec)
        t1 = time.perf_counter()
        rows = materialize_kpis(wh, ACCOUNT, plan, "kpi.cube")
    t2 = time.perf_counter()
    return {"rows": rows, "plan_s": t1 - t0, "cube_s": t2 - t1, "peak_mb": _peak_mb()}


def hand_written(folder: Path, limit: str) -> dict[str, float]:
    """The same cube in one query written by hand; time and memory."""
    import duckdb

    sql = HAND.format(m=SCHEMA, as_of=AS_OF, before=date.fromordinal(AS_OF.toordinal() - 7))
    t0 = time.perf_counter()
    con = duckdb.connect(str(folder / "warehouse.duckdb"), config={"memory_limit": limit})
    con.execute('CREATE SCHEMA IF NOT EXISTS "bench_kpi"')
    con.execute(sql)
    rows = con.execute('SELECT count(*) FROM "bench_kpi"."hand"').fetchone()[0]  # type: ignore[index]
    con.close()
    return {"rows": rows, "cube_s": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def check(folder: Path) -> dict[str, float]:
    """Count the cells where the two cubes differ (beyond 1e-9 relative)."""
    import duckdb

    con = duckdb.connect(str(folder / "warehouse.duckdb"))
    cols = [r[0] for r in con.execute('DESCRIBE "bench_kpi"."hand"').fetchall()][3:]
    differ = " OR ".join(
        f"NOT (a.{c} IS NOT DISTINCT FROM b.{c} OR abs(a.{c} - b.{c}) <= 1e-9 * abs(b.{c}))"
        for c in cols
    )
    sql = (
        'SELECT count(*) FROM "bench_kpi"."cube" AS a FULL JOIN "bench_kpi"."hand" AS b '
        f"USING (period, hotel, market_segment) WHERE {differ}"
    )
    bad = con.execute(sql).fetchone()[0]  # type: ignore[index]
    con.close()
    return {"differing_rows": bad}


def _child(step: str, scale: int, folder: Path, limit: str) -> dict[str, float]:
    argv = ["--step", step, "--scale", str(scale), "--dir", str(folder), "--memory-limit", limit]
    out = subprocess.run(
        [sys.executable, __file__, *argv],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    """Build each scale, run both paths in their own processes and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--dir", default="/tmp/mhi-bench-kpi")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB's, for both paths")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    folder = Path(args.dir)
    if args.step:
        limit = args.memory_limit
        steps = {"build": lambda: build(args.scale, folder)}
        steps |= {"warehouse": lambda: warehouse_path(folder, limit)}
        steps |= {"heap": lambda: warehouse_path(folder, limit, heap=True)}
        steps |= {"hand": lambda: hand_written(folder, limit), "check": lambda: check(folder)}
        print(json.dumps(steps[args.step]()))
        return
    print(
        f"{'scale':>5} {'bookings':>11} {'stay nights':>12} {'cube rows':>10} "
        f"{'checks s':>8} {'cube s':>7} {'path s':>7} {'MB':>6} {'hand s':>7} {'MB':>6} "
        f"{'ratio':>6} {'diff':>5} {'heap MB':>8}"
    )
    for scale in [int(s) for s in args.scales.split(",")]:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        size, ours, hand, diff, heap = (
            _child(step, scale, folder, args.memory_limit)
            for step in ("build", "warehouse", "hand", "check", "heap")
        )
        total = ours["plan_s"] + ours["cube_s"]
        print(
            f"{scale:>5} {size['bookings']:>11,} {size['stay_nights']:>12,} {ours['rows']:>10,} "
            f"{ours['plan_s']:>8.2f} {ours['cube_s']:>7.2f} {total:>7.2f} {ours['peak_mb']:>6.0f} "
            f"{hand['cube_s']:>7.2f} {hand['peak_mb']:>6.0f} {total / hand['cube_s']:>6.2f} "
            f"{diff['differing_rows']:>5} {heap['heap_mb']:>8.1f}"
        )
    shutil.rmtree(folder, ignore_errors=True)
    print("checks: profile, inventory and capacity queries; cube: the generated query;")
    print("path = checks + cube; hand: one hand-written query; MB: peak RSS of that process;")
    print("ratio = path / hand; diff: rows where any cell differs (expected 0);")
    print("heap MB: the path's peak Python heap (tracemalloc), what the step itself holds;")
    print(f"DuckDB memory limit {args.memory_limit} for both, default threads (all cores).")


if __name__ == "__main__":
    main()
