"""Modeling + KPIs on the bundled 119,390 bookings, a 10x and 100x scale-up, and the same
aggregation in DuckDB SQL in the same run.

Targets (issue 4): modeling + all KPIs by day x hotel x segment under 2 s, peak memory under
1 GB. Each scale runs in its own process so its peak RSS is its own. The scale-ups copy the
modelled reservations under new hotel names (cost of KPIs as data grows; modeling is linear).
DuckDB runs with one thread, as pandas does. Run from the repository root:

    python bench/bench_kpi.py [--scales 1,10,100]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path("data/hotel_bookings.csv.gz")
ROOMS = {"City Hotel": 230, "Resort Hotel": 190}
SQL = """
WITH nights AS (
  SELECT hotel, market_segment, adr,
         unnest(generate_series(arrival_date, departure_date - INTERVAL 1 DAY,
                                INTERVAL 1 DAY)) AS stay_date
  FROM res WHERE NOT is_cancelled AND nights > 0 AND NOT is_complimentary
)
SELECT n.stay_date AS period, n.hotel, n.market_segment,
       count(*) AS rooms_sold, sum(n.adr) AS room_revenue,
       count(*) / any_value(i.rooms_available) AS occupancy,
       sum(n.adr) / count(*) AS adr,
       sum(n.adr) / any_value(i.rooms_available) AS revpar
FROM nights AS n JOIN inv AS i ON i.hotel = n.hotel AND i.date = n.stay_date
GROUP BY ALL
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(scale: int) -> dict[str, float]:
    """Run one scale in this process and return its figures."""
    import duckdb
    import pandas as pd

    from mhi.analytics.kpi import KpiSpec, compute_kpis
    from mhi.analytics.metrics import METRICS
    from mhi.analytics.modeling import inventory_for, model_reservations, stay_nights
    from mhi.analytics.sources import source_mapping, stage

    t0 = time.perf_counter()
    raw = pd.read_csv(DATA, keep_default_na=False, na_values=["NA"])
    t1 = time.perf_counter()
    res = model_reservations(stage(source_mapping("hotel_bookings"), raw), source="hb")
    res = res.reservations
    rooms = dict(ROOMS)
    if scale > 1:
        copies = [res.assign(hotel=res["hotel"] + f" #{i}") for i in range(scale)]
        res = pd.concat(copies, ignore_index=True)
        rooms = {f"{h} #{i}": n for h, n in ROOMS.items() for i in range(scale)}
    t2 = time.perf_counter()
    inv = inventory_for(res, rooms)
    all_metrics = [m for m in METRICS if m != "trevpar"]  # no other revenue in this dataset
    spec = KpiSpec(metrics=all_metrics, grain="day", dimensions=["hotel", "market_segment"])
    kpi_rows = 0
    sold = ~res["is_cancelled"] & (res["nights"] > 0)
    nights_n = int(res.loc[sold, "nights"].sum())
    if scale < 100:  # 10x peaks at ~2.5 GB: 100x would not fit this 23 GB machine
        nights = stay_nights(res)
        kpi_rows = len(compute_kpis(res, inv, spec, nights).table)
        del nights
    t3 = time.perf_counter()
    same = ["rooms_sold", "room_revenue", "occupancy", "adr", "revpar"]
    t4 = time.perf_counter()
    narrow = compute_kpis(
        res, inv, KpiSpec(metrics=same, grain="day", dimensions=["hotel", "market_segment"])
    ).table
    t5 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register(
        "res",
        res[
            [
                "hotel",
                "market_segment",
                "adr",
                "arrival_date",
                "departure_date",
                "is_cancelled",
                "nights",
                "is_complimentary",
            ]
        ],
    )
    con.register("inv", inv)
    t6 = time.perf_counter()
    sql = con.sql(SQL).to_arrow_table().to_pandas()
    t7 = time.perf_counter()
    sold = narrow["rooms_sold"].sum()
    assert sold == sql["rooms_sold"].sum(), (sold, sql["rooms_sold"].sum())
    assert abs(narrow["room_revenue"].sum() - sql["room_revenue"].sum()) < 1e-6 * sold
    return {
        "scale": scale,
        "bookings": len(res),
        "stay_nights": nights_n,
        "kpi_rows": kpi_rows,
        "read_csv_s": t1 - t0,
        "model_s": (t2 - t1) if scale == 1 else float("nan"),
        "kpis_all_s": (t3 - t2) if scale < 100 else float("nan"),
        "pandas_same_s": t5 - t4,
        "duckdb_same_s": t7 - t6,
        "peak_mb": _peak_mb(),
    }


def main() -> None:
    """Run each scale in a child process and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    print(
        f"{'scale':>5} {'bookings':>10} {'nights':>11} {'model s':>8} {'all KPIs s':>10} "
        f"{'model+KPIs':>10} {'pandas s':>9} {'duckdb s':>9} {'ratio':>6} {'peak MB':>8}"
    )
    for scale in [int(s) for s in args.scales.split(",")]:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(scale)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        both = r["model_s"] + r["kpis_all_s"] if scale == 1 else float("nan")
        print(
            f"{scale:>5} {r['bookings']:>10,} {r['stay_nights']:>11,} {r['model_s']:>8.2f} "
            f"{r['kpis_all_s']:>10.2f} {both:>10.2f} {r['pandas_same_s']:>9.2f} "
            f"{r['duckdb_same_s']:>9.2f} {r['pandas_same_s'] / r['duckdb_same_s']:>6.2f} "
            f"{r['peak_mb']:>8.0f}"
        )
    print("100x: all-KPIs skipped (10x peaks at ~2.5 GB; 100x would not fit in 23 GB);")
    print("model: CSV frame -> validated reservations (read_csv itself excluded; ~0.2-0.4 s);")
    print("all KPIs: stay nights + 14 metrics by day x hotel x market segment;")
    print("pandas/duckdb: rooms sold, revenue, occupancy, ADR, RevPAR by day x hotel x segment")
    print("from reservations, the same result both ways (checked); ratio = pandas / DuckDB.")


if __name__ == "__main__":
    main()
