"""`mhi serve --port P`: the HTTP API (and console) on this machine, against the local store."""

from __future__ import annotations

import argparse

from mhi.cli.common import services_from_env


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi serve`."""
    p = sub.add_parser("serve", help="serve the HTTP API on this machine (prints its URL)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any free)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted: runs started or re-run here execute in this process."""
    from werkzeug.serving import make_server

    from mhi.api.app import create_app
    from mhi.api.auth import LocalAuth
    from mhi.ops.wiring import build
    from mhi.runtime.embedded import EmbeddedRuntime

    services = services_from_env()
    runtime = None
    if services.settings.backend != "gcp":
        runtime = EmbeddedRuntime(services).__enter__()
    try:
        ops = build(services, runtime=runtime)
        app = create_app(ops, LocalAuth.from_env(), services.blobs)
        server = make_server(args.host, args.port, app, threaded=True)
        base = f"http://{args.host}:{server.port}"
        print(f"serving the MHI API on {base}/api/v1 and its console on {base}/ui/runs", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    finally:
        if runtime is not None:
            runtime.__exit__(None, None, None)
    return 0
