"""Keys of the run store outside any run: concurrency slots and shared request rates.

    limits/<key>/<slot>/<tenancy>.json          the tenancy-th hold of a slot
    limits/<key>/<slot>/<tenancy>-end.json      its release
    limits/<key>/waiting/<account>~<flow_id>~<run_id>~<token>.json   a waiting run's marker
    rates/<key>/<window>/<n>.json               the n-th request of one window of a shared rate

Every key inside a run (and the run index) is built in `mhi.model.keys`.
"""

from __future__ import annotations

import re

from mhi.model.keys import INDEX_SEP, RunRef

LIMITS_PREFIX, RATES_PREFIX = "limits", "rates"
_SLOT = re.compile(r"(\d+)/(\d+)(-end)?\.json")


def limit_prefix(key: str, sub: str = "") -> str:
    """Every slot and waiter of a concurrency key (`sub`: one slot's, or `waiting`)."""
    return f"{LIMITS_PREFIX}/{key}/{sub}{'/' if sub else ''}"


def slot_key(key: str, slot: int, tenancy: int, *, end: bool = False) -> str:
    """The `tenancy`-th hold of slot `slot` of `key` (or, with `end`, its release)."""
    return f"{limit_prefix(key, str(slot))}{tenancy:06d}{'-end' if end else ''}.json"


def parse_slot_key(key: str, full: str) -> tuple[int, int, bool] | None:
    """(slot, tenancy, is the release) of a key under `limit_prefix(key)`, or None."""
    found = _SLOT.fullmatch(full[len(limit_prefix(key)) :])
    ok = found is not None and full.startswith(limit_prefix(key))
    return (int(found[1]), int(found[2]), bool(found[3])) if found and ok else None


def waiter_key(key: str, ref: RunRef, token: str) -> str:
    """A marker that `ref` waits for a slot of `key` (whoever gives one back wakes the run)."""
    name = INDEX_SEP.join((ref.account, ref.flow_id, ref.run_id, token))
    return f"{limit_prefix(key, 'waiting')}{name}.json"


def parse_waiter_key(key: str, full: str) -> RunRef | None:
    """The run a waiter marker names (None if `full` is not one)."""
    prefix = limit_prefix(key, "waiting")
    parts = full[len(prefix) : -5].split(INDEX_SEP)
    ok = full.startswith(prefix) and full.endswith(".json") and len(parts) == 4 and all(parts)
    return RunRef(parts[0], parts[1], parts[2]) if ok else None


def rates_prefix(key: str) -> str:
    """Every window of a shared rate key."""
    return f"{RATES_PREFIX}/{key}/"


def rate_key(key: str, window: int, n: int | None = None) -> str:
    """The `n`-th request claimed in one window of a shared rate key (None: the window)."""
    window_prefix = f"{rates_prefix(key)}{window}/"
    return window_prefix if n is None else f"{window_prefix}{n:06d}.json"


def parse_rate_window(key: str, full: str) -> int | None:
    """The window (its first second) of a key under `rates_prefix(key)`, or None."""
    prefix = rates_prefix(key)
    window = full[len(prefix) :].partition("/")[0]
    return int(window) if full.startswith(prefix) and window.isdigit() else None
