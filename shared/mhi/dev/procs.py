"""Processes of the dev stack: ephemeral ports, readiness, and stopping exactly what was started.

Every process runs in its own process group (started with `start_new_session`), so stopping a
recorded pid stops its children too; a recorded pid is only signalled while it still runs the
command that was recorded (a recycled pid is left alone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Processes this interpreter launched, by pid: `stop_procs` collects their exit status (the
# processes of a stack started by `mhi dev up` outlive that command and are stopped by pid).
LAUNCHED: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float, what: str) -> None:
    """Block until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g}s")


@dataclass
class Proc:
    """One process the stack started."""

    name: str
    pid: int
    port: int
    log: str
    argv: list[str] = field(default_factory=list)


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _is_ours(proc: Proc) -> bool:
    """The pid still runs the command we started (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return [c.decode(errors="replace") for c in cmdline if c] == proc.argv


def is_running(proc: Proc) -> bool:
    """Whether a recorded process still runs (and its pid was not recycled)."""
    return _is_ours(proc) and _alive(proc.pid)


def stop_procs(procs: Any, grace: float = 5.0) -> list[str]:
    """Stop recorded processes: SIGTERM to each process group, SIGKILL after `grace` seconds."""
    procs_list = list(procs)
    live = [p for p in procs_list if _is_ours(p)]
    for p in live:
        signal_group(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in live:
        while _alive(p.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(p.pid):
            signal_group(p.pid, signal.SIGKILL)
    for p in procs_list:
        popen = LAUNCHED.pop(p.pid, None)
        if popen is not None:
            popen.wait(grace)
        else:
            _reap(p.pid)
    return [p.name for p in live]


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.lower()
    except OSError:
        pass
    return ""


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
