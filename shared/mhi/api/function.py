"""The `api` Cloud Function: the API app over the run store, starting runs through Pub/Sub.

Built once per instance on the first request (never at import). Cloud Functions IAM lets in
only callers holding `run.invoker` (terraform grants it to the listed groups); the caller's
identity comes from the token the platform verified.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from mhi.runtime.logs import setup_json_logging

_lock = threading.Lock()
_app: Any = None


def app() -> Any:
    """The instance's Flask app (built on first use from the environment)."""
    global _app
    with _lock:
        if _app is None:
            from mhi.api.app import create_app
            from mhi.api.auth import CloudRunAuth, LocalAuth
            from mhi.config import Settings
            from mhi.ops.wiring import build
            from mhi.services import Services

            setup_json_logging()
            services = Services(Settings.from_env())
            pace = float(os.environ.get("MHI_BACKFILL_PACE_SECONDS", "0.2"))
            ops = build(services, pace_seconds=pace)
            # On Cloud Run (K_SERVICE set) the platform verified the caller's token.
            auth = CloudRunAuth() if os.environ.get("K_SERVICE") else LocalAuth.from_env()
            _app = create_app(ops, auth, services.blobs)
        return _app


def handle_request(request: Any) -> Any:
    """Serve one functions-framework (Flask) request with the API app."""
    api = app()
    with api.request_context(request.environ):
        return api.full_dispatch_request()
