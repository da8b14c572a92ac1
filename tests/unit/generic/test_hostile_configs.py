"""Whatever a flow puts in a generic step's config, the answer is a validation error or a step
error that says what is wrong: never another exception (property-based)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mhi.analytics.sql_dialect import dialect
from mhi.catalog import config_model
from mhi.errors import StepExecutionError
from mhi.generic.sql_text import SqlTextError, parameters, strip_statement, with_limit
from mhi.generic.transform_sql import Bound, ExpressionSql, expression_sql

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SQLISH = st.text(alphabet=st.sampled_from("SELECT from;'\"`@-#/*()\n ab1$"), max_size=60)
EXPRISH = st.text(alphabet=st.sampled_from("row.ab params[]0'\"\\=!<>(),andornotin -"), max_size=60)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@FAST
@given(SQLISH)
def test_the_sql_scanner_only_says_what_is_wrong(text: str) -> None:
    try:
        statement = strip_statement(text)
    except SqlTextError:
        return
    assert isinstance(parameters(statement), list)
    assert with_limit(statement, 3).startswith(statement)


@FAST
@given(EXPRISH)
def test_transform_expressions_compile_or_say_why(text: str) -> None:
    compiler = ExpressionSql(dialect("duckdb"), Bound(), {"params": {"ab": [1, "x"]}})
    try:
        sql = expression_sql(text, compiler, "filter")
    except StepExecutionError as e:
        assert str(e).startswith("filter ")
        return
    assert "'" not in sql.replace("''", "")  # every literal is a bound parameter


TYPES = ["ms-http-request", "ms-sql", "ms-data-quality", "ms-transform"]


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A step type and a config built from its own option names, with any JSON values."""
    step_type = draw(st.sampled_from(TYPES))
    names = list(config_model(step_type).model_json_schema(by_alias=True)["properties"])
    return step_type, draw(st.dictionaries(st.sampled_from(names), JSON, max_size=6))


@FAST
@given(configs())
def test_any_config_validates_or_fails_with_a_validation_error(
    case: tuple[str, dict[str, Any]],
) -> None:
    step_type, raw = case
    with contextlib.suppress(ValidationError):
        config_model(step_type).model_validate(raw)
