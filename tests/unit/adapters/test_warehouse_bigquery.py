"""BigQuery warehouse: the shape of each google-cloud-bigquery call, pinned with create_autospec."""

from __future__ import annotations

from datetime import date
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from mhi.adapters.gcp.bigquery_warehouse import BigQueryWarehouse, from_settings
from mhi.config import Settings
from mhi.errors import AuthError, PermanentError, UpstreamUnavailableError

FRAME = pd.DataFrame({"hotel": ["A"], "v": [1.0]})


@pytest.fixture
def client() -> Any:
    c = mock.create_autospec(bigquery.Client, instance=True)
    c.get_table.side_effect = gexc.NotFound("no table")
    return c


@pytest.fixture
def warehouse(client: Any) -> BigQueryWarehouse:
    return BigQueryWarehouse(client, "proj", "EU")


def test_replace_is_a_truncating_load_job_into_the_account_layer_dataset(
    warehouse: BigQueryWarehouse, client: Any
) -> None:
    assert warehouse.write("hotel-fergus", "model.reservations", FRAME) == 1
    dataset = client.create_dataset.call_args.args[0]
    assert dataset.dataset_id == "hotel_fergus_model" and dataset.location == "EU"
    assert client.create_dataset.call_args.kwargs == {"exists_ok": True}
    args, kwargs = client.load_table_from_dataframe.call_args
    assert args == (FRAME, "proj.hotel_fergus_model.reservations")
    assert kwargs["job_config"].write_disposition == "WRITE_TRUNCATE"
    client.load_table_from_dataframe.return_value.result.assert_called_once_with()
    warehouse.write("hotel-fergus", "model.other", FRAME)
    assert client.create_dataset.call_count == 1  # once per dataset and process


def test_append_allows_new_columns(warehouse: BigQueryWarehouse, client: Any) -> None:
    warehouse.write("acme", "raw.t", FRAME, mode="append")
    config = client.load_table_from_dataframe.call_args.kwargs["job_config"]
    assert config.write_disposition == "WRITE_APPEND"
    assert config.schema_update_options == ["ALLOW_FIELD_ADDITION"]


def test_merge_stages_then_deletes_and_inserts_in_one_transaction(
    warehouse: BigQueryWarehouse, client: Any
) -> None:
    client.get_table.side_effect = None  # the target exists
    warehouse.write("acme", "kpi.t", FRAME, mode="merge", keys=["hotel"])
    stage = client.load_table_from_dataframe.call_args.args[1]
    assert stage.startswith("proj.acme_kpi.t__stage_")
    script = client.query.call_args.args[0]
    assert script.startswith("BEGIN TRANSACTION;") and script.endswith("COMMIT TRANSACTION;")
    assert f"DELETE FROM `proj.acme_kpi.t` AS t WHERE EXISTS (SELECT 1 FROM `{stage}`" in script
    assert "s.`hotel` IS NOT DISTINCT FROM t.`hotel`" in script
    assert (
        f"INSERT INTO `proj.acme_kpi.t` (`hotel`, `v`) SELECT `hotel`, `v` FROM `{stage}`" in script
    )
    client.delete_table.assert_called_once_with(stage, not_found_ok=True)


def test_query_is_parameterised_and_names_resolve_to_datasets(
    warehouse: BigQueryWarehouse, client: Any
) -> None:
    warehouse.query(
        "hotel-x",
        "SELECT * FROM kpi.t WHERE d >= @d AND h IN UNNEST(@h) AND n > @n",
        {"d": date(2024, 1, 1), "h": ["A", "B"], "n": 3},
    )
    sql = client.query.call_args.args[0]
    assert sql == (
        "SELECT * FROM `proj.hotel_x_kpi.t` WHERE d >= @d AND h IN UNNEST(@h) AND n > @n"
    )
    params = client.query.call_args.kwargs["job_config"].query_parameters
    assert [(p.name, getattr(p, "type_", None) or p.array_type) for p in params] == [
        ("d", "DATE"),
        ("h", "STRING"),
        ("n", "INT64"),
    ]
    client.query.return_value.result.return_value.to_dataframe.assert_called_once_with()


def test_read_and_exists(warehouse: BigQueryWarehouse, client: Any) -> None:
    assert warehouse.exists("acme", "raw.t") is False
    client.get_table.side_effect = None
    assert warehouse.exists("acme", "raw.t") is True
    client.get_table.assert_called_with("proj.acme_raw.t")
    warehouse.read("acme", "raw.t")
    client.list_rows.assert_called_once_with("proj.acme_raw.t")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (gexc.Forbidden("denied"), AuthError),
        (gexc.BadRequest("Syntax error: Unexpected keyword"), PermanentError),
        (gexc.ServiceUnavailable("try later"), UpstreamUnavailableError),
        (gexc.TooManyRequests("quota"), UpstreamUnavailableError),
    ],
)
def test_google_errors_become_product_errors(
    warehouse: BigQueryWarehouse, client: Any, error: Exception, expected: type[Exception]
) -> None:
    client.query.side_effect = error
    with pytest.raises(expected) as info:
        warehouse.query("acme", "SELECT 1")
    assert info.value.retryable is (expected is UpstreamUnavailableError)


def test_from_settings_needs_a_project() -> None:
    with pytest.raises(ValueError, match="_M_PROJECT_ID"):
        from_settings(Settings(backend="gcp", warehouse="bigquery"))


def test_materialize_is_a_query_job_into_the_table(
    warehouse: BigQueryWarehouse, client: Any
) -> None:
    assert warehouse.dialect == "bigquery"
    client.query.return_value.result.return_value.total_rows = 7
    rows = warehouse.materialize("hotel-x", "kpi.m", "SELECT k FROM model.t WHERE v > @v", {"v": 1})
    assert rows == 7
    sql = client.query.call_args.args[0]
    assert sql == "SELECT k FROM `proj.hotel_x_model.t` WHERE v > @v"
    config = client.query.call_args.kwargs["job_config"]
    assert config.destination.path.endswith("/datasets/hotel_x_kpi/tables/m")
    assert config.write_disposition == "WRITE_TRUNCATE"
    assert [p.name for p in config.query_parameters] == ["v"]
    assert client.create_dataset.call_args.args[0].dataset_id == "hotel_x_kpi"


def test_materialize_merge_stages_adds_columns_then_swaps_rows_in_a_transaction(
    warehouse: BigQueryWarehouse, client: Any
) -> None:
    def table(name: str) -> Any:
        schema = [bigquery.SchemaField("k", "STRING"), bigquery.SchemaField("v", "FLOAT")]
        if "__stage_" in name:
            schema.append(bigquery.SchemaField("extra", "INTEGER"))
        return mock.Mock(schema=schema)

    client.get_table.side_effect = table
    client.query.return_value.result.return_value.total_rows = 3
    rows = warehouse.materialize("acme", "kpi.m", "SELECT 1", mode="merge", keys=["k"])
    assert rows == 3
    stage_config = client.query.call_args_list[0].kwargs["job_config"]
    stage = stage_config.destination.table_id
    assert stage.startswith("m__stage_") and stage_config.write_disposition == "WRITE_TRUNCATE"
    alter = client.query.call_args_list[1].args[0]
    assert alter == "ALTER TABLE `proj.acme_kpi.m` ADD COLUMN IF NOT EXISTS `extra` INT64"
    script = client.query.call_args_list[2].args[0]
    assert script.startswith("BEGIN TRANSACTION;") and "s.`k` IS NOT DISTINCT FROM t.`k`" in script
    assert "INSERT INTO `proj.acme_kpi.m` (`k`, `v`, `extra`)" in script
    client.delete_table.assert_called_once_with(f"proj.acme_kpi.{stage}", not_found_ok=True)


def test_materialize_translates_google_errors(warehouse: BigQueryWarehouse, client: Any) -> None:
    client.query.side_effect = gexc.BadRequest("Unrecognized name: status")
    with pytest.raises(PermanentError, match=r"query into proj\.acme_kpi\.m: .*Unrecognized name"):
        warehouse.materialize("acme", "kpi.m", "SELECT status FROM model.t")


def test_a_session_changes_nothing_on_bigquery(warehouse: BigQueryWarehouse, client: Any) -> None:
    with warehouse.session():
        warehouse.write("acme", "raw.t", FRAME)
    assert client.load_table_from_dataframe.call_count == 1  # the shared client, as always
