"""Every flow in flows/ parses, is acyclic, names known step types and valid step configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mhi.cli.commands.validate import check_file
from mhi.model.validate import parse_flow
from tests.conftest import ROOT

FLOWS = sorted((ROOT / "flows").glob("*.json"))


def test_there_are_flows() -> None:
    assert {p.name for p in FLOWS} >= {"daily-avalon-extract.json", "demo-hotel-kpis.json"}


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.name)
def test_flow_is_valid(path: Path) -> None:
    assert check_file(str(path)) == []
    flow = parse_flow(json.loads(path.read_text()))
    assert path.stem == flow.flow_id, "a flow file is named after its flow_id"


def test_seed_flow_is_the_briefs_example_unchanged() -> None:
    seed = ROOT.parent / "shared" / "seed" / "daily-avalon-extract.json"
    if not seed.exists():
        pytest.skip("../shared/seed is not beside this checkout")
    assert json.loads((ROOT / "flows" / "daily-avalon-extract.json").read_text()) == json.loads(
        seed.read_text()
    )
