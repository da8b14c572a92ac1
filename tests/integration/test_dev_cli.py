"""`mhi dev up|status|env|down` start and stop exactly their own processes."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from mhi.cli.main import main
from mhi.dev import stack as devstack

pytestmark = pytest.mark.integration


def test_up_records_every_process_and_down_stops_them_by_pid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "dev"
    try:
        assert main(["dev", "--home", str(home), "up", "--only", "controller,echo"]) == 0
        out = capsys.readouterr().out
        state = devstack.StackState.load(home)
        assert state is not None
        assert set(state.procs) == {"pubsub", "storage", "controller", "echo"}
        assert f"export PUBSUB_EMULATOR_HOST={state.pubsub_host}" in out
        assert f"export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE={state.storage_host}/" in out
        assert all(devstack.is_running(p) for p in state.procs.values())
        assert main(["dev", "--home", str(home), "status"]) == 0
        assert main(["dev", "--home", str(home), "up"]) == 2  # one stack per home
        assert "already recorded" in capsys.readouterr().err
    finally:
        assert main(["dev", "--home", str(home), "down"]) == 0
    assert "stopped: pubsub, storage, controller, echo" in capsys.readouterr().out
    for proc in state.procs.values():
        assert not devstack.is_running(proc)
        assert not psutil.pid_exists(proc.pid) or _zombie(proc.pid)
    assert devstack.StackState.load(home) is None
    assert main(["dev", "--home", str(home), "down"]) == 0
    assert "no stack running" in capsys.readouterr().out


def test_unknown_functions_are_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "--home", str(tmp_path), "up", "--only", "controler"]) == 2
    assert "unknown function(s) ['controler']" in capsys.readouterr().err
    assert devstack.StackState.load(tmp_path) is None


def _zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
