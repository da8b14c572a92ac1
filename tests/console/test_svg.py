"""The console's SVG: layers by dependency depth, fewer crossings, escaping, attempt bars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from mhi.api.console_svg import Bar, Node, Row, dag_svg, depths, gantt_svg

T0 = datetime(2026, 1, 1, 6, tzinfo=UTC)


def _tops(svg: str) -> dict[str, int]:
    found = re.finditer(r'data-step="([^"]+)".*?<rect[^>]* y="(\d+)"', svg)
    return {m.group(1): int(m.group(2)) for m in found}


def test_depths_are_one_past_the_deepest_dependency() -> None:
    nodes = [Node("c", ["a", "b"]), Node("a", []), Node("b", ["a"]), Node("d", ["zz"])]
    assert depths(nodes) == {"a": 0, "b": 1, "c": 2, "d": 0}  # an unknown dependency: ignored
    with pytest.raises(ValueError, match="depend on each other"):
        depths([Node("x", ["y"]), Node("y", ["x"])])


def test_a_node_sits_beside_its_dependency() -> None:
    svg = dag_svg([Node("a", []), Node("b", []), Node("c", ["b"]), Node("d", ["a"])], str)
    tops = _tops(svg)
    assert tops["c"] == tops["b"] and tops["d"] == tops["a"] and tops["a"] < tops["b"]


def test_labels_and_links_are_escaped() -> None:
    svg = dag_svg([Node("a", [], "failed", "<b>")], lambda s: f"/x?s={s}&y=<1>")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and 'href="/x?s=a&amp;y=&lt;1&gt;"' in svg
    rows = [Row("<i>", "#", [Bar(T0, T0 + timedelta(seconds=1), "failed", "<script>")])]
    gantt = gantt_svg(rows, T0, T0 + timedelta(seconds=2))
    assert "<script>" not in gantt and "<i>" not in gantt


def test_a_retry_shows_its_wait_between_the_attempts() -> None:
    bars = [
        Bar(T0, T0 + timedelta(seconds=1), "failed", "attempt 1"),
        Bar(T0 + timedelta(seconds=11), T0 + timedelta(seconds=12), "succeeded", "attempt 2"),
    ]
    svg = gantt_svg([Row("load", "#", bars), Row("next", "#", [])], T0, T0 + timedelta(seconds=12))
    assert svg.count('class="wait"') == 1
    assert re.findall(r'<rect class="st-(\w+)"', svg) == ["failed", "succeeded"]
    assert "+12s" in svg and "+0ms" in svg
