"""The safe expression language: conditions and templates over JSON data, no eval."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mhi.model import expr

CTX: dict[str, Any] = {
    "params": {"day": "2024-01-02", "n": 3, "flag": True, "hotels": ["a", "b"]},
    "steps": {
        "extract-reservations": {"status": "succeeded", "output": {"rows": 10, "files": ["x"]}}
    },
    "item": {"hotel": "a"},
    "run": {"id": "r1"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps.extract-reservations.output.rows > 5", True),
        ("steps.extract-reservations.output.rows >= 11", False),
        ("params.n == 3 and params.flag", True),
        ("not params.flag or params.n < 0", False),
        ("'a' in params.hotels", True),
        ("'c' not in params.hotels", True),
        ('params.day == "2024-01-02"', True),
        ("steps.extract-reservations.output.files[0]", "x"),
        ("steps.extract-reservations.status != 'failed'", True),
        ("item.hotel in ['a', 'z']", True),
        ("(params.n > 1) and (params.n < 5)", True),
        ("null == null", True),
        ("-1 < params.n", True),
        ("1.5", 1.5),
    ],
)
def test_evaluate(text: str, expected: Any) -> None:
    assert expr.evaluate(expr.parse(text), CTX) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown name"),
        ("params.n +", "unexpected character"),
        ("params.n == ", "expected"),
        ("(params.n", "expected ')'"),
        ("", "empty expression"),
        ("params.n ; 1", "unexpected character"),
        ("and", "unexpected keyword"),
        ("params.x[abc]", "integer index"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(expr.ExpressionError, match=re.escape(message)):
        expr.evaluate(expr.parse(text), CTX)


def test_missing_reference_names_what_is_available() -> None:
    with pytest.raises(expr.ExpressionError, match=r"has no 'nope' \(available: files, rows\)"):
        expr.evaluate(expr.parse("steps.extract-reservations.output.nope"), CTX)


def test_comparing_incompatible_types_is_a_clear_error() -> None:
    with pytest.raises(expr.ExpressionError, match="cannot compare"):
        expr.evaluate(expr.parse("params.day > 3"), CTX)


def test_render_keeps_type_of_a_whole_placeholder_and_interpolates_otherwise() -> None:
    config = {
        "rows": "{{ steps.extract-reservations.output.rows }}",
        "label": "day={{ params.day }} n={{params.n}} ok={{ params.flag }}",
        "two": "{{ params.n }} of {{ params.day }}",
        "list": "hotels: {{ params.hotels }}; {{ item }}",
        "nested": [{"h": "{{ item.hotel }}"}],
        "plain": "no templates",
        "num": 4,
    }
    assert expr.render(config, CTX) == {
        "rows": 10,
        "label": "day=2024-01-02 n=3 ok=true",
        "two": "3 of 2024-01-02",
        "list": 'hotels: ["a", "b"]; {"hotel": "a"}',
        "nested": [{"h": "a"}],
        "plain": "no templates",
        "num": 4,
    }


def test_render_error_names_the_config_path() -> None:
    with pytest.raises(expr.ExpressionError, match=r"config\.nested\[0\]\.h"):
        expr.render({"nested": [{"h": "{{ item.nope }}"}]}, CTX)


def test_references_are_listed() -> None:
    tree = expr.parse("steps.a.output.x > params.y or item")
    assert [str(p) for p in expr.references(tree)] == ["steps.a.output.x", "params.y", "item"]
