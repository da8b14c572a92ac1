"""Benchmark: records per second extracted and landed by an extractor, and its peak memory.

An imitation API (the generic Avalon contract) serves N reservations in pages of 1,000 from a
separate process; the extractor pages through it, streams gzip NDJSON files to the blob store
(50,000 records per file) and loads each file into the warehouse. Each size runs in a fresh
process, so the peak RSS printed is that extraction's alone: flat across sizes means the pages
are streamed to disk, not held in memory.

    .venv/bin/python bench/bench_extract.py                      # 100k and 1M, DuckDB
    .venv/bin/python bench/bench_extract.py --records 10000 100000 --warehouse none
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCOUNT = "bench-hotel"
API_KEY = "bench-key-not-a-secret"


def _serve(records: int, ports: Any) -> None:
    """Run the imitation API (records generated per page, never all held) until killed."""
    from tests.fakes.apis.base import Req, Resp
    from tests.fakes.apis.generic import GenericApi

    base = datetime(2025, 3, 1, tzinfo=UTC)

    class StreamingApi(GenericApi):
        def route(self, req: Req) -> Resp:
            page, size = int(req.query.get("page", 1)), int(req.query.get("page_size", 500))
            start, stop = (page - 1) * size, min(page * size, records)
            data = [
                self.make("reservations", i, base - timedelta(seconds=i))
                for i in range(start, stop)
            ]
            return Resp(
                200,
                {
                    "data": data,
                    "page": page,
                    "page_size": size,
                    "total": records,
                    "has_more": stop < records,
                },
            )

    api = StreamingApi("avalon", API_KEY).start()
    ports.put(api.url)
    while True:
        time.sleep(3600)


def _warehouse(kind: str, home: Path) -> Any:
    if kind == "duckdb":
        from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse

        return DuckDbWarehouse(home / "warehouse.duckdb")

    class CountingWarehouse:
        """Takes the frames the loader builds and keeps only a row count."""

        rows = 0

        def write(self, account: str, table: str, frame: Any, **kwargs: Any) -> int:
            self.rows += len(frame)
            return len(frame)

    return CountingWarehouse()


def run_once(records: int, page_size: int, warehouse: str) -> dict[str, Any]:
    """Extract `records` once in this process; return the figures."""
    from mhi.adapters.local.env_secrets import EnvSecretStore, env_var
    from mhi.adapters.local.fs_blob_store import FsBlobStore
    from mhi.adapters.local.memory_run_store import MemoryRunStore
    from mhi.config import Settings
    from mhi.connectors.systems.avalon import KIND
    from mhi.model.messages import StepMessage
    from mhi.services import Services
    from mhi.steps.sdk import run_step

    ports: Any = multiprocessing.get_context("spawn").Queue()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(records, ports), daemon=True
    )
    server.start()
    url = ports.get(timeout=60)
    try:
        with tempfile.TemporaryDirectory(prefix="mhi-bench-") as tmp:
            home = Path(tmp)
            # The imitation API listens on 127.0.0.1: loopback allowed, and its address is the
            # account's secret, as an operator sets it (a flow never carries a URL).
            secrets = {
                env_var(ACCOUNT, "avalon-api-key"): API_KEY,
                env_var(ACCOUNT, "avalon-base-url"): url,
            }
            services = Services(
                Settings(home=home, allow_loopback_urls=True),
                warehouse=_warehouse(warehouse, home),
                blobs=FsBlobStore(home / "blobs"),
                secrets=EnvSecretStore(None, environ=secrets),
                run_store=MemoryRunStore(),
            )
            message = StepMessage(
                run_id="bench",
                flow_id="bench",
                account=ACCOUNT,
                step_id="extract",
                attempt=1,
                type=KIND.type,
                callback_topic="ms-flows-callbacks",
                deadline=datetime.now(UTC) + timedelta(hours=2),
                config={
                    "_m_account": ACCOUNT,
                    "datasets": ["Reservations"],
                    "page_size": page_size,
                    "requests_per_second": 10_000,
                },
            )
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            callback = run_step(message, KIND, services)
            elapsed = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if callback.error is not None:
                raise SystemExit(f"extraction failed: {callback.error.message}")
            out = callback.output["datasets"]["reservations"]
            landed = sum(p.stat().st_size for p in (home / "blobs").rglob("*.ndjson.gz"))
    finally:
        server.kill()
    return {
        "records": records,
        "loaded": out["loaded"],
        "pages": out["pages"],
        "files": out["files"],
        "seconds": round(elapsed, 2),
        "records_per_second": round(records / elapsed),
        "landed_mb": round(landed / 2**20, 1),
        "rss_before_mb": round(before / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
    }


def main() -> None:
    """Run each size in a fresh process and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--warehouse", choices=["duckdb", "none"], default="duckdb")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.records[0], args.page_size, args.warehouse)))
        return
    print(
        f"extract + land (avalon contract, pages of {args.page_size}, warehouse={args.warehouse})"
    )
    print(
        f"{'records':>10} {'seconds':>8} {'rec/s':>8} {'files':>6} {'landed MB':>10} "
        f"{'RSS before MB':>14} {'peak RSS MB':>12}"
    )
    for n in args.records:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--records",
            str(n),
            "--page-size",
            str(args.page_size),
            "--warehouse",
            args.warehouse,
        ]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        assert r["loaded"] == n, f"loaded {r['loaded']} of {n}"
        print(
            f"{n:>10,} {r['seconds']:>8} {r['records_per_second']:>8,} {r['files']:>6} "
            f"{r['landed_mb']:>10} {r['rss_before_mb']:>14} {r['peak_rss_mb']:>12}"
        )


if __name__ == "__main__":
    main()
