"""Reruns, pauses and edits: what a run's control records change in its fold.

A rerun starts generation n of a run with the write-once record `control/rerun-<n>.json`. The
record names every step it re-runs with the first attempt number that step gets in generation n
(attempt numbers go on across generations, so no object is ever written twice), the for_each
children it keeps, and the edits it makes to params and step configs. Everything else keeps
what it had: a kept step's objects still count, a re-run step's earlier attempts become history.

The fold keeps each re-run step's attempts numbered from 1 within its generation (`local`), so
the engine's policy (retries, backoff, first attempts) reads the same in every generation, and
the controller turns local numbers back into store numbers (`absolute`). Control records are
folded before any other object: a record that arrives later makes the state ask to be folded
again from scratch (`needs_reload`), which a rerun costs once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mhi.constants import CHILD_SEPARATOR
from mhi.model import keys
from mhi.model.states import Attempt, parse_time

if TYPE_CHECKING:
    from mhi.model.run import RunState, StepState


class EditError(ValueError):
    """A config edit names a path that cannot be set."""


def set_path(config: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of `config` with the dotted `path` set to `value` (list items by index).

    Raises:
        EditError: a part of the path goes through something that is neither an object nor a
            list, or names a list index that does not exist.
    """
    parts = path.split(".")
    if not path or not all(parts):
        raise EditError(f"config path {path!r} is empty or has an empty part")
    root: dict[str, Any] = dict(config)
    node: Any = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if last:
                node[part] = value
                break
            child = node.get(part, {})
            node[part] = _copy(child, parts, i)
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = value
                break
            node[int(part)] = _copy(node[int(part)], parts, i)
            node = node[int(part)]
        else:
            where = ".".join(parts[:i]) or "config"
            raise EditError(f"config path {path!r}: {where} has no item {part!r} that can be set")
    return root


def _copy(node: Any, parts: list[str], i: int) -> Any:
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    where = ".".join(parts[: i + 1])
    raise EditError(f"config path {'.'.join(parts)!r}: {where} is a {type(node).__name__}")


@dataclass
class Reruns:
    """The control records of one run as folded so far."""

    generation: int = 0
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    bases: dict[str, int] = field(default_factory=dict)  # step -> first store attempt number
    scopes: dict[str, int] = field(default_factory=dict)  # step -> generation that reset it
    kept: dict[int, frozenset[str]] = field(default_factory=dict)  # generation -> kept children
    pauses: int = 0
    resumes: int = 0
    dones: dict[int, dict[str, Any]] = field(default_factory=dict)
    cancels: dict[int, dict[str, Any]] = field(default_factory=dict)
    needs_reload: bool = False
    _folded_other: bool = False

    @property
    def paused(self) -> bool:
        """Whether new dispatches are held back (more pauses than resumes)."""
        return self.pauses > self.resumes

    # ---- folding ------------------------------------------------------------------------

    def admits(self, state: RunState, key: keys.ObjectKey, body: Mapping[str, Any]) -> bool:
        """Fold a control record, or say whether an object belongs to the current generation."""
        if key.kind == "generation":
            self._record(state, key.generation, body)
            return False
        if key.kind in ("pause", "resume"):
            count = key.count or 0
            if key.kind == "pause":
                self.pauses = max(self.pauses, count)
            else:
                self.resumes = max(self.resumes, count)
            return False
        self._folded_other = True
        if key.kind in ("done", "cancel"):
            seen = self.dones if key.kind == "done" else self.cancels
            seen.setdefault(key.generation, dict(body))
            return key.generation == self.generation
        if key.kind == "skipped":
            return key.generation == self.scope_of(key.step or "")
        if key.kind == "dispatched" and int(body.get("generation", 0)) > self.generation:
            self.needs_reload = True  # written by a generation this fold has not seen yet
        return True

    def _record(self, state: RunState, generation: int, body: Mapping[str, Any]) -> None:
        if generation in self.records:
            return
        self.records[generation] = dict(body)
        if self._folded_other:
            self.needs_reload = True
        while self.generation + 1 in self.records:
            self.generation += 1
            self._begin(state, self.generation, self.records[self.generation])

    def _begin(self, state: RunState, generation: int, record: Mapping[str, Any]) -> None:
        for sid, base in (record.get("steps") or {}).items():
            self.bases[sid] = int(base)
            self.scopes[sid] = generation
        self.kept[generation] = frozenset(record.get("kept") or ())
        edits = record.get("edits") or {}
        state.params = {**state.params, **(edits.get("params") or {})}
        for sid, changes in (edits.get("config") or {}).items():
            step = state.steps.get(sid)
            if step is None:
                continue
            config = dict(step.spec.config)
            for path, value in changes.items():
                config = set_path(config, path, value)
            step.spec = step.spec.model_copy(update={"config": config})
        state.done = state.cancel = None

    def localize(self, step: StepState, key: keys.ObjectKey, body: Mapping[str, Any]) -> int:
        """The attempt number of an attempt object within its step's generation; 0 when the
        object is history (it was folded into `step.history` instead)."""
        number = key.attempt or 0
        local = number - self.bases.get(step.id, 1) + 1
        if local >= 1:
            return local

        past: Attempt = step.history.setdefault(number, Attempt(number))
        if key.kind == "dispatched" and past.dispatched_at is None:
            past.dispatched_at = parse_time(body["at"])
        elif key.kind == "result" and past.result is None:
            past.result = dict(body)
        return 0

    # ---- queries ------------------------------------------------------------------------

    def absolute(self, sid: str, local: int) -> int:
        """The store's attempt number of a step's `local`-th attempt in its generation."""
        return local + self.bases.get(sid, 1) - 1

    def local(self, sid: str, number: int) -> int:
        """A store attempt number as the fold numbers it (below 1: an earlier generation's)."""
        return number - self.bases.get(sid, 1) + 1

    def scope_of(self, sid: str) -> int:
        """The generation whose objects decide a step (the last one that re-ran it)."""
        if sid in self.scopes:
            return self.scopes[sid]
        head, sep, _ = sid.partition(CHILD_SEPARATOR)
        parent = self.scopes.get(head) if sep else None
        if parent is not None and sid not in self.kept.get(parent, frozenset()):
            return parent  # a child its parent's rerun runs anew
        return 0

    def attempts_of(self, step: StepState) -> list[tuple[int, Attempt]]:
        """Every attempt of a step, earlier generations first: (store number, attempt)."""
        out = sorted(step.history.items())
        out += [(self.absolute(step.id, n), a) for n, a in sorted(step.attempts.items())]
        return out
