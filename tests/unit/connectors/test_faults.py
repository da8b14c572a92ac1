"""Every injected fault is handled: retried to success, or a failed callback whose `retryable`
says whether trying again can help. Wrong or missing credentials are never retried."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.apis.base import Fault
from tests.fakes.apis.scenarios import ACCOUNT, EXPLICIT_END, OAUTH, SYSTEMS, Scenario
from tests.unit.connectors.conftest import Env

N = 120


def _pages(system: str) -> dict[str, Any]:
    # Several pages per listing, so faults land in the middle of an extraction.
    return {} if system in ("holded", "reviewpro") else {"page_size": 30}


def _complete(env: Env, sc: Scenario) -> None:
    frame = env.warehouse.read(ACCOUNT, sc.table)
    assert sorted(map(str, frame[sc.key])) == sorted(map(str, sc.ids()))


RECOVERABLE = {
    "429": (Fault("429", on_request=2, retry_after="2"), {}),
    "500": (Fault("500", on_request=2, times=2), {}),
    # Every other request must answer within the client's timeout, on a loaded machine too: a
    # second late answer would be one more retry than the one injected.
    "timeout": (Fault("timeout", on_request=2, delay=4.0), {"timeout_seconds": 1.5}),
    "malformed": (Fault("malformed", on_request=2), {}),
}


@pytest.mark.parametrize("fault", sorted(RECOVERABLE))
@pytest.mark.parametrize("system", SYSTEMS)
def test_transient_faults_are_retried_to_success(
    system: str, fault: str, env: Env, scenario_for: Any, instant_sleep: list[float]
) -> None:
    sc = scenario_for(system, env, N)
    injected, options = RECOVERABLE[fault]
    sc.fake.faults = [injected]
    cb = env.run(system, sc.step_config(**_pages(system), **options))
    assert cb.status == "succeeded", cb.error
    assert cb.output["http"]["retries"] == injected.times
    _complete(env, sc)
    if fault == "429":
        assert 2.0 in instant_sleep  # Retry-After honoured


@pytest.mark.parametrize("system", sorted(EXPLICIT_END))
def test_an_empty_page_in_the_middle_does_not_end_the_listing(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    sc.fake.empty_page_at = 2
    cb = env.run(system, sc.step_config(**_pages(system)))
    assert cb.status == "succeeded", cb.error
    assert [s for s in sc.fake.log if s.status == 200 and not s.ids]  # it was served
    _complete(env, sc)


@pytest.mark.parametrize(
    ("system", "extra"),
    [*((s, {}) for s in sorted(OAUTH)), ("avalon", {"auth_scheme": "oauth2"})],
)
def test_an_expired_token_is_refreshed_once(
    system: str, extra: dict[str, Any], env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    sc.fake.faults = [Fault("expired_token", on_request=2)]
    cb = env.run(system, sc.step_config(**_pages(system), **extra))
    assert cb.status == "succeeded", cb.error
    assert cb.output["http"]["token_refreshes"] == 1
    assert sc.fake.token_requests == 2
    _complete(env, sc)


EXHAUSTED = {
    "429": ("upstream_unavailable", "HTTP 429", {}),
    "500": ("upstream_unavailable", "HTTP 500", {}),
    "timeout": ("upstream_unavailable", "no answer within 0.2s", {"timeout_seconds": 0.2}),
    "malformed": ("malformed_response", "malformed JSON", {}),
}


@pytest.mark.parametrize("fault", sorted(EXHAUSTED))
@pytest.mark.parametrize("system", SYSTEMS)
def test_persistent_faults_fail_retryable_and_advance_nothing(
    system: str, fault: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    kind, text, options = EXHAUSTED[fault]
    sc.fake.faults = [Fault(fault, on_request=2, times=99, delay=0.3)]
    cb = env.run(system, sc.step_config(**_pages(system), **options))
    assert cb.status == "failed"
    assert cb.error is not None
    assert (cb.error.kind, cb.error.retryable) == (kind, True)
    assert text in cb.error.message and "failed 3 times" in cb.error.message
    assert system in cb.error.message
    assert not env.blobs.list(f"state/watermarks/{ACCOUNT}/")
    assert not [k for k in env.blobs.list("raw/") if k.endswith("manifest.json")]


@pytest.mark.parametrize("system", SYSTEMS)
def test_an_html_page_instead_of_json_is_a_permanent_error(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    sc.fake.faults = [Fault("html", on_request=1)]
    cb = env.run(system, sc.step_config())
    assert cb.status == "failed" and cb.error is not None
    assert (cb.error.kind, cb.error.retryable) == ("unexpected_response", False)
    assert "text/html instead of JSON" in cb.error.message


@pytest.mark.parametrize("system", SYSTEMS)
def test_wrong_credentials_fail_clearly_and_are_not_retried(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    wrong = {name: value + "-wrong" for name, value in sc.secrets.items()}
    env.add_secrets(ACCOUNT, wrong)
    cb = env.run(system, sc.step_config())
    assert cb.status == "failed" and cb.error is not None
    assert (cb.error.kind, cb.error.retryable) == ("auth", False)
    assert "rejected" in cb.error.message
    assert f"{system}-" in cb.error.message  # names the secrets to check
    for value in [*sc.secrets.values(), *wrong.values()]:
        assert value not in cb.error.message
    assert sc.fake.data_requests <= 2  # no retry loop on 401


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_missing_secret_is_a_clear_permanent_error(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, N)
    env.environ.clear()
    cb = env.run(system, sc.step_config())
    assert cb.status == "failed" and cb.error is not None
    assert (cb.error.kind, cb.error.retryable) == ("secret_access", False)
    assert f"{ACCOUNT}--{system}-" in cb.error.message
    assert sc.fake.data_requests == 0
