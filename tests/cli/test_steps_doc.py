"""`mhi steps TYPE` documents every config option: type, required or default, description."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from mhi.catalog import CATALOG, config_model
from mhi.cli.config_doc import OptionDoc, describe_config
from mhi.cli.main import main

# Connector config models belong to the connectors; every other step type documents each option.
OWN_TYPES = [s.type for s in CATALOG if not s.type.startswith("ms-extractor-")]


class _Leaf(BaseModel):
    """A sub-object."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="where")
    port: int = Field(default=443, ge=1, le=65535, description="which port")


class _Sample(BaseModel):
    """A model with every shape the renderer knows."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=20, description="a name")
    mode: Literal["fast", "slow"] = Field(default="fast", description="how")
    tags: list[str] = Field(default_factory=lambda: ["a"], max_length=5, description="labels")
    leaf: _Leaf | None = Field(default=None, description="optional sub-object")
    leaves: list[_Leaf] = Field(default_factory=list, description="list of sub-objects")
    by_name: dict[str, _Leaf] = Field(default_factory=dict, description="map of sub-objects")
    ratio: float = Field(default=0.5, gt=0, le=1, description="a share")
    undocumented: bool = False


def _by_name(docs: list[OptionDoc]) -> dict[str, OptionDoc]:
    return {d.name: d for d in docs}


def test_describe_config_walks_nested_models_enums_bounds_and_defaults() -> None:
    docs = _by_name(describe_config(_Sample))
    assert list(docs) == [
        "name",
        "mode",
        "tags",
        "leaf",
        "leaf.host",
        "leaf.port",
        "leaves",
        "leaves[].host",
        "leaves[].port",
        "by_name",
        "by_name.<key>.host",
        "by_name.<key>.port",
        "ratio",
        "undocumented",
    ]
    name, mode, tags = docs["name"], docs["mode"], docs["tags"]
    assert (name.type, name.required, name.default) == ("string (1..20 chars)", True, None)
    assert (mode.type, mode.default, mode.description) == ('"fast" | "slow"', '"fast"', "how")
    assert (tags.type, tags.default) == ("list of string (<= 5 items)", '["a"]')  # factory default
    assert (docs["leaf"].type, docs["leaf"].default) == ("object | null", "null")
    assert (docs["leaf.host"].required, docs["leaf.host"].depth) == (True, 1)
    assert docs["leaves[].port"].type == "integer (1..65535)"
    assert docs["leaves"].type == "list of object"
    assert docs["by_name"].type == "map of string to object"
    assert docs["ratio"].type == "number (> 0, <= 1)"
    assert docs["undocumented"].description == ""


@pytest.mark.parametrize("step_type", OWN_TYPES)
def test_every_option_has_a_description(step_type: str) -> None:
    missing = [d.name for d in describe_config(config_model(step_type)) if not d.description]
    assert missing == [], f"{step_type}: options without a description: {missing}"


@pytest.mark.parametrize("step_type", ["ms-qlik-app-reload", "ms-notifications", "ms-echo"])
def test_steps_type_prints_every_option_nested_ones_included(
    step_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["steps", step_type]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{step_type}: ")
    docs = describe_config(config_model(step_type))
    for doc in docs:
        indent = "  " * (doc.depth + 1)
        given = " (required)" if doc.required else f" = {doc.default or 'null'}"
        assert f"\n{indent}{doc.name}: {doc.type}{given}\n" in out
        assert " ".join(doc.description.split()[:3]) in out
    assert any(d.depth for d in docs) or step_type != "ms-qlik-app-reload"  # qrs.* is nested


def test_steps_type_shows_enums_bounds_and_list_items(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["steps", "ms-qlik-app-reload"]) == 0
    out = capsys.readouterr().out
    assert "unknown keys are errors" in out
    assert '\n  backend: "cloud" | "qrs" = "cloud"\n' in out
    assert "\n  max_wait_seconds: integer (10..604800) = 3600\n" in out
    assert main(["steps", "ms-demand-forecast"]) == 0
    out = capsys.readouterr().out
    assert (
        '\n    series[].measure: "room_nights" | "arrivals" | "occupancy" | "room_revenue"' in out
    )
    assert "\n  levels: list of number = [80.0, 95.0]\n" in out
    assert main(["steps", "ms-echo"]) == 0
    assert "other keys are accepted" in capsys.readouterr().out


def test_steps_type_json_is_the_config_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["steps", "ms-echo", "--json"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "EchoConfig"
    assert schema["properties"]["fail_message"]["description"]


def test_unknown_step_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["steps", "ms-nope"]) == 2
    assert "unknown step type 'ms-nope' (see `mhi steps`)" in capsys.readouterr().err
