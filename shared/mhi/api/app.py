"""The Flask app of the HTTP API: JSON in, JSON out, every error a JSON body naming the field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

from mhi.api.auth import Authenticator
from mhi.api.console import error_page
from mhi.api.console import register as register_console
from mhi.api.openapi import document
from mhi.errors import AuthError, OrchestratorError
from mhi.model.keys import RunRef
from mhi.ops.errors import OpsError
from mhi.ops.index import RunFilter
from mhi.ops.service import OpsService
from mhi.ports import BlobStore

PREFIX = "/api/v1"
RUN = PREFIX + "/runs/<account>/<flow_id>/<run_id>"


def _error(status: int, kind: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": {"kind": kind, "message": message, "field": field}})
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise OpsError("the request body must be a JSON object", "body")
    return data


def _field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is not None and not isinstance(value, kind):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise OpsError(f"{name} must be {want}, not {type(value).__name__}", name)
    return value


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise OpsError(f"{name} must be an integer, not {raw!r}", name) from None


def _since(default: str | None) -> datetime | None:
    from mhi.cli.commands.runs import parse_since

    raw = request.args.get("since", default)
    try:
        return parse_since(raw, datetime.now(UTC))
    except OrchestratorError as e:
        raise OpsError(str(e), "since") from None


def create_app(ops: OpsService, auth: Authenticator, blobs: BlobStore | None = None) -> Flask:
    """The API (and the console) over `ops`; `auth` says who calls (every action records it);
    `blobs`, where runs wrote their charts, lets the console show them."""
    app = Flask("mhi.api")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.errorhandler(OrchestratorError)
    def orchestrator_error(e: OrchestratorError) -> Response:
        if isinstance(e, AuthError):
            return _error(401, "unauthenticated", str(e))
        status = getattr(e, "status", 400 if not e.retryable else 503)
        if request.path.startswith("/ui/"):
            return error_page(status, str(e))
        return _error(status, e.kind, str(e), getattr(e, "field", None))

    def http_error(e: Exception) -> Response:
        code = int(getattr(e, "code", None) or 500)
        return _error(code, "http", str(getattr(e, "description", None) or e))

    for code in (400, 404, 405, 413, 415):
        app.register_error_handler(code, http_error)

    @app.before_request
    def authenticate() -> Response | None:
        request.environ["mhi.actor"] = auth.identify(request)
        # Only a JSON POST acts: a page of another site cannot send one here without CORS
        # consent (which this app never gives), so a browser's session cannot be used against it.
        if request.method == "POST" and request.mimetype != "application/json":
            return _error(415, "http", "send actions as JSON (Content-Type: application/json)")
        return None

    def by() -> dict[str, Any]:
        actor: dict[str, Any] = request.environ["mhi.actor"]
        return actor

    _flow_routes(app, ops)
    _run_routes(app, ops, by)
    _action_routes(app, ops, by)
    _other_routes(app, ops, by)
    register_console(app, ops, blobs)
    return app


def _flow_routes(app: Flask, ops: OpsService) -> None:
    @app.get(PREFIX + "/flows")
    def list_flows() -> Response:
        flows: list[dict[str, Any]] = []
        for flow_id in ops.flow_ids():
            try:
                flow = ops.flow(flow_id)
            except OpsError as e:
                flows.append({"flow_id": flow_id, "error": str(e)})
                continue
            schedule = flow.schedule.model_dump() if flow.schedule else None
            flows.append(
                {
                    "flow_id": flow.flow_id,
                    "account": flow.account,
                    "name": flow.name,
                    "steps": len(flow.steps),
                    "schedule": schedule,
                }
            )
        return jsonify({"flows": flows})

    @app.get(PREFIX + "/flows/<flow_id>")
    def get_flow(flow_id: str) -> Response:
        return jsonify(ops.flow(flow_id).model_dump(mode="json", exclude_none=True))


def _run_routes(app: Flask, ops: OpsService, by: Callable[[], dict[str, Any]]) -> None:
    @app.get(PREFIX + "/runs")
    def list_runs() -> Response:
        args = request.args
        where = RunFilter(args.get("account"), args.get("flow"), args.get("status"), _since(None))
        page = ops.runs(where, limit=_int_arg("limit", 20), cursor=args.get("cursor"))
        return jsonify({"runs": [r.to_json() for r in page.rows], "next_cursor": page.cursor})

    @app.post(PREFIX + "/runs")
    def start_run() -> tuple[Response, int]:
        body = _body()
        flow_id = _field(body, "flow_id", str, None)
        if not flow_id:
            raise OpsError("flow_id is required", "flow_id")
        params = _field(body, "params", dict, {}) or {}
        ref = ops.start(flow_id, params, by(), _field(body, "run_id", str, None))
        return jsonify({"run": _ref(ref)}), 202

    @app.get(RUN)
    def get_run(account: str, flow_id: str, run_id: str) -> Response:
        return jsonify(ops.show(_existing(ops, account, flow_id, run_id)))


def _action_routes(app: Flask, ops: OpsService, by: Callable[[], dict[str, Any]]) -> None:
    @app.post(RUN + "/cancel")
    def cancel(account: str, flow_id: str, run_id: str) -> Response:
        reason = _field(_body(), "reason", str, None) or f"cancelled by {by()['actor']}"
        asked = ops.cancel(_existing(ops, account, flow_id, run_id), by(), reason)
        return jsonify({"cancel_requested": asked})

    @app.post(RUN + "/rerun")
    def rerun(account: str, flow_id: str, run_id: str) -> tuple[Response, int]:
        body = _body()
        edits = _field(body, "set", dict, {}) or {}
        for step, changes in edits.items():
            if not isinstance(changes, dict):
                raise OpsError(f"set.{step} must map config paths to values", f"set.{step}")
        plan = ops.rerun(
            _existing(ops, account, flow_id, run_id),
            by(),
            from_step=_field(body, "from_step", str, None),
            params=_field(body, "params", dict, None),
            config=edits or None,
            reason=_field(body, "reason", str, None),
        )
        return jsonify(plan), 202

    @app.post(RUN + "/pause")
    def pause(account: str, flow_id: str, run_id: str) -> Response:
        return jsonify({"paused": ops.pause(_existing(ops, account, flow_id, run_id), by())})

    @app.post(RUN + "/resume")
    def resume(account: str, flow_id: str, run_id: str) -> Response:
        return jsonify({"resumed": ops.resume(_existing(ops, account, flow_id, run_id), by())})


def _other_routes(app: Flask, ops: OpsService, by: Callable[[], dict[str, Any]]) -> None:
    from mhi.ops.backfill import parse_bound

    @app.post(PREFIX + "/backfills")
    def backfill() -> tuple[Response, int]:
        body = _body()
        flow_id = _field(body, "flow_id", str, None)
        if not flow_id:
            raise OpsError("flow_id is required", "flow_id")
        bounds = {}
        for name in ("start", "end"):
            value = _field(body, name, str, None)
            if not value:
                raise OpsError(f"{name} is required (a date like 2025-01-31)", name)
            bounds[name] = parse_bound(value, name, end=name == "end")
        max_runs = _field(body, "max_runs", int, 100)
        result = ops.backfill(
            flow_id,
            bounds["start"],
            bounds["end"],
            by(),
            params=_field(body, "params", dict, None),
            max_runs=max_runs,
        )
        return jsonify(result.to_json()), 202

    @app.get(PREFIX + "/stats")
    def stats() -> Response:
        figures = ops.stats(
            flow_id=request.args.get("flow"),
            since=_since("30d"),
            max_runs=_int_arg("max_runs", 1000),
        )
        return jsonify(figures)

    @app.get(PREFIX + "/openapi.json")
    def openapi() -> Response:
        return jsonify(document())


def _ref(ref: RunRef) -> dict[str, str]:
    return {"account": ref.account, "flow_id": ref.flow_id, "run_id": ref.run_id}


def _existing(ops: OpsService, account: str, flow_id: str, run_id: str) -> RunRef:
    return ops.find(f"{account}/{flow_id}/{run_id}")
