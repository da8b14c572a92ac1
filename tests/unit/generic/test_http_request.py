"""ms-http-request against an imitation API on 127.0.0.1: the URL policy at validation and at
connect time, auth from the account's secrets sent only to the hosts the operator lists, retries,
expected statuses, the output (JSON, a selected part, text, a large body to the artifacts) and
no secret in any output or error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mhi.config import Settings
from mhi.errors import (
    AuthError,
    SecretAccessError,
    StepExecutionError,
    UpstreamUnavailableError,
)
from mhi.generic.request_auth import clear_token_cache
from mhi.generic.request_config import HttpRequestConfig
from mhi.generic.request_step import RequestOptions, make_http_request
from mhi.http import UrlRefusedError
from mhi.services import Services
from mhi.steps.sdk import StepKind
from tests.fakes.qlik_notify.server import FakeServer, Reply, Request
from tests.unit.generic.conftest import NOW
from tests.unit.generic.helpers import FixedClock, call, turn

TOKEN = "bearer-7c1d-secret"
KEY = "key-91ab-secret"


class Api(FakeServer):
    """An API answering JSON, with a client-credentials token endpoint at /token."""

    def route(self, request: Request) -> Reply:
        if request.path == "/token":
            n = len(self.calls(path_prefix="/token"))
            return Reply(200, {"access_token": f"oauth-token-{n}", "expires_in": 3600})
        if request.path == "/big":
            return Reply(200, {"items": [{"n": i, "text": "x" * 50} for i in range(400)]})
        if request.path == "/text":
            return Reply(200, "plain words")
        body = request.json() if request.body else None
        return Reply(200, {"data": {"items": [{"id": 7}, {"id": 8}]}, "echo": body})


class Secrets:
    """The account's secrets, in memory."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, account: str, name: str) -> str:
        if name not in self.values:
            raise SecretAccessError(f"secret {account}--{name} not found")
        return self.values[name]


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api().start()
    yield server
    server.stop()
    clear_token_cache()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def kind(slept: list[float]) -> StepKind[HttpRequestConfig]:
    return make_http_request(RequestOptions(sleep=slept.append))


@pytest.fixture
def secrets() -> Secrets:
    return Secrets({"http-bearer-token": TOKEN, "http-hosts": "127.0.0.1", "http-api-key": KEY})


@pytest.fixture
def services(
    tmp_path: Path, clock: FixedClock, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> Services:
    monkeypatch.setenv("MHI_ALLOW_LOOPBACK_URLS", "1")  # config validation reads the settings
    settings = Settings(home=tmp_path, allow_loopback_urls=True)
    return Services(settings, clock=clock, secrets=secrets)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://api.example.com/v1", "plain http is not allowed"),
        ("https://10.1.2.3/v1", "private address"),
        ("https://169.254.169.254/latest/meta-data", "link-local address"),
        ("https://2852039166/", "link-local address"),
        ("https://metadata.google.internal./computeMetadata", "metadata or internal name"),
        ("https://127.0.0.1/", "loopback address"),
        ("https://user:pw@api.example.com/", "user name or password"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ],
)
def test_bad_urls_are_refused_when_the_flow_is_validated(url: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=f"url\n.*url: .*{reason}"):
        HttpRequestConfig.model_validate({"url": url})


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"headers": {"Host": "evil.example"}}, "'Host' is not a header name"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, "may not hold line breaks"),
        ({"auth": {"type": "bearer"}, "headers": {"Authorization": "x"}}, "leave the credentials"),
        ({"body": {"a": 1}}, "a GET request has no body"),
        ({"auth": {"type": "bearer", "credentials": "avalon"}}, "must be http or http-<name>"),
        ({"auth": {"type": "api_key", "header": "Content-Length"}}, "not a header name"),
        ({"auth": {"type": "kerberos"}}, "'bearer', 'api_key'"),
        ({"expect_status": [99]}, "not HTTP statuses"),
        ({"inline_max_bytes": 10**9}, "less than or equal to"),
    ],
)
def test_bad_configs_say_what_is_wrong(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        HttpRequestConfig.model_validate({"url": "https://api.example.com/v1", **config})


def test_get_returns_the_selected_part_of_the_json(api: Api, kind: Any, services: Services) -> None:
    config = {
        "url": api.url + "/v1/report",
        "query": {"day": "2017-08-01", "hotel": ["City Hotel", "Resort Hotel"], "to": None},
        "headers": {"X-Source": "mhi"},
        "select": "data.items.1",
    }
    out = call(kind, config, services)
    assert out == {
        "method": "GET",
        "url": api.url + "/v1/report",
        "tries": 1,
        "status": 200,
        "content_type": "application/json",
        "bytes": out["bytes"],
        "data": {"id": 8},
    }
    [seen] = api.requests
    assert (seen.query["day"], seen.header("X-Source")) == ("2017-08-01", "mhi")
    assert "to" not in seen.query
    with pytest.raises(StepExecutionError, match=r"select 'data\.nope': data has no 'nope'"):
        call(kind, {**config, "select": "data.nope"}, services)


def test_post_sends_json_with_a_bearer_token_and_a_stable_idempotency_key(
    api: Api, kind: Any, services: Services
) -> None:
    config = {
        "method": "POST",
        "url": api.url + "/v1/reports",
        "body": {"rows": [{"hotel": "City", "revenue": 1.5}]},
        "auth": {"type": "bearer"},
    }
    first = call(kind, config, services)
    call(kind, config, services, attempt=2)
    one, two = api.requests
    assert one.header("Authorization") == f"Bearer {TOKEN}"
    assert one.header("Content-Type") == "application/json"
    assert one.json() == {"rows": [{"hotel": "City", "revenue": 1.5}]}
    assert one.header("Idempotency-Key") == two.header("Idempotency-Key")
    assert first["data"]["echo"] == config["body"]
    assert TOKEN not in json.dumps(first)


def test_api_key_and_basic_auth_come_from_the_named_secrets(
    api: Api, kind: Any, services: Services, secrets: Secrets
) -> None:
    call(kind, {"url": api.url, "auth": {"type": "api_key", "header": "X-Key"}}, services)
    secrets.values |= {
        "http-crm-username": "crm-user",
        "http-crm-password": "crm-pass-secret",
        "http-crm-hosts": "localhost, 127.0.0.1",
    }
    call(kind, {"url": api.url, "auth": {"type": "basic", "credentials": "http-crm"}}, services)
    keyed, basic = api.requests
    assert keyed.header("X-Key") == KEY
    assert basic.header("Authorization") == "Basic Y3JtLXVzZXI6Y3JtLXBhc3Mtc2VjcmV0"


def test_oauth2_fetches_a_token_and_refreshes_it_once_after_a_401(
    api: Api, kind: Any, services: Services, secrets: Secrets
) -> None:
    secrets.values |= {
        "http-client-id": "client-1",
        "http-client-secret": "client-secret-99",
        "http-token-url": api.url + "/token",
    }
    api.queue(401, {"error": "expired"}, path_prefix="/v1")
    config = {"url": api.url + "/v1/x", "auth": {"type": "oauth2_client_credentials", "scope": "r"}}
    out = call(kind, config, services)
    assert out["status"] == 200 and out["tries"] == 1
    token_calls = api.calls("POST", "/token")
    assert len(token_calls) == 2 and token_calls[0].form()["scope"] == ["r"]
    assert token_calls[0].form()["client_secret"] == ["client-secret-99"]
    api_calls = api.calls("GET", "/v1")
    assert [c.header("Authorization") for c in api_calls] == [
        "Bearer oauth-token-1",
        "Bearer oauth-token-2",
    ]


def test_credentials_go_only_to_the_hosts_the_operator_lists(
    api: Api, kind: Any, services: Services, secrets: Secrets
) -> None:
    del secrets.values["http-hosts"]
    with pytest.raises(SecretAccessError, match="set the secret acme--http-hosts"):
        call(kind, {"url": api.url, "auth": {"type": "bearer"}}, services)
    secrets.values["http-hosts"] = "api.example.com"
    with pytest.raises(UrlRefusedError, match=r"host 127\.0\.0\.1 is not one of http's API hosts"):
        call(kind, {"url": api.url, "auth": {"type": "bearer"}}, services)
    assert api.requests == []  # no connection, no token
    assert call(kind, {"url": api.url}, services)["status"] == 200  # no credentials: any host


def test_loopback_is_refused_at_connect_time_unless_the_deployment_allows_it(
    api: Api,
    kind: Any,
    tmp_path: Path,
    clock: FixedClock,
    secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The config passes where it is validated; the deployment that runs the step refuses.
    monkeypatch.setenv("MHI_ALLOW_LOOPBACK_URLS", "1")
    strict = Services(Settings(home=tmp_path), clock=clock, secrets=secrets)
    with pytest.raises(UrlRefusedError, match="loopback"):
        call(kind, {"url": api.url, "auth": {"type": "bearer"}}, strict)
    assert api.requests == []


def test_unexpected_statuses_fail_with_what_the_server_said(
    api: Api, kind: Any, services: Services, slept: list[float]
) -> None:
    api.queue(404, {"message": "no such report"})
    with pytest.raises(StepExecutionError, match=r"answered HTTP 404 \(expected 2xx\): no such"):
        call(kind, {"url": api.url + "/r"}, services)
    api.queue(200, {"ok": True})
    with pytest.raises(StepExecutionError, match=r"HTTP 200 \(expected 201\)"):
        call(kind, {"url": api.url, "expect_status": [201]}, services)
    api.queue(302, None, headers={"Location": "https://elsewhere.example/"})
    with pytest.raises(StepExecutionError, match="redirects are not followed"):
        call(kind, {"url": api.url}, services)
    api.queue(401, {"error": f"bad token {TOKEN}"})
    with pytest.raises(AuthError) as refused:
        call(kind, {"url": api.url, "auth": {"type": "bearer"}}, services)
    assert "check secrets 'http-bearer-token', 'http-hosts'" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert slept == []


def test_transient_failures_are_retried_then_reported_retryable(
    api: Api, kind: Any, services: Services, slept: list[float]
) -> None:
    api.queue(503, {"error": "busy"}, times=2)
    assert call(kind, {"url": api.url, "max_attempts": 3}, services)["tries"] == 3
    assert len(slept) == 2
    api.queue(503, {"error": "busy"}, times=2)
    callback = turn(kind, {"url": api.url, "max_attempts": 2}, services)
    assert callback.error is not None and callback.error.retryable is True
    assert "answered HTTP 503 after 2 tries: busy" in callback.error.message
    api.queue(500, {"error": "boom"})
    post = {"method": "POST", "url": api.url, "body": {"a": 1}}
    with pytest.raises(UpstreamUnavailableError, match="HTTP 500 after 1 try"):
        call(kind, post, services)  # a POST that may have taken effect is not repeated


def test_a_large_answer_goes_to_the_run_artifacts(api: Api, kind: Any, services: Services) -> None:
    out = call(
        kind, {"url": api.url + "/big", "select": "items", "inline_max_bytes": 1000}, services
    )
    key = "artifacts/acme/flow-1/run-1/step-1/response-1.json"
    assert (out["body_file"], out["status"]) == (key, 200)
    assert "data" not in out and out["body_uri"].startswith("file://")
    stored = services.blobs.read_bytes(key)
    assert stored is not None and len(json.loads(stored)) == 400
    text = call(kind, {"url": api.url + "/text"}, services)
    assert text["text"] == "plain words"


def test_the_clock_bounds_the_retry_budget_by_the_deadline(
    api: Api, kind: Any, services: Services, slept: list[float]
) -> None:
    api.queue(503, {"error": "busy"}, headers={"Retry-After": "30"}, times=3)
    deadline = NOW.replace(second=20)  # 20 s left, 5 s kept to report: no 30 s wait fits
    with pytest.raises(UpstreamUnavailableError, match="Retry-After 30s"):
        call(kind, {"url": api.url}, services, deadline=deadline)
    assert slept == []


def test_a_refused_client_secret_names_the_secrets_not_their_values(
    api: Api, kind: Any, services: Services, secrets: Secrets
) -> None:
    secrets.values |= {
        "http-client-id": "client-1",
        "http-client-secret": "client-secret-99",
        "http-token-url": api.url + "/token",
    }
    api.queue(400, {"error": "invalid_client client-secret-99"}, path_prefix="/token")
    config = {"url": api.url + "/v1/x", "auth": {"type": "oauth2_client_credentials"}}
    callback = turn(kind, config, services)
    assert callback.error is not None and callback.error.kind == "auth"
    message = callback.error.message
    assert message.startswith("token endpoint refused the client credentials (invalid_client ***)")
    assert "check 'http-client-id', 'http-client-secret', 'http-token-url'" in message
    assert "client-secret-99" not in message and api.calls(path_prefix="/v1") == []
