"""A packaged bundle imports and serves a CloudEvent in a venv built from its own requirements.

Nothing of the development environment leaks in: a fresh venv, `pip install -r` the bundle's
requirements.txt (the machine's package index configuration), functions-framework started from
the bundle folder, so `import mhi` resolves to the bundle's copy.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mhi.packaging import build_bundle, function_specs
from tests.deploy import imports

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundles")
    return {name: build_bundle(name, out) for name in ("controller", "echo")}


@pytest.fixture(scope="module")
def venvs(bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One venv per distinct requirements.txt (the controller and echo share theirs)."""
    made: dict[str, Path] = {}
    out: dict[str, Path] = {}
    for name, folder in bundles.items():
        reqs = (folder / "requirements.txt").read_text()
        if reqs not in made:
            venv = tmp_path_factory.mktemp(f"venv-{name}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            proc = subprocess.run(
                [str(venv / "bin/pip"), "install", "-q", "-r", str(folder / "requirements.txt")],
                capture_output=True,
                text=True,
                timeout=540,
                check=False,
            )
            assert proc.returncode == 0, f"pip install failed:\n{proc.stderr[-3000:]}"
            made[reqs] = venv
        out[name] = made[reqs]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    # A cold import in a fresh venv takes seconds, many more on a loaded machine: wait long.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} after 90 s:\n{log.read_text()}")


@pytest.fixture
def storage_emulator(tmp_path: Path) -> Iterator[str]:
    """gcp-storage-emulator (from the test environment) with an empty `runs` bucket."""
    port = _free_port()
    log = tmp_path / "storage.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gcp-storage-emulator"),
                "start",
                "--host=127.0.0.1",
                f"--port={port}",
                "--default-bucket=runs",
                "--in-memory",
            ],
            cwd=tmp_path,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def serve(
    venvs: dict[str, Path], bundles: dict[str, Path], tmp_path: Path, storage_emulator: str
) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> tuple[str, Path]:
        port = _free_port()
        log = tmp_path / f"{name}.log"
        env = {  # the gcp back end, as deployed, on the storage emulator
            "PATH": f"{venvs[name] / 'bin'}{os.pathsep}/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "MHI_BACKEND": "gcp",
            "_M_PROJECT_ID": "mhi-local",
            "RUNS_BUCKET": "runs",
            "FLOWS_BUCKET": "flows",
            "RAW_BUCKET": "raw",
            "STORAGE_EMULATOR_HOST": storage_emulator,
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{_free_port()}",  # an empty sweep publishes nothing
        }
        with log.open("wb") as f:
            proc = subprocess.Popen(
                [
                    str(venvs[name] / "bin/functions-framework"),
                    "--target=handle",
                    "--signature-type=cloudevent",
                    "--host=127.0.0.1",
                    f"--port={port}",
                ],
                cwd=bundles[name],
                env=env,
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        _wait_listening(port, proc, log)
        return f"http://127.0.0.1:{port}/", log

    yield start
    for proc in procs:
        proc.kill()  # by pid: only the processes this fixture started
        proc.wait(timeout=10)


def _post(url: str, body: dict[str, object], headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def _b64(payload: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def test_controller_bundle_serves_a_pubsub_push(serve) -> None:  # type: ignore[no-untyped-def]
    url, log = serve("controller")
    # Exactly what the trigger's push subscription sends (functions-framework converts it).
    body = {
        "message": {"data": _b64({"kind": "sweep"}), "messageId": "1", "attributes": {}},
        "subscription": "projects/p/subscriptions/ms-flows-controller--mhi-controller",
    }
    status = _post(url, body, {"Content-Type": "application/json"})
    assert status == 200, log.read_text()
    assert "sweep: 0 active run(s) advanced" in log.read_text()


def test_echo_bundle_serves_a_cloudevent(serve) -> None:  # type: ignore[no-untyped-def]
    url, log = serve("echo")
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    step = {
        "run_id": "r1",
        "flow_id": "f",
        "account": "a",
        "step_id": "s",
        "attempt": 1,
        "type": "ms-echo",
        "config": {"x": 1},
        "callback_topic": "ms-flows-callbacks",
        "deadline": past,  # acknowledged without running: no run store or bus is touched
    }
    headers = {
        "Content-Type": "application/json",
        "ce-id": "2",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/ms-echo",
    }
    body = {"message": {"data": _b64(step), "messageId": "2"}, "subscription": "s"}
    assert _post(url, body, headers) == 200, log.read_text()
    assert "arrived past its deadline" in log.read_text()


@pytest.mark.parametrize("name", ["controller", "echo"])
def test_bundle_imports_what_it_loads_lazily(
    name: str, venvs: dict[str, Path], bundles: dict[str, Path]
) -> None:
    assert not (bundles[name] / "mhi" / "dev").exists()  # the dev tooling is not deployed
    spec = function_specs()[name]
    modules = imports.roots_of(spec)
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "import mhi; assert mhi.__file__.startswith(sys.argv[1]), mhi.__file__\n"
    proc = subprocess.run(
        [str(venvs[name] / "bin/python"), "-c", code, str(bundles[name])],
        cwd=bundles[name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
