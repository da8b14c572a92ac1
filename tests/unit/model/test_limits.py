"""`mhi validate` knows `concurrency` and `limits`: every mistake named with its JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from mhi.model import keys, slot_keys
from mhi.model.keys import RunRef
from mhi.model.limits import key_problem
from mhi.model.validate import validate_flow

TYPES = frozenset({"ms-echo"})


def _problems(*steps: dict[str, Any], **extra: Any) -> list[tuple[str, str]]:
    raw = {
        "flow_id": "f",
        "account": "acme",
        "params": {"hotel": {"default": "h1"}},
        "flow_config": {"steps": [{"type": "ms-echo", **s} for s in steps]},
        **extra,
    }
    return validate_flow(raw, TYPES)[1]


def test_a_valid_inline_and_named_concurrency_pass() -> None:
    limits = {"reloads": {"key": "qlik:{{ run.account }}", "limit": 2}}
    steps = [
        {"id": "a", "concurrency": {"key": "pms:{{ params.hotel }}", "limit": 1}},
        {"id": "b", "concurrency": "reloads"},
        {"id": "c", "concurrency": {"key": "pms"}},  # the deployment gives the limit
    ]
    assert _problems(*steps, limits=limits) == []


@pytest.mark.parametrize(
    ("step", "extra", "path", "says"),
    [
        (
            {"id": "a", "concurrency": "reloads"},
            {"limits": {"other": {"key": "k", "limit": 1}}},
            "$.flow_config.steps[0].concurrency",
            "no limit named 'reloads' in the flow's `limits` (other)",
        ),
        (
            {"id": "a", "concurrency": {"key": "qlik/{{ run.account }}", "limit": 1}},
            {},
            "$.flow_config.steps[0].concurrency.key",
            "concurrency key 'qlik/{{ run.account }}' is not allowed",
        ),
        (
            {"id": "a", "concurrency": {"key": "pms:{{ params.nope }}", "limit": 1}},
            {},
            "$.flow_config.steps[0].concurrency.key",
            "bad reference params.nope: no such flow param",
        ),
        (
            {"id": "a", "concurrency": "per-item"},
            {"limits": {"per-item": {"key": "q-{{ item }}", "limit": 1}}},
            "$.flow_config.steps[0].concurrency",
            "'item' is only defined inside a for_each step",
        ),
        (
            {"id": "a"},
            {"limits": {"bad": {"key": "with space", "limit": 1}}},
            "$.limits.bad.key",
            "is not allowed",
        ),
        (
            {"id": "a", "concurrency": {"key": "k", "limit": 0}},
            {},
            "$.flow_config.steps[0].concurrency.limit",
            "greater than or equal to 1",
        ),
        (
            {"id": "a", "concurrency": {"limit": 2}},
            {},
            "$.flow_config.steps[0].concurrency",
            "give `key` (and `limit`), or the name of an entry of the flow's `limits`",
        ),
        (
            {"id": "a", "concurrency": {"name": "reloads", "limit": 2}},
            {"limits": {"reloads": {"key": "k", "limit": 1}}},
            "$.flow_config.steps[0].concurrency",
            "`limit` goes on the flow's `limits` entry",
        ),
        (
            {"id": "a", "concurrency": 5},
            {},
            "$.flow_config.steps[0].concurrency",
            "valid dictionary",
        ),
        (
            {"id": "a"},
            {"limits": {"reloads": "other"}},
            "$.limits.reloads",
            "a `limits` entry needs its own `key`",
        ),
    ],
)
def test_each_mistake_is_named_with_its_path(
    step: dict[str, Any], extra: dict[str, Any], path: str, says: str
) -> None:
    problems = _problems(step, **extra)
    assert [p for p, msg in problems if says in msg] == [path], problems


def test_the_key_rule_refuses_what_cannot_name_a_store_object() -> None:
    assert key_problem("qlik:hotel-fergus@eu.1") is None
    for bad in ("", "a/b", "..", "-lead", "x" * 129):
        assert key_problem(bad) is not None, bad


def test_slot_waiter_and_rate_keys_are_built_and_parsed_in_one_place() -> None:
    ref = RunRef("acme", "f", "20260101T060000Z-1a2b3c4d")
    assert slot_keys.parse_slot_key("qlik:acme", slot_keys.slot_key("qlik:acme", 1, 7)) == (
        1,
        7,
        False,
    )
    end = slot_keys.slot_key("qlik:acme", 0, 12, end=True)
    assert end == "limits/qlik:acme/0/000012-end.json"
    assert slot_keys.parse_slot_key("qlik:acme", end) == (0, 12, True)
    marker = slot_keys.waiter_key("qlik:acme", ref, "t1")
    assert slot_keys.parse_waiter_key("qlik:acme", marker) == ref
    for junk in ("limits/qlik:acme/x/000001.json", "limits/other/0/000001.json", marker):
        assert slot_keys.parse_slot_key("qlik:acme", junk) is None
    assert slot_keys.parse_waiter_key("qlik:acme", slot_keys.slot_key("qlik:acme", 0, 1)) is None
    parsed = keys.parse(keys.slot_wait_key("reload", 3))
    assert parsed is not None and (parsed.kind, parsed.step, parsed.attempt) == (
        "slot_wait",
        "reload",
        3,
    )
    assert slot_keys.rate_key("pms", 1700000000, 2) == "rates/pms/1700000000/000002.json"
    assert slot_keys.rate_key("pms", 1700000000) == "rates/pms/1700000000/"
