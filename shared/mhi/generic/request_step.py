"""Step kind `ms-http-request`: one call to an HTTP API through the one guarded client.

The URL passes the URL policy again at connect time (the name resolved once, every address
checked, the connection pinned to the checked address, redirects never followed); retries
follow the client's rules (`mhi.http.retry`: backoff, `Retry-After`, a sleep budget, and no
repeat of a call that may have taken effect unless it is idempotent). The answer becomes the
output: its JSON (or the part `select` names) or its text, written to the run's artifacts
(`artifacts/<account>/<flow>/<run>/<step>/`) when larger than `inline_max_bytes`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mhi.errors import AuthError, StepExecutionError, UpstreamUnavailableError
from mhi.generic.request_auth import Credentials, credentials, token_fetcher
from mhi.generic.request_config import HttpRequestConfig
from mhi.http import Call, Destination, OutboundClient, Outcome, RetryRules, UrlPolicy, redact
from mhi.http.answers import body_excerpt, tries
from mhi.http.client import Response
from mhi.http.policy import Resolver
from mhi.steps.sdk import StepContext, StepKind

MARGIN_SECONDS = 5.0  # keep this much of the turn's deadline for reporting back


@dataclass(frozen=True)
class RequestOptions:
    """Process-level knobs (tests shrink the sleeps and may resolve names themselves)."""

    sleep: Callable[[float], None] = time.sleep
    resolver: Resolver | None = None


def public_label(url: str) -> str:
    """Return `scheme://host[:port]/path` of a URL (no query: it may carry values) for messages."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def select_path(data: Any, path: str) -> Any:
    """Return the part of a JSON value a dotted path names (`data.items.0.id`)."""
    value: Any = data
    seen: list[str] = []
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            where = ".".join(seen) or "the response"
            have = (
                ", ".join(sorted(value)[:20]) if isinstance(value, dict) else type(value).__name__
            )
            raise StepExecutionError(f"select {path!r}: {where} has no {part!r} (it has: {have})")
        seen.append(part)
    return value


def _rules(ctx: StepContext, config: HttpRequestConfig) -> RetryRules:
    left = (ctx.deadline - ctx.services.clock.now()).total_seconds() - MARGIN_SECONDS
    budget = max(0.0, min(config.max_retry_wait_seconds, left))
    return RetryRules(
        max_tries=config.max_attempts, budget_seconds=budget, idempotent=config.is_idempotent()
    )


def _build(ctx: StepContext, config: HttpRequestConfig, creds: Credentials | None) -> Call:
    headers = {"Accept": "application/json, */*;q=0.5", **config.headers}
    body = None
    if config.body is not None:
        body = json.dumps(config.body, separators=(",", ":")).encode()
        headers.setdefault("Content-Type", "application/json")
    if not config.is_idempotent() and not any(h.lower() == "idempotency-key" for h in headers):
        m = ctx.message  # the same key on every try and attempt of this step in this run
        seed = f"{m.account}/{m.flow_id}/{m.run_id}/{m.step_id}"
        headers["Idempotency-Key"] = hashlib.sha256(seed.encode()).hexdigest()[:32]
    if creds is not None:
        headers.update(creds.headers())
    query = {k: v for k, v in config.query.items() if v is not None}  # null: left out
    return Call(config.method, config.url, query, headers, body)


def _check_answer(
    config: HttpRequestConfig, outcome: Outcome, where: str, creds: Credentials | None
) -> Response:
    """Return the answer when its status is expected; raise what went wrong otherwise."""
    r = outcome.response
    hidden = creds.secrets if creds else []
    if r is None:
        raise UpstreamUnavailableError(f"{where}: {outcome.error} after {tries(outcome.tries)}")
    expected = r.status in config.expect_status if config.expect_status else r.status < 300
    if expected:
        return r
    detail = redact(body_excerpt(r, 300), hidden)
    if r.status in (429, 500, 502, 503, 504):
        wait = f", Retry-After {outcome.retry_after:g}s" if outcome.retry_after is not None else ""
        raise UpstreamUnavailableError(
            f"{where} answered HTTP {r.status}{wait} after {tries(outcome.tries)}: {detail}"
        )
    if r.status in (401, 403) and creds is not None:
        raise AuthError(f"{where}: credentials refused (HTTP {r.status}); check {creds.describe()}")
    if 300 <= r.status < 400:
        raise StepExecutionError(f"{where} answered HTTP {r.status}: redirects are not followed")
    wanted = ", ".join(map(str, config.expect_status)) or "2xx"
    raise StepExecutionError(f"{where} answered HTTP {r.status} (expected {wanted}): {detail}")


def _decoded(config: HttpRequestConfig, r: Response, where: str) -> tuple[str, Any]:
    """Return ("data", JSON value) or ("text", str) for the answer (JSON when it says so)."""
    is_json = "json" in r.headers.get("content-type", "").lower()
    if not (is_json or config.select):
        return "text", r.text()
    try:
        data = r.json() if r.body else None
    except ValueError:
        raise StepExecutionError(f"{where} answered malformed JSON") from None
    return "data", select_path(data, config.select) if config.select else data


def _output(ctx: StepContext, config: HttpRequestConfig, r: Response, where: str) -> dict[str, Any]:
    kind, value = _decoded(config, r, where)
    out: dict[str, Any] = {"status": r.status, "content_type": r.headers.get("content-type")}
    encoded = (json.dumps(value) if kind == "data" else value).encode()
    if len(encoded) <= config.inline_max_bytes:
        return {**out, "bytes": len(r.body), kind: value}
    m = ctx.message
    ext = "json" if kind == "data" else "txt"
    key = f"artifacts/{m.account}/{m.flow_id}/{m.run_id}/{m.step_id}/response-{m.attempt}.{ext}"
    content_type = "application/json" if kind == "data" else "text/plain; charset=utf-8"
    uri = ctx.services.blobs.write_bytes(key, encoded, content_type)
    return {
        **out,
        "bytes": len(r.body),
        "body_file": key,
        "body_uri": uri,
        "body_bytes": len(encoded),
    }


def _request(
    ctx: StepContext, config: HttpRequestConfig, options: RequestOptions
) -> dict[str, Any]:
    settings = ctx.services.settings
    where = f"{config.method} {public_label(config.url)}"
    policy = UrlPolicy.from_settings(settings, options.resolver)
    with OutboundClient(policy, options.sleep) as outbound:
        creds = None
        if config.auth is not None:
            fetch = token_fetcher(outbound, config.timeout_seconds)
            creds = credentials(settings, config.auth, ctx.secret, ctx.account, fetch)
        dest = Destination(
            "http request",
            creds.scope if creds else None,
            config.timeout_seconds,
            secrets=tuple(creds.secrets) if creds else (),
        )
        outcome = outbound.send(
            dest,
            lambda: _build(ctx, config, creds),
            _rules(ctx, config),
            refresh=creds.refresh if creds else None,
        )
    response = _check_answer(config, outcome, where, creds)
    ctx.log.info("%s: HTTP %d after %s", where, response.status, tries(outcome.tries))
    out = _output(ctx, config, response, where)
    return {"method": config.method, "url": public_label(config.url), "tries": outcome.tries, **out}


def make_http_request(options: RequestOptions | None = None) -> StepKind[HttpRequestConfig]:
    """Build the `ms-http-request` step kind (tests pass tiny sleeps or their own resolver)."""
    opts = options or RequestOptions()

    def handler(ctx: StepContext, config: HttpRequestConfig) -> dict[str, Any]:
        return _request(ctx, config, opts)

    return StepKind(
        "ms-http-request",
        HttpRequestConfig,
        handler,
        "Call an HTTP API through the guarded client; the response becomes the output",
    )


HTTP_REQUEST: StepKind[HttpRequestConfig] = make_http_request()
