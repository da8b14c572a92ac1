"""The dev stack's process records: a pid is only ever signalled while it runs what we started."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mhi.dev.procs import LAUNCHED, Proc, free_port, is_running, stop_procs, wait_port

# A child that stays until stopped (bounded: it ends by itself after two minutes).
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def sleeper() -> Iterator[Proc]:
    popen = subprocess.Popen(SLEEPER, start_new_session=True)
    LAUNCHED[popen.pid] = popen
    proc = Proc("sleeper", popen.pid, 0, "", list(SLEEPER))
    yield proc
    if popen.poll() is None:  # the test failed before stopping it
        popen.kill()
        popen.wait(10)
    LAUNCHED.pop(popen.pid, None)


def test_a_recorded_process_runs_until_stopped_then_is_reaped(sleeper: Proc) -> None:
    assert is_running(sleeper)
    assert stop_procs([sleeper], grace=10.0) == ["sleeper"]
    assert not is_running(sleeper)
    assert sleeper.pid not in LAUNCHED  # its exit status was collected: no zombie left


def test_a_pid_running_another_command_is_left_alone(sleeper: Proc) -> None:
    recycled = Proc("other", sleeper.pid, 0, "", [sys.executable, "-m", "something_else"])
    assert not is_running(recycled)
    assert stop_procs([recycled], grace=1.0) == []
    assert is_running(sleeper)  # untouched


def test_a_pid_that_is_gone_is_not_running() -> None:
    popen = subprocess.Popen([sys.executable, "-c", "pass"])
    popen.wait(30)
    assert not is_running(Proc("gone", popen.pid, 0, "", [sys.executable, "-c", "pass"]))
    assert stop_procs([Proc("gone", popen.pid, 0, "", [])]) == []


def test_wait_port_names_what_did_not_start() -> None:
    popen = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    popen.wait(30)
    with pytest.raises(RuntimeError, match="emulator exited with code 3 while starting"):
        wait_port(free_port(), popen, 30.0, "emulator")


def test_missing_prerequisites_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mhi.dev import stack

    monkeypatch.setattr(stack, "_DEFAULT_SDK_ROOT", tmp_path / "no-sdk")
    monkeypatch.setenv("PATH", str(tmp_path))  # neither gcloud nor java
    with pytest.raises(RuntimeError, match="gcloud components install pubsub-emulator"):
        stack.check_prerequisites()
    jar = tmp_path / "sdk" / stack._JAR_PATTERN.replace("*", "1.0")
    jar.parent.mkdir(parents=True)
    jar.touch()
    monkeypatch.setattr(stack, "_DEFAULT_SDK_ROOT", tmp_path / "sdk")
    with pytest.raises(RuntimeError, match="needs Java: no `java` on the PATH"):
        stack.check_prerequisites()
    (tmp_path / "java").write_text("#!/bin/sh\n")
    (tmp_path / "java").chmod(0o755)
    assert stack.check_prerequisites() == jar
