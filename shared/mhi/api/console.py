"""The run console: HTML pages under `/ui` on the API's app (same authentication: every request
passes the app's `before_request`), its CSS and script shipped in `mhi/api/static/`. Pages only
read; every action is a POST of the page's script to the JSON API, which audits it."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files

from flask import Flask, Response, redirect, request

from mhi.api.console_analytics import CHART_TYPES, chart_key
from mhi.api.console_html import UI
from mhi.api.console_pages import flow_page, flows_page, runs_page
from mhi.api.console_run import run_page
from mhi.errors import OrchestratorError
from mhi.ops.errors import NotFound, OpsError
from mhi.ops.service import OpsService
from mhi.ports import BlobStore

STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
_HTML = "text/html; charset=utf-8"
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Content-Type"] = _HTML
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _since() -> datetime | None:
    from mhi.cli.commands.runs import parse_since

    raw = request.args.get("since") or None
    try:
        return parse_since(raw, datetime.now(UTC))
    except OrchestratorError as err:
        raise OpsError(str(err), "since") from None


def register(app: Flask, ops: OpsService, blobs: BlobStore | None = None) -> None:
    """Add the console's pages and assets to the API app (`blobs`: where runs wrote charts)."""
    _pages(app, ops)
    _assets(app, blobs)


def _pages(app: Flask, ops: OpsService) -> None:

    @app.get("/")
    def home() -> Response:
        return redirect(UI + "/runs")  # type: ignore[return-value]

    @app.get(UI + "/runs")
    def ui_runs() -> Response:
        limit = request.args.get("limit") or "50"
        if not limit.isdigit():
            raise OpsError(f"limit must be an integer, not {limit!r}", "limit")
        return _html(runs_page(ops, request.args, _since()))

    @app.get(UI + "/runs/<account>/<flow_id>/<run_id>")
    def ui_run(account: str, flow_id: str, run_id: str) -> Response:
        return _html(run_page(ops, account, flow_id, run_id, request.args))

    @app.get(UI + "/flows")
    def ui_flows() -> Response:
        return _html(flows_page(ops))

    @app.get(UI + "/flows/<flow_id>")
    def ui_flow(flow_id: str) -> Response:
        return _html(flow_page(ops, flow_id))


def _assets(app: Flask, blobs: BlobStore | None) -> None:
    @app.get(UI + "/charts/<account>/<flow_id>/<run_id>/<path:rest>")
    def ui_chart(account: str, flow_id: str, run_id: str, rest: str) -> Response:
        key = chart_key(account, flow_id, run_id, rest)
        data = blobs.read_bytes(key) if key is not None and blobs is not None else None
        if key is None or data is None:
            raise NotFound(f"no chart {rest!r} of run {run_id!r}", "path")
        response = Response(data, mimetype=CHART_TYPES[key[key.rfind(".") :]])
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get(UI + "/static/<name>")
    def ui_static(name: str) -> Response:
        if name not in STATIC:
            raise NotFound(f"no console asset {name!r}", "name")
        data = files("mhi.api").joinpath("static", name).read_bytes()
        response = Response(data, mimetype=STATIC[name])
        response.headers["Cache-Control"] = "no-cache"
        return response


def error_page(status: int, message: str) -> Response:
    """A page's error (bad filter, unknown run or flow) as HTML naming the problem."""
    from mhi.api.console_html import e, page

    body = f'<p class="error">{e(message)}</p><p><a href="{UI}/runs">Back to the runs</a></p>'
    return _html(page(f"Error {status}", body), status)
