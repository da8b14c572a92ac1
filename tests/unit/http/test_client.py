"""The outbound client against a scripted server on 127.0.0.1: retries (urllib3's Retry plus a
sleep budget), one refresh on 401, malformed JSON, requests that must not repeat, redirects,
`%20` queries, redaction, host scopes, and connections pinned to the address that was checked."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from mhi.http import (
    Call,
    Destination,
    HostScope,
    OutboundClient,
    RetryRules,
    UrlPolicy,
    UrlRefusedError,
    encode_query,
)
from tests.fakes.qlik_notify.server import FakeServer, Reply, Request

LOOPBACK = UrlPolicy(allow_loopback=True)


class JsonServer(FakeServer):
    """Answers every request with `{"ok": n}` unless a reply is queued."""

    def route(self, request: Request) -> Reply:
        return Reply(200, {"ok": len(self.requests)})


@pytest.fixture
def server() -> Iterator[JsonServer]:
    fake = JsonServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(slept: list[float]) -> Iterator[OutboundClient]:
    with OutboundClient(LOOPBACK, sleep=slept.append) as outbound:
        yield outbound


def _get(url: str) -> Call:
    return Call("GET", url)


def test_retry_after_is_honoured(server: JsonServer, client: OutboundClient, slept: list) -> None:
    server.queue(503, {"error": "busy"}, headers={"Retry-After": "2"})
    server.queue(429, {"error": "slow"}, headers={"Retry-After": "3"})
    out = client.send(Destination("t"), lambda: _get(server.url + "/a"), RetryRules())
    assert out.response is not None and out.response.json() == {"ok": 3}
    assert (out.tries, slept, out.waited) == (3, [2.0, 3.0], 5.0)


def test_a_wait_beyond_the_budget_ends_the_call(
    server: JsonServer, client: OutboundClient, slept: list
) -> None:
    server.queue(429, {"error": "slow"}, headers={"Retry-After": "120"})
    out = client.send(Destination("t"), lambda: _get(server.url), RetryRules(budget_seconds=60))
    assert out.response is not None and out.response.status == 429
    assert (out.tries, out.retry_after, slept) == (1, 120.0, [])


def test_backoff_without_retry_after_grows_and_stops_after_max_tries(
    server: JsonServer, client: OutboundClient, slept: list
) -> None:
    server.queue(500, {"error": "boom"}, times=9)
    rules = RetryRules(max_tries=4, backoff_seconds=1.0, max_backoff_seconds=3.0)
    out = client.send(Destination("t"), lambda: _get(server.url), rules)
    assert out.response is not None and out.response.status == 500 and out.tries == 4
    assert len(slept) == 3 and slept[0] == 0.5 and all(s <= 3.0 for s in slept)
    assert slept[1] >= 2.0  # urllib3: backoff_factor * 2 ** (n - 1), jittered, capped


def test_malformed_json_is_retried_and_reported(server: JsonServer, client: OutboundClient) -> None:
    server.queue(200, b'{"data": [1', headers={"Content-Type": "application/json"})
    out = client.send(Destination("t"), lambda: _get(server.url), RetryRules(), expect_json=True)
    assert (out.tries, out.error, out.data) == (2, None, {"ok": 2})
    server.queue(200, b'{"x', headers={"Content-Type": "application/json"}, times=5)
    out = client.send(
        Destination("t"), lambda: _get(server.url), RetryRules(max_tries=2), expect_json=True
    )
    assert out.tries == 2 and out.error is not None and out.error.startswith("malformed JSON")


def test_one_refresh_after_a_401_with_fresh_credentials(
    server: JsonServer, client: OutboundClient
) -> None:
    tokens = iter(["tok-1", "tok-2", "tok-3"])
    current = [next(tokens)]

    def refresh() -> bool:
        current[0] = next(tokens)
        return True

    def build() -> Call:
        return Call("GET", server.url, headers={"Authorization": f"Bearer {current[0]}"})

    server.queue(401, {"error": "expired"})
    out = client.send(Destination("t"), build, RetryRules(), refresh=refresh)
    assert out.response is not None and out.response.status == 200 and out.refreshed
    assert [r.header("Authorization") for r in server.requests] == ["Bearer tok-1", "Bearer tok-2"]
    server.queue(401, {"error": "no"}, times=3)
    again = client.send(Destination("t"), build, RetryRules(), refresh=refresh)
    assert again.response is not None and again.response.status == 401  # one refresh, no loop
    assert len(server.requests) == 4


def test_a_request_that_may_have_taken_effect_is_not_repeated(
    server: JsonServer, client: OutboundClient
) -> None:
    once = RetryRules(idempotent=False)
    server.queue(500, {"error": "boom"})
    out = client.send(Destination("t"), lambda: Call("POST", server.url, body=b"{}"), once)
    assert (out.tries, out.response.status if out.response else None) == (1, 500)
    server.queue(503, {"error": "not processed"}, headers={"Retry-After": "1"})
    out = client.send(Destination("t"), lambda: Call("POST", server.url, body=b"{}"), once)
    assert out.tries == 2 and out.response is not None and out.response.status == 200
    server.queue(200, {"late": True}, delay=0.5)
    slow = Destination("t", timeout=0.2)
    out = client.send(slow, lambda: Call("POST", server.url, body=b"{}"), once)
    assert out.tries == 1 and out.error == "no answer within 0.2s"


def test_a_connection_that_never_opened_is_retried_even_for_a_post(
    client: OutboundClient,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed at once: connections are refused
    rules = RetryRules(max_tries=3, idempotent=False)
    out = client.send(Destination("t"), lambda: Call("POST", f"http://127.0.0.1:{port}/"), rules)
    assert out.response is None and out.tries == 3
    assert out.error == "connection failed (refused or unreachable)"


def test_redirects_are_never_followed(server: JsonServer, client: OutboundClient) -> None:
    server.queue(302, "moved", headers={"Location": "http://169.254.169.254/latest/"})
    out = client.send(Destination("t"), lambda: _get(server.url), RetryRules())
    assert out.response is not None and out.response.status == 302 and len(server.requests) == 1


def test_queries_encode_spaces_as_percent_20(server: JsonServer, client: OutboundClient) -> None:
    params = {"$filter": "lastModifiedDateTime gt 2025-03-01T00:00:00Z", "x": True, "k": [1, 2]}
    assert "+" not in encode_query(params)
    client.send(Destination("t"), lambda: Call("GET", server.url + "/v?a=b", params), RetryRules())
    (request,) = server.requests
    assert request.query["$filter"] == params["$filter"] and request.query["x"] == "true"


def test_secrets_never_reach_library_log_lines(
    server: JsonServer, client: OutboundClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dest = Destination("t", secrets=("hook-path-SECRET-42",))
    params = {"api_key": "key-SECRET-1", "sig": "sig-SECRET-2", "pid": "7"}
    url = server.url + "/hook-path-SECRET-42"
    client.send(dest, lambda: Call("GET", url, params), RetryRules())
    assert "SECRET" not in caplog.text and "pid=7" in caplog.text and "api_key=***" in caplog.text


def test_a_host_outside_the_scope_is_never_contacted(
    server: JsonServer, client: OutboundClient
) -> None:
    scope = HostScope.of("holded", ["api.holded.com"])
    with pytest.raises(UrlRefusedError, match="not one of holded's API hosts"):
        client.send(Destination("holded", scope), lambda: _get(server.url), RetryRules())
    assert server.requests == []


def test_oversized_answers_are_cut_off(server: JsonServer, slept: list) -> None:
    server.queue(200, {"data": "x" * 5000}, times=5)
    with OutboundClient(LOOPBACK, sleep=slept.append, max_body_bytes=1000) as small:
        out = small.send(Destination("t"), lambda: _get(server.url), RetryRules(max_tries=1))
    assert out.response is None and out.error is not None and "larger than" in out.error


class TlsListener:
    """Accepts connections on 127.0.0.1 and keeps the first bytes of each (a TLS ClientHello,
    whose server name extension is plain text)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hellos: list[bytes] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self.hellos.append(conn.recv(4096))
                except OSError:
                    self.hellos.append(b"")

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)
        self.sock.close()


def test_the_connection_goes_to_the_checked_address_with_the_name_for_tls() -> None:
    listener = TlsListener()
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if len(asked) == 1 else ["93.184.216.34"]  # a rebinding resolver

    url = f"https://api.holded.com:{listener.port}/api/invoicing/v1/contacts"
    try:
        with OutboundClient(UrlPolicy(allow_loopback=True, resolver=resolve)) as client:
            for _ in range(2):
                out = client.send(Destination("holded"), lambda: _get(url), RetryRules())
                assert out.response is None and out.error is not None  # the listener has no TLS
    finally:
        listener.close()
    assert asked == ["api.holded.com"]  # resolved once, never again
    assert len(listener.hellos) == 2 and all(b"api.holded.com" in h for h in listener.hellos)


def test_a_resolver_that_fails_for_now_is_retried_like_a_refused_connection(
    server: JsonServer, slept: list
) -> None:
    from mhi.http.policy import LookupUnavailableError

    answers: list[list[str] | None] = [None, ["127.0.0.1"]]

    def flaky(host: str, port: int) -> list[str]:
        answer = answers.pop(0)
        if answer is None:
            raise LookupUnavailableError(f"name lookup of {host} failed for now")
        return answer

    url = server.url.replace("127.0.0.1", "api.example.com")
    policy = UrlPolicy(allow_loopback=True, resolver=flaky)
    with OutboundClient(policy, sleep=slept.append) as client:
        with pytest.raises(UrlRefusedError, match="plain http"):  # a name needs https
            client.send(Destination("t"), lambda: _get(url), RetryRules())
        https = url.replace("http://", "https://")
        out = client.send(
            Destination("t"), lambda: Call("POST", https), RetryRules(idempotent=False)
        )
    assert out.tries == 2 and answers == []  # the lookup failed, then resolved: one retry
    assert out.error is not None  # the server speaks no TLS: that try failed for real
