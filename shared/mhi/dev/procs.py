"""Processes of the dev stack: ephemeral ports, readiness, and stopping exactly what was started.

Every process runs in its own process group (started with `start_new_session`), so stopping a
recorded pid stops its children too; a recorded pid is only signalled while it still runs the
command that was recorded (a recycled pid is left alone). Processes are inspected through
`psutil`, so this works wherever psutil does (Linux, macOS), not only where `/proc` exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

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
    """Send `sig` to the process group led by `pid` (nothing if it is gone)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _process(proc: Proc) -> psutil.Process | None:
    """The live process at the recorded pid, if it still runs the recorded command."""
    try:
        process = psutil.Process(proc.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process if process.cmdline() == proc.argv else None
    except psutil.Error:  # gone, or not ours to inspect: a recycled pid of another user
        return None


def is_running(proc: Proc) -> bool:
    """Whether a recorded process still runs (and its pid was not recycled)."""
    _reap(proc.pid)
    return _process(proc) is not None


def stop_procs(procs: Iterable[Proc], grace: float = 5.0) -> list[str]:
    """Stop recorded processes: SIGTERM to each process group, SIGKILL after `grace` seconds."""
    procs_list = list(procs)
    live = [(p, process) for p in procs_list if (process := _process(p)) is not None]
    for p, _ in live:
        signal_group(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p, process in live:
        if _alive(p.pid, process, deadline):
            signal_group(p.pid, signal.SIGKILL)
    stopped = {p.pid for p, _ in live}
    for p in procs_list:
        _collect(p.pid, p.pid in stopped, grace)
    return [p.name for p, _ in live]


def _collect(pid: int, stopped: bool, grace: float) -> None:
    """Collect the exit status of `pid` if it ended (waiting up to `grace` if we stopped it)."""
    popen = LAUNCHED.get(pid)
    if popen is None:
        _reap(pid)
        return
    if stopped:
        popen.wait(grace)
    if popen.poll() is not None:
        del LAUNCHED[pid]


def _alive(pid: int, process: psutil.Process, deadline: float) -> bool:
    """Wait until `process` ends or `deadline` (monotonic) passes; True if it still runs."""
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.05)
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _reap(pid: int) -> None:
    """Collect the exit status of a child of this process (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
