"""The erasure port on BigQuery: the shape of each google-cloud-bigquery call (autospec)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mhi.adapters.gcp.bigquery_warehouse import BigQueryWarehouse
from mhi.analytics.personal import guest_keys
from mhi.errors import AuthError
from mhi.gdpr.backends import guest_tables
from mhi.gdpr.bigquery import BigQueryGuestTables
from mhi.gdpr.erase import erase_guest
from mhi.gdpr.guest import Guest
from tests.unit.gdpr.conftest import HASH_KEY

KEY = HASH_KEY.encode()
SCHEMAS = {
    "proj.hotel_fergus_raw.avalon_reservations": [("id", "STRING"), ("guest", "STRING")],
    "proj.hotel_fergus_model.reservations": [
        ("hotel", "STRING"),
        ("reservation_id", "STRING"),
        ("guest_key", "STRING"),
        ("nights", "INTEGER"),
    ],
    "proj.hotel_fergus_model.stay_nights": [("hotel", "STRING"), ("reservation_id", "STRING")],
}


@pytest.fixture
def client() -> Any:
    c = mock.create_autospec(bigquery.Client, instance=True)
    datasets = ["hotel_fergus_raw", "hotel_fergus_model", "hotel_fergus_kpi", "hotel_fergus_b_raw"]
    c.list_datasets.return_value = [SimpleNamespace(dataset_id=d) for d in datasets]

    def tables(dataset: str) -> list[Any]:
        return [
            SimpleNamespace(table_id=t.rsplit(".", 1)[1])
            for t in SCHEMAS
            if t.startswith(dataset + ".")
        ]

    def table(name: str) -> Any:
        return SimpleNamespace(schema=[bigquery.SchemaField(n, t) for n, t in SCHEMAS[name]])

    c.list_tables.side_effect = tables
    c.get_table.side_effect = table
    return c


def _answers(client: Any, frames: dict[tuple[str, str], pd.DataFrame]) -> None:
    """A SELECT whose table and condition (a marker in it) match returns the frame, others none;
    a DELETE reports as many rows as its SELECT found."""

    def found(sql: str) -> pd.DataFrame:
        target = sql.split("`")[1]
        hits = [f for (t, marker), f in frames.items() if t == target and marker in sql]
        return hits[0] if hits else pd.DataFrame()

    def query(sql: str, job_config: Any = None) -> Any:
        job = mock.create_autospec(bigquery.QueryJob, instance=True)
        job.result.return_value.to_dataframe.return_value = found(sql)
        job.num_dml_affected_rows = len(found(sql)) if sql.startswith("DELETE") else None
        return job

    client.query.side_effect = query


def test_tables_are_listed_per_account_layer_with_their_text_columns(client: Any) -> None:
    port = BigQueryGuestTables(client, "proj", ["hotel-fergus", "hotel-fergus_b"])
    found = {t.table: t.columns for t in port.text_tables("hotel-fergus")}
    assert found == {
        "model.reservations": ("hotel", "reservation_id", "guest_key"),
        "model.stay_nights": ("hotel", "reservation_id"),
        "raw.avalon_reservations": ("id", "guest"),
    }
    client.list_datasets.assert_called_once_with("proj")
    listed = [c.args[0] for c in client.list_tables.call_args_list]
    assert listed == ["proj.hotel_fergus_model", "proj.hotel_fergus_raw"]  # no kpi, no hotel_b


def test_erasure_selects_then_deletes_with_parameters_and_counts_dml_rows(client: Any) -> None:
    guest_json = '{"name":"Ana Ruiz","email":"ana@x.es"}'
    frames = {
        ("proj.hotel_fergus_raw.avalon_reservations", "STRPOS(LOWER(`guest`)"): pd.DataFrame(
            {"id": ["1"], "guest": [guest_json]}
        ),
        ("proj.hotel_fergus_model.reservations", "`guest_key` = @"): pd.DataFrame(
            {"hotel": ["H1"], "reservation_id": ["1"], "guest_key": ["k"]}
        ),
        ("proj.hotel_fergus_model.stay_nights", "`reservation_id` = @r0"): pd.DataFrame(
            {"hotel": ["H1", "H1"], "reservation_id": ["1", "1"]}
        ),
    }
    _answers(client, frames)
    blobs = mock.Mock(list=mock.Mock(return_value=[]))
    report = erase_guest(
        "hotel-fergus",
        Guest.of(names=["Ana Ruiz"]),
        blobs=blobs,
        tables=guest_tables(BigQueryWarehouse(client, "proj"), ["hotel-fergus"]),
        read_key=lambda: KEY,
    )
    assert report.tables == {
        "raw.avalon_reservations": 1,
        "model.reservations": 1,
        "model.stay_nights": 2,
    }
    calls = client.query.call_args_list
    deletes = [c for c in calls if c.args[0].startswith("DELETE")]
    assert [c.args[0].split(" WHERE ")[0] for c in deletes] == [
        "DELETE FROM `proj.hotel_fergus_raw.avalon_reservations`",
        "DELETE FROM `proj.hotel_fergus_model.reservations`",
        "DELETE FROM `proj.hotel_fergus_model.stay_nights`",
    ]
    sqls = [c.args[0] for c in calls]
    assert "ana" not in "".join(sqls).lower()  # identifiers travel as parameters only
    raw_where = deletes[0].args[0].split(" WHERE ", 1)[1]
    assert "LOWER(TRIM(`guest`)) = @p" in raw_where and "STRPOS(LOWER(`guest`), @p" in raw_where
    params = {
        p.name: p.value
        for p in client.query.call_args_list[1].kwargs["job_config"].query_parameters
    }
    assert set(params.values()) == {"ana ruiz", '"ana ruiz"'}
    key_params = deletes[1].kwargs["job_config"].query_parameters
    expected = guest_keys(KEY, names=["Ana Ruiz"]) | guest_keys(KEY, emails=["ana@x.es"])
    # the name's key and the email's (found in the raw row), beside the name for text columns
    assert {p.value for p in key_params} == expected | {"ana ruiz", '"ana ruiz"'}
    nights = deletes[2]
    assert "(`hotel` = @h0 AND `reservation_id` = @r0)" in nights.args[0]
    booking = {p.name: p.value for p in nights.kwargs["job_config"].query_parameters}
    assert booking == {"h0": "H1", "r0": "1"}


def test_access_denied_is_a_clear_error(client: Any) -> None:
    client.list_datasets.side_effect = gexc.Forbidden("no bigquery.datasets.list")
    with pytest.raises(AuthError, match="BigQuery list datasets of proj: access denied"):
        BigQueryGuestTables(client, "proj").text_tables("hotel-fergus")
