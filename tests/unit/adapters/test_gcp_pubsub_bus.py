"""PubSubBus: the publish call's shape, awaited futures, timeouts and failures; topic naming."""

from __future__ import annotations

import concurrent.futures
from unittest.mock import create_autospec

import pytest
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from mhi.adapters.gcp.pubsub_bus import PubSubBus, topic_id, topic_path
from mhi.errors import UpstreamUnavailableError


def _publisher(future: concurrent.futures.Future[str]) -> pubsub_v1.PublisherClient:
    publisher = create_autospec(pubsub_v1.PublisherClient, instance=True)
    publisher.publish.return_value = future
    return publisher


def _done(value: str | BaseException) -> concurrent.futures.Future[str]:
    future: concurrent.futures.Future[str] = concurrent.futures.Future()
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


@pytest.mark.parametrize(
    ("name", "env", "expected"),
    [
        ("ms-kpi-engine", None, "ms-kpi-engine"),
        ("ms-kpi-engine", "", "ms-kpi-engine"),
        ("ms-flows-controller", "dev", "ms-flows-controller-dev"),
        ("ms-extractor-avalon", "prd2", "ms-extractor-avalon-prd2"),
    ],
)
def test_topic_id_is_the_step_type_suffixed_with_the_env(
    name: str, env: str | None, expected: str
) -> None:
    assert topic_id(name, env) == expected
    assert topic_path("proj-1", name, env) == f"projects/proj-1/topics/{expected}"


@pytest.mark.parametrize(
    ("name", "env", "error"),
    [
        ("ms-echo", "Dev", "lowercase"),
        ("ms-echo", "a-b", "lowercase"),
        ("9lives", None, "not a valid Pub/Sub topic id"),
        ("goog-topic", None, "not a valid Pub/Sub topic id"),
        ("a", None, "not a valid Pub/Sub topic id"),
    ],
)
def test_invalid_topic_names_are_refused(name: str, env: str | None, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        topic_id(name, env)


def test_publish_sends_json_bytes_and_attributes_to_the_env_topic() -> None:
    publisher = _publisher(_done("42"))
    bus = PubSubBus(publisher, "proj-1", "dev")
    bus.publish("ms-echo", b'{"a":1}', {"run_id": "r1", "step_id": "s", "attempt": "2"})
    publisher.publish.assert_called_once_with(
        "projects/proj-1/topics/ms-echo-dev", b'{"a":1}', run_id="r1", step_id="s", attempt="2"
    )


def test_a_publish_never_confirmed_raises_retryable_after_the_timeout() -> None:
    pending: concurrent.futures.Future[str] = concurrent.futures.Future()
    bus = PubSubBus(_publisher(pending), "proj-1", timeout=0.05)
    with pytest.raises(UpstreamUnavailableError, match=r"not confirmed within 0\.05s") as info:
        bus.publish("ms-flows-callbacks", b"{}", {})
    assert info.value.retryable


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (gexc.ServiceUnavailable("down"), "ServiceUnavailable"),
        (gexc.NotFound("Topic not found"), "does the topic exist"),
        (gexc.PermissionDenied("no"), "PermissionDenied"),
    ],
)
def test_a_failed_publish_is_never_silent(error: Exception, text: str) -> None:
    bus = PubSubBus(_publisher(_done(error)), "proj-1")
    with pytest.raises(UpstreamUnavailableError, match=text):
        bus.publish("ms-kpi-engine", b"{}", {"run_id": "r"})
