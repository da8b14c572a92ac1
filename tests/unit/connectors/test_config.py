"""Extractor configs: the seed's config as written, dataset names, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mhi.adapters.local.env_secrets import env_var
from mhi.catalog import load_kind
from mhi.config import Settings
from mhi.errors import StepConfigError
from tests.fakes.apis.scenarios import ACCOUNT, SYSTEMS
from tests.unit.connectors.conftest import Env

SEED = Path(__file__).resolve().parents[3] / "flows" / "daily-avalon-extract.json"
SEED_CONFIG = {"_m_account": "hotel-fergus", "datasets": ["Reservations"], "incremental": True}


def test_the_seed_config_runs_unchanged_with_the_host_from_a_secret(
    env: Env, scenario_for: Any
) -> None:
    if SEED.exists():  # the flow file in flows/ must carry the same config
        step = json.loads(SEED.read_text())["flow_config"]["steps"][0]
        assert step["config"] == SEED_CONFIG
    scenario_for("avalon", env, 25)  # sets the account's secret avalon-base-url
    cb = env.run("avalon", SEED_CONFIG)
    assert cb.status == "succeeded", cb.error
    assert cb.output["datasets"]["reservations"]["rows"] == 25
    assert cb.output["tables"] == ["raw.avalon_reservations"]
    assert cb.output["base_url_from"] == "secret 'avalon-base-url'"


def test_no_base_url_anywhere_names_the_secret_and_the_setting(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("avalon", env, 1)
    del env.environ[env_var(ACCOUNT, "avalon-base-url")]
    cb = env.run("avalon", SEED_CONFIG)
    assert cb.error is not None and cb.error.kind == "secret_access"
    assert "'hotel-fergus--avalon-base-url'" in cb.error.message
    assert "MHI_AVALON_BASE_URL" in cb.error.message
    assert sc.fake.data_requests == 0


def test_a_deployment_setting_can_hold_the_base_url(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("avalon", env, 7)
    del env.environ[env_var(ACCOUNT, "avalon-base-url")]
    settings = Settings(
        home=env.root, allow_loopback_urls=True, extra={"MHI_AVALON_BASE_URL": sc.fake.url}
    )
    cb = env.run("avalon", SEED_CONFIG, services=env.services(settings=settings))
    assert cb.status == "succeeded", cb.error
    assert cb.output["base_url_from"] == "setting MHI_AVALON_BASE_URL"


def test_the_holded_base_url_secret_is_read(env: Env, scenario_for: Any) -> None:
    """It used to be ignored: the flow's base_url won and the secret was never looked at."""
    sc = scenario_for("holded", env, 3)
    cb = env.run("holded", sc.step_config())
    assert cb.status == "succeeded", cb.error
    assert cb.output["base_url_from"] == "secret 'holded-base-url'"
    assert sc.fake.data_requests >= 1


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("key", ["base_url", "token_url"])
def test_a_flow_may_not_set_where_requests_go(system: str, key: str) -> None:
    kind = load_kind(f"ms-extractor-{system}")
    with pytest.raises(StepConfigError) as e:
        kind.parse_config({key: "https://api.example.com/v1", "credentials": f"{system}-palma"})
    secret = f"{system}-palma-{key.replace('_', '-')}"
    assert f"config.{key}" in str(e.value) and f"'{secret}'" in str(e.value)
    assert "MHI_" in str(e.value) and "remove" in str(e.value)


@pytest.mark.parametrize("system", SYSTEMS)
def test_unknown_dataset_lists_the_valid_ones(system: str) -> None:
    kind = load_kind(f"ms-extractor-{system}")
    from mhi.connectors.extract import select_datasets

    system_decl = __import__(f"mhi.connectors.systems.{system}", fromlist=["SYSTEM"]).SYSTEM
    with pytest.raises(StepConfigError) as e:
        select_datasets(system_decl, ["nope"])
    for ds in system_decl.datasets:
        assert ds.name in str(e.value)
    assert kind.type == f"ms-extractor-{system}"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Reservations"], ["reservations"]),
        (["RESERVATIONS", "daily stats", "Daily-Stats"], ["reservations", "daily_stats"]),
        (None, ["reservations", "daily_stats", "availability", "rates", "guests", "folios"]),
    ],
)
def test_dataset_names_match_case_and_separator_insensitively(
    names: list[str] | None, expected: list[str]
) -> None:
    from mhi.connectors.extract import select_datasets
    from mhi.connectors.systems.avalon import SYSTEM

    assert [d.name for d in select_datasets(SYSTEM, names)] == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dataset": ["Reservations"]}, "config.dataset: unknown field"),
        ({"base_url": "ftp://x"}, "config.base_url"),
        ({"environment": "prod"}, "config.environment: unknown field"),
        ({"date_from": "2025-03-02", "date_to": "2025-03-01"}, "is after date_to"),
        ({"page_size": 0}, "config.page_size"),
        ({"credentials": "../etc"}, "config.credentials"),
        ({"datasets": []}, "config.datasets"),
    ],
)
def test_bad_config_is_a_clear_error(config: dict[str, Any], message: str) -> None:
    kind = load_kind("ms-extractor-avalon")
    with pytest.raises(StepConfigError) as e:
        kind.parse_config(config)
    assert message in str(e.value)


@pytest.mark.parametrize(
    ("system", "missing"),
    [
        ("ulysescloud", "chain_id"),
        ("businesscentral", "company_id"),
        ("businesscentral", "tenant_id"),
    ],
)
def test_system_specific_required_options(system: str, missing: str) -> None:
    kind = load_kind(f"ms-extractor-{system}")
    full = {
        "chain_id": 1,
        "property_id": 2,
        "tenant_id": "t1",
        "company_id": "7c1a0000-0000-0000-0000-000000000001",
    }
    allowed = kind.config_model.model_fields
    config = {k: v for k, v in full.items() if k in allowed and k != missing}
    with pytest.raises(StepConfigError, match=f"config.{missing}: Field required"):
        kind.parse_config(config)


def test_a_dataset_needing_an_unset_id_says_which(env: Env, scenario_for: Any) -> None:
    sc = scenario_for("sharepoint365", env, 5)
    cb = env.run("sharepoint365", sc.step_config(datasets=["files"]))
    assert cb.error is not None and cb.error.kind == "invalid_config"
    assert "'files' needs config drive_id" in cb.error.message


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_config_option_is_documented(system: str) -> None:
    schema = load_kind(f"ms-extractor-{system}").options()
    assert "_m_account" in schema["properties"]
    undocumented = [n for n, p in schema["properties"].items() if not p.get("description")]
    assert undocumented == []
