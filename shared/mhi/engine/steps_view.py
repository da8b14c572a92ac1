"""`steps` in templates and conditions: each step's status and output, read from the run state
when a template asks (a flow of 1,000 steps does not build 1,000 dicts per dispatch)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mhi.model.run import RunState


class StepsView(Mapping[str, Any]):
    """`steps.<id>.output/status` for templates and conditions, built on demand (O(1) per use)."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    def __getitem__(self, sid: str) -> dict[str, Any]:
        step = self._state.steps[sid]
        return {"status": self._state.status(step).value, "output": self._state.output(sid)}

    def __iter__(self) -> Iterator[str]:
        return iter(s.id for s in self._state.flow.steps)

    def __len__(self) -> int:
        return len(self._state.flow.steps)

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, str) and sid in self._state.steps
