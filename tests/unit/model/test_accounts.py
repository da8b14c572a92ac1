"""Accounts as parameters: `"account": "{{ params.hotel }}"` is resolved when a run starts."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.errors import FlowDefinitionError
from mhi.model.accounts import account_param, bind_account, schedule_accounts
from mhi.model.flow import FlowDefinition
from mhi.model.validate import parse_flow, validate_flow

TYPES = frozenset({"ms-echo"})


def _raw(**extra: Any) -> dict[str, Any]:
    return {
        "flow_id": "group-kpis",
        "account": "{{ params.hotel }}",
        "params": {"hotel": {"required": True}},
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo"}]},
        **extra,
    }


def _flow(**extra: Any) -> FlowDefinition:
    return parse_flow(_raw(**extra), TYPES)


def _problems(**extra: Any) -> list[tuple[str, str]]:
    return validate_flow(_raw(**extra), TYPES)[1]


def test_the_account_param_is_read_from_the_template_only() -> None:
    assert account_param("{{ params.hotel }}") == "hotel"
    assert account_param("{{params.hotel-2}}") == "hotel-2"
    assert account_param("hotel-fergus") is None
    assert account_param("{{ params.hotel }}-x") is None


def test_binding_puts_the_params_value_in_the_flow() -> None:
    flow = _flow()
    bound = bind_account(flow, {"hotel": "hotel-fergus"})
    assert bound.account == "hotel-fergus" and flow.account == "{{ params.hotel }}"
    literal = parse_flow({**_raw(), "account": "hotel-marina"}, TYPES)
    assert bind_account(literal, {"hotel": "other"}) is literal


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "no value given"),
        ("../etc", "is not an account name"),
        ("hotel fergus", "is not an account name"),
        (42, "is not an account name"),
        ("x" * 64, "is not an account name"),
    ],
)
def test_a_missing_or_unsafe_account_value_is_a_clear_error(value: Any, words: str) -> None:
    with pytest.raises(FlowDefinitionError) as e:
        bind_account(_flow(), {"hotel": value})
    [(path, message)] = e.value.problems
    assert path == "$.params.hotel" and words in message


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ({"account": "{{ params.hotl }}"}, "$.account", "no such flow param 'hotl'"),
        ({"account": "{{ steps.a.output }}"}, "$.account", "params.<name>"),
        ({"account": "hotel fergus"}, "$.account", "params.<name>"),
        (
            {"params": {"hotel": {"default": "a/b"}}},
            "$.params.hotel.default",
            "is not an account name",
        ),
        (
            {"account": "hotel-a", "schedule": {"cron": "0 5 * * *", "accounts": ["b"]}},
            "$.schedule.accounts",
            "only for a flow whose account is a param",
        ),
        (
            {"schedule": {"cron": "0 5 * * *", "accounts": ["a", "b", "a"]}},
            "$.schedule.accounts",
            "listed twice",
        ),
        (
            {"schedule": {"cron": "0 5 * * *", "accounts": ["a/b"]}},
            "$.schedule.accounts[0]",
            "not allowed",
        ),
        (
            {"schedule": {"cron": "0 5 * * *", "accounts": []}},
            "$.schedule.accounts",
            "at least 1",
        ),
        (
            {"schedule": {"cron": "0 5 * * *", "accounts": ["a"], "params": {"hotel": "b"}}},
            "$.schedule.params.hotel",
            "already set",
        ),
        (
            {"schedule": {"cron": "0 5 * * *"}},
            "$.schedule",
            "has no value when the schedule fires",
        ),
    ],
)
def test_a_bad_account_setup_is_reported_with_its_path(
    extra: dict[str, Any], path: str, words: str
) -> None:
    problems = _problems(**extra)
    found = [m for p, m in problems if p == path]
    assert found and words in found[0], problems


def test_a_valid_param_account_flow_has_no_problems() -> None:
    schedule = {"cron": "30 3 * * *", "time_zone": "Europe/Madrid", "accounts": ["a", "b"]}
    assert _problems(schedule=schedule) == []
    assert _problems(params={"hotel": {"default": "hotel-fergus"}}) == []
    one = {"cron": "0 5 * * *", "params": {"hotel": "hotel-fergus"}}
    assert _problems(schedule=one) == []  # the schedule names its one account


def test_a_schedule_fans_out_only_when_the_start_leaves_the_account_open() -> None:
    flow = _flow(schedule={"cron": "0 5 * * *", "accounts": ["a", "b"]})
    assert schedule_accounts(flow, {}) == ["a", "b"]
    assert schedule_accounts(flow, {"hotel": "a"}) is None  # the start names its account
    assert schedule_accounts(_flow(), {}) is None  # no accounts to fan out to
