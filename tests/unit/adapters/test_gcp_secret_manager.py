"""SecretManagerStore: resource names, per-process TTL cache, errors, and no value in logs."""

from __future__ import annotations

import logging
from unittest.mock import create_autospec

import pytest
from google.api_core import exceptions as gexc
from google.cloud import secretmanager

from mhi.adapters.gcp.secret_manager import SecretManagerStore, secret_version
from mhi.errors import SecretAccessError, UpstreamUnavailableError

VALUE = "s3cr3t-value-never-logged"


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _client(*results: object) -> secretmanager.SecretManagerServiceClient:
    client = create_autospec(secretmanager.SecretManagerServiceClient, instance=True)
    client.access_secret_version.side_effect = [
        r
        if isinstance(r, Exception)
        else secretmanager.AccessSecretVersionResponse(
            payload=secretmanager.SecretPayload(data=r)  # type: ignore[arg-type]
        )
        for r in results
    ]
    return client


def _store(client: secretmanager.SecretManagerServiceClient, clock: _Clock) -> SecretManagerStore:
    return SecretManagerStore(lambda: client, "proj-1", ttl=60.0, clock=clock)


def test_reads_the_latest_version_under_the_account_prefix_and_caches_it() -> None:
    clock = _Clock()
    client = _client(VALUE.encode(), b"rotated")
    store = _store(client, clock)
    assert store.get("hotel-fergus", "avalon-api-key") == VALUE
    client.access_secret_version.assert_called_once_with(
        name="projects/proj-1/secrets/hotel-fergus--avalon-api-key/versions/latest",
        timeout=10.0,
    )
    clock.t += 59
    assert store.get("hotel-fergus", "avalon-api-key") == VALUE
    assert client.access_secret_version.call_count == 1
    clock.t += 2
    assert store.get("hotel-fergus", "avalon-api-key") == "rotated"


def test_an_account_cannot_name_another_accounts_secret() -> None:
    with pytest.raises(SecretAccessError, match="invalid secret name"):
        secret_version("proj-1", "hotel-a", "../hotel-b--key")
    with pytest.raises(SecretAccessError, match="invalid secret name"):
        secret_version("proj-1", "hotel-a", "projects/x/secrets/hotel-b--key")


@pytest.mark.parametrize(
    ("error", "expected", "text"),
    [
        (gexc.PermissionDenied("denied"), SecretAccessError, "permission denied"),
        (gexc.NotFound("nope"), SecretAccessError, "not found"),
        (gexc.FailedPrecondition("disabled"), SecretAccessError, "disabled"),
        (gexc.ServiceUnavailable("down"), UpstreamUnavailableError, "unavailable"),
    ],
)
def test_errors_are_translated_without_the_value(
    error: Exception, expected: type[Exception], text: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(_client(error), _Clock())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(expected, match=text) as info:
        store.get("hotel-fergus", "mailgun-api-key")
    assert "hotel-fergus--mailgun-api-key" in str(info.value)
    assert VALUE not in caplog.text


def test_values_never_reach_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = _store(_client(VALUE.encode()), _Clock())
    assert store.get("acme", "token") == VALUE
    assert VALUE not in caplog.text
    assert VALUE not in repr(store.__dict__.get("_cache", {}).keys())


def test_the_client_is_created_once_on_first_use() -> None:
    made: list[int] = []
    client = _client(b"a", b"b")

    def factory() -> secretmanager.SecretManagerServiceClient:
        made.append(1)
        return client

    store = SecretManagerStore(factory, "proj-1", ttl=0.0)
    assert made == []
    store.get("acme", "one")
    store.get("acme", "two")
    assert made == [1]
