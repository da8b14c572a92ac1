"""The framework's parts in isolation: paging styles, retry policy, Retry-After, rate limit,
auth schemes, timestamps, schema tracking, column names."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from mhi.connectors import http as http_mod
from mhi.connectors.auth import ApiKeyHeader, BasicAuth, OAuth2ClientCredentials, SignedQuery
from mhi.connectors.errors import UnexpectedResponseError
from mhi.connectors.paging import CursorToken, NextLink, OffsetLimit, PageNumber, Request, Single
from mhi.connectors.schema import SchemaTracker, WatermarkTracker, column_names
from mhi.connectors.spec import parse_instant
from mhi.errors import AuthError, UpstreamUnavailableError


def _walk(style: Any, bodies: list[Any], size: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """Page through canned bodies; return the records and the params of every request."""
    request: Request | None = style.first("https://x/api", {"f": 1}, size)
    records, asked = [], []
    for body in bodies:
        assert request is not None
        asked.append(dict(request.params))
        page = style.parse(request, body, size)
        records += page.records
        request = page.next
    assert request is None, "the style asked for more pages than the source has"
    return records, asked


def test_page_number_follows_has_more_through_an_empty_page() -> None:
    bodies = [
        {"data": [{"id": 1}, {"id": 2}], "has_more": True},
        {"data": [], "has_more": True},
        {"data": [{"id": 3}], "has_more": False},
    ]
    records, asked = _walk(PageNumber(), bodies, 2)
    assert [r["id"] for r in records] == [1, 2, 3]
    assert [a["page"] for a in asked] == [1, 2, 3] and asked[0] == {
        "f": 1,
        "page_size": 2,
        "page": 1,
    }


def test_page_number_without_envelope_ends_on_a_short_page() -> None:
    style = PageNumber(records_key=None, size_param=None, has_more_key=None)
    records, asked = _walk(style, [[{"id": 1}, {"id": 2}], [{"id": 3}]], 2)
    assert len(records) == 3 and "page_size" not in asked[0]


def test_offset_with_total_reads_past_an_empty_page() -> None:
    style = OffsetLimit(records_key="list", total_key="count")
    bodies = [
        {"count": 6, "list": [{"id": 1}, {"id": 2}]},
        {"count": 6, "list": []},
        {"count": 6, "list": [{"id": 3}, {"id": 4}]},
    ]
    records, asked = _walk(style, bodies, 2)
    assert [a["offset"] for a in asked] == [0, 2, 4] and len(records) == 4


def test_offset_with_a_fixed_step_sends_no_limit() -> None:
    style = OffsetLimit(
        records_key="responses", limit_param=None, fixed_step=100, total_key="total"
    )
    _, asked = _walk(
        style, [{"total": 150, "responses": [{}] * 100}, {"total": 150, "responses": [{}] * 50}], 7
    )
    assert asked == [{"f": 1, "offset": 0}, {"f": 1, "offset": 100}]


def test_next_link_keeps_headers_and_returns_the_delta_cursor() -> None:
    style = NextLink()
    first = Request("https://g/items", {"$expand": "fields"}, {"Prefer": "odata.maxpagesize=2"})
    page = style.parse(
        first, {"value": [{"id": "1"}], "@odata.nextLink": "https://g/items?$skiptoken=2"}, 2
    )
    assert page.next == Request(
        "https://g/items?$skiptoken=2", {}, {"Prefer": "odata.maxpagesize=2"}
    )
    last = style.parse(page.next, {"value": [], "@odata.deltaLink": "https://g/items?token=9"}, 2)
    assert last.next is None and last.cursor == "https://g/items?token=9"


def test_cursor_token_passes_the_token_back() -> None:
    bodies = [
        {"data": [{"id": 1}], "next_cursor": "abc"},
        {"data": [{"id": 2}], "next_cursor": None},
    ]
    records, asked = _walk(CursorToken(), bodies, 1)
    assert asked[1]["cursor"] == "abc" and len(records) == 2


@pytest.mark.parametrize(
    ("style", "body", "message"),
    [
        (PageNumber(), {"items": []}, "expected a list under 'data'"),
        (Single(), {"a": 1}, "expected a JSON array"),
        (Single(), [{"id": 1}, 5], "item 1 of the page is not a JSON object"),
    ],
)
def test_an_unexpected_envelope_is_a_clear_error(style: Any, body: Any, message: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=message):
        style.parse(Request("https://x/a"), body, 10)


def test_the_retry_policy_becomes_the_outbound_clients_rules() -> None:
    rules = http_mod.RetryPolicy(max_attempts=6, base_delay=1.5, max_delay=10.0).rules()
    assert (rules.max_tries, rules.backoff_seconds, rules.max_backoff_seconds) == (6, 1.5, 10.0)
    assert rules.idempotent  # every connector call is a GET
    assert rules.budget_seconds == 50.0  # a longer Retry-After fails retryable, for later
    retry = rules.start()  # urllib3's Retry: 429/5xx retried, Retry-After honoured
    assert retry.status_forcelist == {429, 500, 502, 503, 504}
    assert retry.respect_retry_after_header and retry.backoff_max == 10.0


def test_rate_limiter_spaces_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(http_mod, "monotonic", lambda: clock[0])
    limiter = http_mod.RateLimiter(per_second=4)
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75])
    clock[0] += 5.0
    assert limiter.acquire() == 0.0


def test_auth_schemes_build_the_documented_headers_and_params() -> None:
    assert ApiKeyHeader("key", "k1", "holded-api-key").headers() == {"key": "k1"}
    basic = BasicAuth("u", "p", ("x-username", "x-password")).headers()["Authorization"]
    assert base64.b64decode(basic.removeprefix("Basic ")) == b"u:p"
    signed = SignedQuery("key1", "sec1", ("a", "b"), clock=lambda: 1_700_000_000.9).params()
    assert signed == {"api_key": "key1", "sig": hashlib.sha256(b"key1sec11700000000").hexdigest()}
    assert SignedQuery("key1", "sec1", ("a", "b")).redact("x key1 y sec1") == "x *** y ***"


class _TokenServer:
    """Answers token requests as the connector's client reports them: (status, JSON, problem)."""

    def __init__(self, status: int = 200, expires_in: int = 3600) -> None:
        self.calls, self.status, self.expires_in = 0, status, expires_in

    def post(self, url: str, data: Mapping[str, str], timeout: float) -> tuple[Any, Any, str]:
        self.calls += 1
        if self.status == 200:
            return 200, {"access_token": f"tok-{self.calls}", "expires_in": self.expires_in}, ""
        return self.status, {"error": "invalid_client", "echo": data["client_secret"]}, ""


def test_oauth_token_is_cached_renewed_before_expiry_and_refreshed_on_demand() -> None:
    server, now = _TokenServer(expires_in=3600), [1000.0]

    def make() -> OAuth2ClientCredentials:
        return OAuth2ClientCredentials(
            "https://login/t/token",
            "cid-0001",
            "csecret-1",
            "s/.default",
            ("c-id", "c-secret"),
            clock=lambda: now[0],
            post=server.post,
        )

    assert make().headers() == {"Authorization": "Bearer tok-1"}
    assert make().headers() == {"Authorization": "Bearer tok-1"} and server.calls == 1  # cached
    now[0] += 3600 - 299  # inside the 5-minute renewal margin
    assert make().headers() == {"Authorization": "Bearer tok-2"}
    scheme = make()
    assert scheme.refresh() and scheme.headers() == {"Authorization": "Bearer tok-3"}
    assert scheme.redact("tok-3 csecret-1 cid-0001") == "*** *** ***"


def test_oauth_rejection_is_an_auth_error_without_the_secret() -> None:
    scheme = OAuth2ClientCredentials(
        "https://login/t/token",
        "cid",
        "csecret-1",
        None,
        ("c-id", "c-secret"),
        post=_TokenServer(status=401).post,
    )
    with pytest.raises(AuthError) as e:
        scheme.headers()
    assert "invalid_client" in str(e.value) and "'c-secret'" in str(e.value)
    assert "csecret-1" not in str(e.value)


def test_oauth_token_endpoint_outage_is_retryable() -> None:
    scheme = OAuth2ClientCredentials(
        "https://login/t/token", "cid", "cs", None, post=_TokenServer(status=503).post
    )
    with pytest.raises(UpstreamUnavailableError, match="HTTP 503"):
        scheme.headers()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-02T09:14:55.473Z", datetime(2025, 3, 2, 9, 14, 55, 473000, tzinfo=UTC)),
        ("2025-03-02T10:00:00+01:00", datetime(2025, 3, 2, 9, 0, tzinfo=UTC)),
        ("2025-03-02", datetime(2025, 3, 2, tzinfo=UTC)),
        (1737114362837, datetime(2025, 1, 17, 11, 46, 2, 837000, tzinfo=UTC)),
        (1737114362, datetime(2025, 1, 17, 11, 46, 2, tzinfo=UTC)),
        ("yesterday", None),
        (True, None),
        ({"a": 1}, None),
    ],
)
def test_timestamps_are_read_in_every_common_form(value: Any, expected: datetime | None) -> None:
    assert parse_instant(value) == expected


def test_schema_tracker_counts_missing_fields_and_reports_drift() -> None:
    tracker = SchemaTracker(("id",), ("id", "date"))
    for record in [{"id": 1, "date": "d", "a": 1}, {"id": None, "date": "d"}, {"id": 3, "b": 2}]:
        tracker.observe(record)
    assert list(tracker.fields) == ["id", "date", "a", "b"]
    assert dict(tracker.missing) == {"id": 1, "date": 1} and tracker.rejected == 1
    assert tracker.changes(["id", "date", "a", "gone"]) == {
        "new_fields": ["b"],
        "vanished_fields": ["gone"],
    }
    assert tracker.changes(None) == {"new_fields": [], "vanished_fields": []}
    assert len(tracker.schema_hash()) == 16


def test_watermark_tracker_keeps_the_range_and_counts_unreadable_values() -> None:
    marks = WatermarkTracker("updated_at")
    for value in ["2025-03-02T00:00:00Z", 1740700800000, "garbage", None]:
        marks.observe({"updated_at": value})
    assert marks.low == datetime(2025, 2, 28, tzinfo=UTC)
    assert marks.high == datetime(2025, 3, 2, tzinfo=UTC) and marks.unreadable == 1


def test_column_names_follow_warehouse_rules() -> None:
    names = column_names(["@odata.etag", "id", "_id", "2fa", "a-b", "a_b", "_run_id"])
    assert names == {
        "@odata.etag": "odata_etag",
        "id": "id",
        "_id": "id_2",
        "2fa": "f_2fa",
        "a-b": "a_b",
        "a_b": "a_b_2",
        "_run_id": "run_id",
    }


def test_credential_query_values_are_redacted_in_library_log_lines() -> None:
    import logging

    from mhi.http.redact import RedactingFilter

    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        "",
        0,
        '%s "%s %s"',
        ("http://h", "GET", "/v1/x?pid=1&api_key=K&sig=S"),
        None,
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == 'http://h "GET /v1/x?pid=1&api_key=***&sig=***"'
