"""Server-side SVG of the console: a flow's DAG (layered by dependency depth) and a run's Gantt
timeline of every attempt (bars from dispatch to result; waits between retries dashed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

NODE_W, NODE_H, GAP_X, GAP_Y = 168, 36, 56, 14
ROW_H, LABEL_W, CHART_W = 18, 180, 720


@dataclass(frozen=True)
class Node:
    """One box of the DAG: a step (a for_each parent stands for its children)."""

    id: str
    depends_on: Sequence[str]
    status: str = "pending"
    note: str = ""


@dataclass(frozen=True)
class Bar:
    """One attempt on the timeline."""

    start: datetime
    end: datetime
    status: str
    title: str


@dataclass(frozen=True)
class Row:
    """One line of the timeline: a step and its attempts, oldest first."""

    label: str
    href: str
    bars: list[Bar] = field(default_factory=list)


def depths(nodes: Sequence[Node]) -> dict[str, int]:
    """Each node's layer: 0 without dependencies, else one past its deepest dependency.

    Raises:
        ValueError: the nodes depend on each other in a cycle (the flow validator forbids it).
    """
    deps = {n.id: [d for d in n.depends_on if d != n.id] for n in nodes}
    known = {sid: [d for d in ds if d in deps] for sid, ds in deps.items()}
    waiting = {sid: len(set(ds)) for sid, ds in known.items()}
    users: dict[str, list[str]] = {}
    for sid, ds in known.items():
        for d in set(ds):
            users.setdefault(d, []).append(sid)
    ready = [sid for sid, n in waiting.items() if n == 0]
    depth: dict[str, int] = {}
    while ready:
        sid = ready.pop()
        depth[sid] = 1 + max((depth[d] for d in known[sid]), default=-1)
        for user in users.get(sid, []):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    if len(depth) < len(known):
        stuck = sorted(set(known) - set(depth))
        raise ValueError(f"the steps {stuck} depend on each other")
    return depth


def dag_svg(nodes: Sequence[Node], href: Callable[[str], str]) -> str:
    """The DAG left to right, one column per depth; each box links to `href(step id)`."""
    depth = depths(nodes)
    columns: dict[int, list[Node]] = {}
    for node in nodes:
        columns.setdefault(depth[node.id], []).append(node)
    where: dict[str, tuple[int, int]] = {}
    for col in sorted(columns):
        members = _ordered(columns[col], where)
        for row, node in enumerate(members):
            where[node.id] = (col * (NODE_W + GAP_X) + 4, row * (NODE_H + GAP_Y) + 4)
    width = (max(columns, default=0) + 1) * (NODE_W + GAP_X)
    height = max((len(m) for m in columns.values()), default=1) * (NODE_H + GAP_Y) + 8
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="steps and their dependencies">'
    ]
    for node in nodes:
        x, y = where[node.id]
        for dep in node.depends_on:
            if dep in where:
                dx, dy = where[dep]
                parts.append(
                    f'<line class="edge" x1="{dx + NODE_W}" y1="{dy + NODE_H // 2}" '
                    f'x2="{x}" y2="{y + NODE_H // 2}"/>'
                )
    for node in nodes:
        parts.append(_box(node, where[node.id], href(node.id)))
    parts.append("</svg>")
    return "".join(parts)


def _ordered(members: list[Node], where: Mapping[str, tuple[int, int]]) -> list[Node]:
    """A column's nodes by the mean height of their placed dependencies (fewer crossings)."""

    def height(pair: tuple[int, Node]) -> tuple[float, int]:
        index, node = pair
        ys = [where[d][1] for d in node.depends_on if d in where]
        return (sum(ys) / len(ys) if ys else -1.0, index)

    return [node for _, node in sorted(enumerate(members), key=height)]


def _box(node: Node, at: tuple[int, int], link: str) -> str:
    x, y = at
    label = node.id if len(node.id) <= 22 else node.id[:21] + "…"
    note = f" {node.note}" if node.note else ""
    shown = node.note if node.status == "defined" else f"{node.status}{note}"
    return (
        f'<a href="{escape(link)}" class="node" data-step="{escape(node.id)}">'
        f"<title>{escape(node.id)}: {escape(node.status)}{escape(note)}</title>"
        f'<rect class="st-{escape(node.status)}" x="{x}" y="{y}" width="{NODE_W}" '
        f'height="{NODE_H}" rx="6"/>'
        f'<text x="{x + 8}" y="{y + 15}">{escape(label)}</text>'
        f'<text class="sub" x="{x + 8}" y="{y + 29}">{escape(shown)}</text>'
        "</a>"
    )


def gantt_svg(rows: Sequence[Row], start: datetime, end: datetime) -> str:
    """Every row's attempts on one time axis from `start` to `end`."""
    span = max((end - start).total_seconds(), 0.001)
    scale = CHART_W / span
    height = len(rows) * ROW_H + 24
    width = LABEL_W + CHART_W + 10
    parts = [
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="attempts over time">'
    ]
    parts.extend(_axis(span, scale, height))
    for i, row in enumerate(rows):
        y = i * ROW_H + 20
        label = row.label if len(row.label) <= 26 else row.label[:25] + "…"
        parts.append(
            f'<a href="{escape(row.href)}"><text class="label" x="2" y="{y + 12}">'
            f"{escape(label)}</text></a>"
        )
        previous_end: float | None = None
        for bar in row.bars:
            x0 = LABEL_W + (bar.start - start).total_seconds() * scale
            x1 = LABEL_W + (bar.end - start).total_seconds() * scale
            if previous_end is not None and x0 > previous_end:
                parts.append(
                    f'<line class="wait" x1="{previous_end:.1f}" y1="{y + 8}" '
                    f'x2="{x0:.1f}" y2="{y + 8}"><title>waiting to retry</title></line>'
                )
            parts.append(
                f'<rect class="st-{escape(bar.status)}" x="{x0:.1f}" y="{y + 2}" '
                f'width="{max(x1 - x0, 2):.1f}" height="{ROW_H - 5}" rx="2">'
                f"<title>{escape(bar.title)}</title></rect>"
            )
            previous_end = x1
    parts.append("</svg>")
    return "".join(parts)


def _axis(span: float, scale: float, height: int) -> list[str]:
    ticks = 5
    out = []
    for i in range(ticks + 1):
        seconds = span * i / ticks
        x = LABEL_W + seconds * scale
        out.append(f'<line class="tick" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{height}"/>')
        anchor = ' text-anchor="end"' if i == ticks else ""
        out.append(f'<text class="tick" x="{x + 2:.1f}" y="11"{anchor}>+{_short(seconds)}</text>')
    return out


def _short(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def status_counts(statuses: Mapping[str, int]) -> str:
    """`3 succeeded, 1 failed` (largest first)."""
    return ", ".join(f"{n} {s}" for s, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
