"""Warehouse port contract, run for real on the DuckDB adapter (the embedded default)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse, from_settings, qualify_sql
from mhi.config import Settings
from mhi.errors import PermanentError
from mhi.ports import Warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return DuckDbWarehouse(tmp_path / "warehouse.duckdb")


def _frame(keys: list[str], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"k": pd.array(keys, dtype="string"), "v": values})


def test_replace_then_read_round_trips_types(warehouse: Warehouse) -> None:
    frame = pd.DataFrame(
        {
            "hotel": pd.array(["A", None], dtype="string"),
            "day": pd.to_datetime(["2024-01-01", "2024-01-02"]).astype("datetime64[us]"),
            "n": [1, 2],
            "maybe": pd.array([1, None], dtype="Int64"),
            "x": [0.5, float("nan")],
            "flag": [True, False],
        }
    )
    assert warehouse.write("acme", "model.t", frame) == 2
    back = warehouse.read("acme", "model.t")
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["n"].dtype == "int64" and back["maybe"].dtype == "Int64"
    assert warehouse.write("acme", "model.t", frame.iloc[:1]) == 1
    assert len(warehouse.read("acme", "model.t")) == 1


def test_merge_replaces_matching_keys_and_adds_new_columns(warehouse: Warehouse) -> None:
    warehouse.write("acme", "kpi.t", _frame(["a", "b"], [1.0, 2.0]))
    update = _frame(["b", "c"], [20.0, 30.0]).assign(extra=[1, 2])
    warehouse.write("acme", "kpi.t", update, mode="merge", keys=["k"])
    got = warehouse.read("acme", "kpi.t").sort_values("k").reset_index(drop=True)
    assert got["k"].tolist() == ["a", "b", "c"] and got["v"].tolist() == [1.0, 20.0, 30.0]
    assert got["extra"].isna().tolist() == [True, False, False]
    warehouse.write("acme", "kpi.t", _frame(["d"], [4.0]), mode="append")
    assert len(warehouse.read("acme", "kpi.t")) == 4


def test_accounts_and_layers_are_separate_schemas(warehouse: Warehouse) -> None:
    warehouse.write("hotel-a", "raw.t", _frame(["a"], [1.0]))
    warehouse.write("hotel-b", "raw.t", _frame(["b", "c"], [1.0, 2.0]))
    assert warehouse.exists("hotel-a", "raw.t") and not warehouse.exists("hotel-a", "model.t")
    assert (
        len(warehouse.read("hotel-a", "raw.t")) == 1
        and len(warehouse.read("hotel-b", "raw.t")) == 2
    )


def test_query_takes_parameters_and_resolves_layer_names(warehouse: Warehouse) -> None:
    warehouse.write("hotel-a", "model.t", _frame(["a", "b"], [1.0, 5.0]))
    warehouse.write("hotel-b", "model.t", _frame(["z"], [9.0]))
    got = warehouse.query(
        "hotel-a", "SELECT k, 'model.t' AS lit FROM model.t WHERE v > @min", {"min": 2}
    )
    assert got.to_dict("records") == [{"k": "b", "lit": "model.t"}]
    warehouse.query("hotel-a", "DELETE FROM model.t AS t WHERE t.v > 2")  # DML runs too
    assert warehouse.read("hotel-a", "model.t")["k"].tolist() == ["a"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda w: w.read("acme", "raw.missing"),
            "table raw.missing does not exist for account acme",
        ),
        (lambda w: w.write("acme", "nolayer", _frame(["a"], [1.0])), "expected '<layer>.<name>'"),
        (lambda w: w.write("acme", "raw.t;drop", _frame(["a"], [1.0])), "invalid table name"),
        (lambda w: w.write("a/b", "raw.t", _frame(["a"], [1.0])), "invalid account name"),
        (
            lambda w: w.write("acme", "raw.t", _frame(["a"], [1.0]), mode="merge"),
            "merge needs keys",
        ),
        (lambda w: w.write("acme", "raw.t", pd.DataFrame()), "the frame has no columns"),
        (lambda w: w.query("acme", "SELEKT 1"), "query: Parser Error"),
    ],
)
def test_bad_calls_are_clear_permanent_errors(
    warehouse: Warehouse, call: object, message: str
) -> None:
    with pytest.raises(PermanentError, match=message.replace("(", "\\(").replace(")", "\\)")):
        call(warehouse)  # type: ignore[operator]


def test_threads_share_one_file(warehouse: Warehouse) -> None:
    def work(i: int) -> None:
        warehouse.write("acme", "raw.t", _frame([f"k{i}"], [float(i)]), mode="append")

    warehouse.write("acme", "raw.t", _frame(["k"], [0.0]))
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(warehouse.read("acme", "raw.t")) == 9


def test_another_process_can_open_the_file_between_operations(tmp_path: Path) -> None:
    warehouse = from_settings(Settings(home=tmp_path))
    assert warehouse.path == tmp_path / "warehouse.duckdb"
    warehouse.write("acme", "raw.t", _frame(["a"], [1.0]))
    code = (
        "from mhi.adapters.local.duckdb_warehouse import DuckDbWarehouse; import sys;"
        f"w = DuckDbWarehouse({str(warehouse.path)!r});"
        "w.write('acme', 'raw.t', w.read('acme', 'raw.t').assign(v=2.0))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert warehouse.read("acme", "raw.t")["v"].tolist() == [2.0]


def test_qualify_sql_leaves_aliases_and_literals_alone() -> None:
    sql = "SELECT t.k, 'raw.x' FROM raw.x AS t JOIN \"raw.y\" ON t.k = raw.x.k"
    out = qualify_sql(sql, ["raw"], lambda layer, name: f"<{layer}:{name}>")
    assert out == "SELECT t.k, 'raw.x' FROM <raw:x> AS t JOIN \"raw.y\" ON t.k = <raw:x>.k"


def test_materialize_keeps_a_query_result_in_the_warehouse(warehouse: Warehouse) -> None:
    assert warehouse.dialect == "duckdb"
    warehouse.write("acme", "model.t", _frame(["a", "b", "c"], [1.0, 2.0, 3.0]))
    sql = "SELECT k, v * 2 AS v2 FROM model.t WHERE v > @min"
    assert warehouse.materialize("acme", "kpi.m", sql, {"min": 1.5}) == 2
    got = warehouse.read("acme", "kpi.m").sort_values("k")
    assert got.to_dict("records") == [{"k": "b", "v2": 4.0}, {"k": "c", "v2": 6.0}]
    update = "SELECT k, v AS v2, 1 AS extra FROM model.t WHERE k IN ('a', 'b')"
    assert warehouse.materialize("acme", "kpi.m", update, mode="merge", keys=["k"]) == 2
    got = warehouse.read("acme", "kpi.m").sort_values("k").reset_index(drop=True)
    assert got["v2"].tolist() == [1.0, 2.0, 6.0] and got["extra"].isna().tolist() == [
        False,
        False,
        True,
    ]
    assert warehouse.materialize("acme", "kpi.m", "SELECT 'd' AS k", mode="append") == 1
    assert len(warehouse.read("acme", "kpi.m")) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "merge"}, "merge needs keys"),
        ({"mode": "merge", "keys": ["nope"]}, "merge keys ['nope'] are not columns"),
        ({"mode": "upsert"}, "unknown mode 'upsert'"),
    ],
)
def test_materialize_refuses_bad_modes_clearly(
    warehouse: Warehouse, kwargs: dict[str, object], message: str
) -> None:
    warehouse.materialize("acme", "kpi.m", "SELECT 1 AS k")
    with pytest.raises(PermanentError, match=re.escape(message)):
        warehouse.materialize("acme", "kpi.m", "SELECT 2 AS k", **kwargs)  # type: ignore[arg-type]


def test_a_memory_limit_from_the_settings_bounds_duckdb(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, extra={"MHI_DUCKDB_MEMORY_LIMIT": "300MB"})
    warehouse = from_settings(settings)
    got = warehouse.query("acme", "SELECT current_setting('memory_limit') AS m")["m"].iloc[0]
    assert got.endswith("MiB") and 280 <= float(got.split()[0]) <= 300


def test_a_session_holds_the_file_open_for_its_operations(tmp_path: Path) -> None:
    warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")
    warehouse.write("acme", "raw.t", _frame(["a", "b"], [1.0, 2.0]))
    probe = (
        "import duckdb, sys\n"
        "try:\n"
        f"    duckdb.connect({str(warehouse.path)!r}).close()\n"
        "except duckdb.IOException:\n"
        "    sys.exit(3)\n"
    )

    def other_process_opens() -> bool:
        done = subprocess.run([sys.executable, "-c", probe], timeout=60, check=False)
        assert done.returncode in (0, 3), done
        return done.returncode == 0

    with warehouse.session():
        rows = warehouse.materialize("acme", "kpi.t", "SELECT k, v * 2 AS v FROM raw.t")
        with warehouse.session():  # nested: the same open file
            assert warehouse.exists("acme", "kpi.t")
        assert rows == 2 and warehouse.read("acme", "kpi.t")["v"].tolist() == [2.0, 4.0]
        with pytest.raises(PermanentError):  # a failed statement leaves the session usable
            warehouse.query("acme", "SELECT nope FROM raw.t")
        assert warehouse.query("acme", "SELECT count(*) AS n FROM kpi.t")["n"].tolist() == [2]
        assert not other_process_opens()  # held: another process waits for the end
    assert other_process_opens()  # released


def test_other_threads_wait_for_a_session_to_end(tmp_path: Path) -> None:
    warehouse = DuckDbWarehouse(tmp_path / "warehouse.duckdb")
    warehouse.write("acme", "raw.t", _frame(["a"], [1.0]))
    order: list[str] = []
    inside = threading.Event()

    def other() -> None:
        inside.wait(timeout=30)
        warehouse.write("acme", "raw.t", _frame(["b"], [2.0]), mode="append")
        order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with warehouse.session():
        inside.set()
        thread.join(timeout=0.3)  # the other thread is held at the lock meanwhile
        order.append("session")
        assert warehouse.read("acme", "raw.t")["k"].tolist() == ["a"]
    thread.join(timeout=30)
    assert order == ["session", "other"]
    assert sorted(warehouse.read("acme", "raw.t")["k"].tolist()) == ["a", "b"]
