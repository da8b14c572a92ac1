"""Input an attacker or a careless author would send: every case is a clear error, never a crash.

Expressions (depth, length, escapes, non-ASCII), ids with a trailing newline, oversized start
and step messages, and property-based fuzzing of the expression parser, the flow validator, the
controller's router, the step SDK and `mhi validate`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.cli.main import main
from mhi.config import Settings
from mhi.constants import MAX_START_MESSAGE_BYTES
from mhi.errors import FlowDefinitionError, InvalidMessageError, PermanentError
from mhi.model import expr
from mhi.model.validate import validate_flow
from mhi.runtime.controller import Controller
from mhi.runtime.pubsub_event import PubSubMessage
from mhi.runtime.router import Router
from mhi.services import Services
from mhi.steps.sdk import handle_step_message
from tests.fakes.bus import RecordingBus

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
TYPES = frozenset({"ms-echo"})


def _flow(**changes: Any) -> dict[str, Any]:
    flow: dict[str, Any] = {
        "flow_id": "hostile",
        "account": "acme",
        "flow_config": {"steps": [{"id": "a", "type": "ms-echo", "config": {"x": 1}}]},
    }
    flow.update(changes)
    return flow


def _router() -> tuple[Router, MemoryRunStore, RecordingBus]:
    store, bus = MemoryRunStore(), RecordingBus()
    controller = Controller(store, bus, lambda: NOW)
    return Router(lambda: controller, None, lambda: TYPES), store, bus


# ---- expressions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'Málaga' == 'Málaga'", True),
        ("params.city == 'Málaga'", True),
        ("'\\u00e1'", "á"),
        ("'\\N{LATIN SMALL LETTER A WITH ACUTE}'", "á"),
        ("'\\x41\\t\\'q\\''", "A\t'q'"),
        ("'a\\\\b'", "a\\b"),
    ],
)
def test_string_literals_mean_what_they_say(text: str, value: object) -> None:
    assert expr.evaluate(expr.parse(text), {"params": {"city": "Málaga"}}) == value


def test_a_non_ascii_template_renders_as_written() -> None:
    assert expr.render("{{ 'Málaga' }} – {{ params.city }}", {"params": {"city": "Zürich"}}) == (
        "Málaga – Zürich"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'\\x'", "incomplete escape \\x"),
        ("'\\N{'", "incomplete escape \\N"),
        ("'\\u12'", "incomplete escape \\u"),
        ("'\\N{NO SUCH CHARACTER}'", "unknown character name"),
        ("'\\q'", "unknown escape \\q"),
        ("(" * 200 + "1" + ")" * 200, "nested more than 32 deep"),
        ("not " * 200 + "true", "nested more than 32 deep"),
        ("[" * 200 + "]" * 200, "nested more than 32 deep"),
        ("params.x == '" + "a" * 5000 + "'", "the limit is 4000"),
    ],
)
def test_hostile_expressions_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(
        expr.ExpressionError, match=message.replace("\\", "\\\\").replace("(", r"\(")
    ):
        expr.parse(text)


def test_a_deep_when_is_a_validation_problem_with_its_path() -> None:
    deep = "(" * 200 + "true" + ")" * 200
    flow = _flow()
    flow["flow_config"]["steps"][0]["when"] = deep
    _, problems = validate_flow(flow)
    [(path, message)] = problems
    assert path == "$.flow_config.steps[0].when"
    assert "nested more than 32 deep" in message


# ---- ids and sizes --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["flow_id", "account"])
def test_ids_with_a_trailing_newline_are_refused(field: str) -> None:
    _, problems = validate_flow(_flow(**{field: "abc\n"}))
    assert [p for p, _ in problems] == [f"$.{field}"]


def test_a_run_id_with_a_trailing_newline_is_refused() -> None:
    router, store, _ = _router()
    body = json.dumps({**_flow(), "run_id": "r1\n"}).encode()
    with pytest.raises(InvalidMessageError, match="invalid run_id"):
        router.route(PubSubMessage(body))
    assert store.list("") == []


def test_an_oversized_start_message_is_refused_with_its_size() -> None:
    router, store, bus = _router()
    flow = _flow(description="x" * MAX_START_MESSAGE_BYTES)
    body = json.dumps(flow).encode()
    with pytest.raises(InvalidMessageError, match=rf"start message is {len(body)} bytes"):
        router.route(PubSubMessage(body))
    assert store.list("") == [] and bus.take() == []


def test_a_step_message_over_the_limit_fails_the_step_before_any_claim() -> None:
    router, store, bus = _router()
    big = "x" * 900_000  # the start is under its limit; five copies in the config are not
    config = {f"copy{i}": "{{ params.big }}" for i in range(5)}
    flow = _flow(
        run_id="big-1",
        params={"big": {"default": big}},
        flow_config={"steps": [{"id": "a", "type": "ms-echo", "config": config}]},
    )
    router.route(PubSubMessage(json.dumps(flow).encode()))
    keys = store.list("runs/acme/hostile/big-1/")
    assert not any(k.endswith("dispatched.json") for k in keys)
    result = json.loads(store.read("runs/acme/hostile/big-1/steps/a/1/result.json") or b"{}")
    assert result["error"]["kind"] == "message_too_large"
    assert "bytes, the limit is" in result["error"]["message"]
    assert [topic for topic, _, _ in bus.take()] == []


# ---- fuzzing --------------------------------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_expression_text = st.text(
    alphabet=st.sampled_from(list("()[]'\"\\ .,=!<>0123456789abcdeNuxmnot_-{}áß")), max_size=60
) | st.text(max_size=40)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(_expression_text)
def test_the_expression_parser_cannot_be_crashed(text: str) -> None:
    context = {"params": {"a": 1}, "steps": {}, "item": None, "run": {"id": "r"}}
    with contextlib.suppress(expr.ExpressionError):
        expr.evaluate(expr.parse(text), context)


@FUZZ
@given(_expression_text, _json)
def test_the_validator_answers_every_flow_with_problems_not_exceptions(
    when: str, config: Any
) -> None:
    flow = _flow()
    flow["flow_config"]["steps"][0].update(when=when, config={"x": config, "t": "{{" + when + "}}"})
    validate_flow(flow)


@FUZZ
@given(_json)
def test_the_validator_survives_any_document(document: Any) -> None:
    validate_flow(document)


def _controller_bodies() -> st.SearchStrategy[bytes]:
    kinds = st.sampled_from(["callback", "sweep", "start", None])
    objects = st.builds(
        lambda kind, extra: {**extra, **({"kind": kind} if kind else {})},
        kinds,
        st.dictionaries(
            st.sampled_from(
                [
                    "run_id",
                    "flow_id",
                    "account",
                    "step_id",
                    "attempt",
                    "status",
                    "flow_config",
                    "flow_ref",
                    "params",
                ]
            ),
            _json,
            max_size=6,
        ),
    )
    return st.binary(max_size=64) | objects.map(lambda o: json.dumps(o).encode())


@FUZZ
@given(_controller_bodies())
def test_every_controller_message_is_handled_or_refused_as_permanent(body: bytes) -> None:
    router, _, _ = _router()
    with contextlib.suppress(PermanentError):
        router.route(PubSubMessage(body))


@FUZZ
@given(st.binary(max_size=64) | _json.map(lambda v: json.dumps(v).encode()))
def test_every_step_message_is_run_or_refused_as_invalid(body: bytes) -> None:
    services = Services(Settings(), run_store=MemoryRunStore(), bus=RecordingBus())
    with contextlib.suppress(InvalidMessageError):
        handle_step_message(body, services)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200) | _json.map(lambda v: json.dumps(v).encode()))
def test_mhi_validate_prints_an_error_never_a_traceback(body: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "flow.json"
        path.write_bytes(body)
        assert main(["validate", str(path)]) in (0, 1)


def test_mhi_validate_on_a_deep_expression_prints_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = _flow()
    flow["flow_config"]["steps"][0]["when"] = "not " * 300 + "true"
    (tmp_path / "f.json").write_text(json.dumps(flow))
    assert main(["validate", str(tmp_path / "f.json")]) == 1
    out = capsys.readouterr().out
    assert "$.flow_config.steps[0].when" in out and "nested more than 32 deep" in out


def test_flow_definition_errors_are_permanent() -> None:
    assert issubclass(FlowDefinitionError, PermanentError)
