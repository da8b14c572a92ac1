"""No secret value reaches a log line, an output, a callback, an error or a landed file; an
account reads only its own secrets and writes only under its own prefixes."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.apis.base import Fault
from tests.fakes.apis.scenarios import ACCOUNT, SYSTEMS
from tests.unit.connectors.conftest import Env

OTHER = "hotel-other"


def _all_blob_text(root: Path) -> str:
    out = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            out.append((gzip.decompress(data) if path.name.endswith(".gz") else data).decode())
    return "\n".join(out)


@pytest.mark.parametrize("system", SYSTEMS)
def test_no_secret_value_anywhere(
    system: str,
    env: Env,
    scenario_for: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    sc = scenario_for(system, env, 60)
    sc.fake.faults = [Fault("429", on_request=1), Fault("500", on_request=2)]
    callbacks = [env.run(system, sc.step_config(), run_id="r1")]
    sc.touch(sc.ids()[:2])
    callbacks.append(env.run(system, sc.step_config(), run_id="r2"))
    env.add_secrets(ACCOUNT, {n: v + "-wrong" for n, v in sc.secrets.items()})
    callbacks.append(env.run(system, sc.step_config(), run_id="r3"))
    assert [c.status for c in callbacks] == ["succeeded", "succeeded", "failed"]

    out = capsys.readouterr()
    haystack = "\n".join(
        [
            caplog.text,
            "\n".join(r.getMessage() for r in caplog.records),
            out.out,
            out.err,
            *(c.model_dump_json() for c in callbacks),
            _all_blob_text(env.blobs.root),
        ]
    )
    assert "GET" in caplog.text  # the request lines were captured
    for value in sc.secrets.values():
        assert value not in haystack
        assert value + "-wrong" not in haystack


@pytest.mark.parametrize("system", SYSTEMS)
def test_an_account_reads_only_its_own_secrets(system: str, env: Env, scenario_for: Any) -> None:
    sc = scenario_for(system, env, 10)
    env.environ.clear()
    env.add_secrets(OTHER, sc.secrets)  # valid credentials, but another account's
    cb = env.run(system, sc.step_config())
    assert cb.status == "failed" and cb.error is not None
    assert cb.error.kind == "secret_access" and not cb.error.retryable
    assert sc.fake.data_requests == 0


@pytest.mark.parametrize("system", SYSTEMS)
def test_an_account_writes_only_under_its_own_prefix(
    system: str, env: Env, scenario_for: Any
) -> None:
    sc = scenario_for(system, env, 30)
    assert env.run(system, sc.step_config()).status == "succeeded"
    keys = env.blobs.list("")
    assert keys
    assert all(
        k.startswith((f"raw/{ACCOUNT}/{system}/", f"state/watermarks/{ACCOUNT}/{system}/"))
        for k in keys
    )
    assert {w[0] for w in env.warehouse.writes} == {ACCOUNT}


@pytest.mark.parametrize("system", SYSTEMS)
def test_config_account_must_be_the_flow_account(system: str, env: Env, scenario_for: Any) -> None:
    sc = scenario_for(system, env, 10)
    cb = env.run(system, sc.step_config(_m_account=OTHER))
    assert cb.status == "failed" and cb.error is not None
    assert (cb.error.kind, cb.error.retryable) == ("invalid_config", False)
    assert OTHER in cb.error.message and "only for itself" in cb.error.message
    assert sc.fake.data_requests == 0 and not env.blobs.list("")
