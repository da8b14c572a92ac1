"""The OpenAPI 3.1 document of `/api/v1`, served at `/api/v1/openapi.json`."""

from __future__ import annotations

from typing import Any

from mhi.ops.index import MAX_LIMIT, RUN_STATUSES

_JSON = "application/json"
_RUN_PATH = "/api/v1/runs/{account}/{flow_id}/{run_id}"


def _ref(name: str, schema: str) -> dict[str, Any]:
    return {
        "description": name,
        "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_ERRORS = {
    "400": _ref("bad request: `error.field` names the input at fault", "Error"),
    "401": _ref("no acceptable identity", "Error"),
    "404": _ref("no such run or flow", "Error"),
    "409": _ref("the run's state does not allow this", "Error"),
    "415": _ref("a POST without `Content-Type: application/json` (even with no body)", "Error"),
}


def _op(summary: str, ok: dict[str, Any], body: str | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **_ERRORS}, **extra}
    if body is not None:
        op["requestBody"] = {
            "required": False,
            "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return op


def _run_action(summary: str, body: str | None, result: str) -> dict[str, Any]:
    params = [_path("account"), _path("flow_id"), _path("run_id")]
    return {"post": _op(summary, {"200": _ref("done", result)}, body, parameters=params)}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "Actor": {
        "type": "object",
        "properties": {"actor": {"type": "string"}, "via": {"type": "string"}},
    },
    "Run": {
        "type": "object",
        "properties": {
            "account": {"type": "string"},
            "flow_id": {"type": "string"},
            "run_id": {"type": "string"},
            "started_at": {"type": "string", "format": "date-time"},
            "status": {"type": "string", "enum": list(RUN_STATUSES)},
            "generation": {"type": "integer"},
            "finished_at": {"type": ["string", "null"]},
            "error": {"type": ["string", "null"]},
            "requested_by": {"$ref": "#/components/schemas/Actor"},
        },
    },
    "RunPage": {
        "type": "object",
        "properties": {
            "runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}},
            "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor`"},
        },
    },
    "RunDetail": {
        "type": "object",
        "description": (
            "steps, attempts, reruns, audit, logs; a sub-flow's child names its `parent` (run, "
            "step, attempt), a sub-flow step lists its child runs in `sub_flows`"
        ),
    },
    "StartRequest": {
        "type": "object",
        "required": ["flow_id"],
        "properties": {
            "flow_id": {"type": "string"},
            "params": {"type": "object"},
            "run_id": {"type": "string", "description": "idempotency key"},
        },
    },
    "RerunRequest": {
        "type": "object",
        "properties": {
            "from_step": {"type": "string", "description": "re-run this step and downstream"},
            "params": {"type": "object", "description": "edited params"},
            "set": {
                "type": "object",
                "description": "edited config: {step: {config.path: value}}",
                "additionalProperties": {"type": "object"},
            },
            "reason": {"type": "string"},
        },
    },
    "CancelRequest": {"type": "object", "properties": {"reason": {"type": "string"}}},
    "BackfillRequest": {
        "type": "object",
        "required": ["flow_id", "start", "end"],
        "properties": {
            "flow_id": {"type": "string"},
            "start": {"type": "string", "description": "date (first day) or date-time"},
            "end": {"type": "string", "description": "date (last day, included) or date-time"},
            "max_runs": {"type": "integer", "minimum": 1},
            "params": {"type": "object"},
        },
    },
    "Object": {"type": "object"},
}


def document() -> dict[str, Any]:
    """The OpenAPI document."""
    run_params = [_path("account"), _path("flow_id"), _path("run_id")]
    return {
        "openapi": "3.1.0",
        "info": {"title": "MHI Workflow Orchestrator", "version": "1"},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/flows": {"get": _op("List stored flows", {"200": _ref("flows", "Object")})},
            "/api/v1/flows/{flow_id}": {
                "get": _op(
                    "One flow's definition",
                    {"200": _ref("the flow", "Object")},
                    parameters=[_path("flow_id")],
                )
            },
            "/api/v1/runs": {
                "get": _op(
                    "Runs, newest first, one page",
                    {"200": _ref("a page of runs", "RunPage")},
                    parameters=[
                        _query("flow", "flow id", {"type": "string"}),
                        _query("account", "account", {"type": "string"}),
                        _query(
                            "status", "run status", {"type": "string", "enum": list(RUN_STATUSES)}
                        ),
                        _query("since", "30d, 12h, 45m or an ISO date", {"type": "string"}),
                        _query(
                            "limit",
                            "page size",
                            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        ),
                        _query("cursor", "next_cursor of the previous page", {"type": "string"}),
                    ],
                ),
                "post": _op(
                    "Start a stored flow", {"202": _ref("started", "Object")}, "StartRequest"
                ),
            },
            _RUN_PATH: {
                "get": _op(
                    "One run in full", {"200": _ref("the run", "RunDetail")}, parameters=run_params
                )
            },
            _RUN_PATH + "/cancel": _run_action("Cancel a run", "CancelRequest", "Object"),
            _RUN_PATH + "/rerun": _run_action(
                "Re-run from failure, from a step, with edits", "RerunRequest", "Object"
            ),
            _RUN_PATH + "/pause": _run_action("Hold back new dispatches", None, "Object"),
            _RUN_PATH + "/resume": _run_action("Dispatch again", None, "Object"),
            "/api/v1/backfills": {
                "post": _op(
                    "One run per schedule slot",
                    {"202": _ref("the backfill", "Object")},
                    "BackfillRequest",
                )
            },
            "/api/v1/stats": {
                "get": _op(
                    "Runs, success rate, durations per flow and step type",
                    {"200": _ref("figures", "Object")},
                    parameters=[
                        _query("flow", "flow id", {"type": "string"}),
                        _query("since", "30d (default), 12h or an ISO date", {"type": "string"}),
                        _query("max_runs", "runs looked at", {"type": "integer", "minimum": 1}),
                    ],
                )
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
