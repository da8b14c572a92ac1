"""The deployment's limits per external system: MHI_CONCURRENCY_LIMITS and MHI_SHARED_RATES."""

from __future__ import annotations

import pytest

from mhi.config import Settings


def test_concurrency_limits_and_shared_rates_are_read_in_order() -> None:
    env = {
        "MHI_CONCURRENCY_LIMITS": "qlik:hotel-fergus=2, pms:*=1",
        "MHI_SHARED_RATES": "avalon=avalon-pms@1.5,holded=holded-api",
    }
    settings = Settings.from_env(env)
    assert settings.concurrency_limits == (("qlik:hotel-fergus", 2), ("pms:*", 1))
    assert settings.shared_rates == {"avalon": ("avalon-pms", 1.5), "holded": ("holded-api", None)}
    unset = Settings.from_env({})
    assert unset.concurrency_limits == () and unset.shared_rates == {}


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("MHI_CONCURRENCY_LIMITS", "qlik", "'qlik' is not of the form name=value"),
        ("MHI_CONCURRENCY_LIMITS", "qlik=0", "limit of 'qlik' must be a whole number from 1"),
        ("MHI_CONCURRENCY_LIMITS", "qlik=two", "not 'two'"),
        ("MHI_CONCURRENCY_LIMITS", "a/b=2", "key 'a/b' is not allowed"),
        ("MHI_SHARED_RATES", "avalon=pms@fast", "rate of 'avalon' must be a number"),
        ("MHI_SHARED_RATES", "avalon=pms@0", "above 0"),
        ("MHI_SHARED_RATES", "avalon=a b", "key 'a b' of 'avalon' is not allowed"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_item(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=name) as caught:
        Settings.from_env({name: value})
    assert says in str(caught.value)


def test_step_concurrency_gives_a_key_template_per_step_type() -> None:
    env = {"MHI_STEP_CONCURRENCY": "ms-qlik-app-reload=qlik:{{ run.account }}, ms-sql=warehouse"}
    assert Settings.from_env(env).step_concurrency == {
        "ms-qlik-app-reload": "qlik:{{ run.account }}",
        "ms-sql": "warehouse",
    }


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("ms-sql", "'ms-sql' is not of the form type=key"),
        ("ms-sql=a/b", "ms-sql: concurrency key 'a/b' is not allowed"),
        ("ms-sql=q:{{ steps.x.output }}", "may refer to run, params and item only"),
        ("ms-sql=q:{{ run. }}", "bad expression"),
    ],
)
def test_a_bad_step_concurrency_names_the_type_and_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(ValueError, match="MHI_STEP_CONCURRENCY") as caught:
        Settings.from_env({"MHI_STEP_CONCURRENCY": value})
    assert says in str(caught.value)
