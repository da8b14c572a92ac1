"""Resuming a run on this machine whose process died (`mhi run --run-id ID` after `kill -9`).

A turn started by a process of this host that no longer exists will never report: its lease
would lapse in up to `lease_seconds`, but the embedded runtime knows at once, so the turn is run
again right away. A turn claimed but never started (the claimer died before publishing, or its
in-memory bus died with it) is published again at once for the same reason.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from mhi.model.run import RunState


def local_process_alive(holder: str) -> bool | None:
    """Whether the `<host>:<pid>` holder runs; None when it is another host's (unknowable)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    return int(pid) != 0


def orphaned_turns(state: RunState) -> list[tuple[str, int, int]]:
    """(step, attempt, turn) of every in-flight turn of this run no live local process holds."""
    out = []
    for sid in sorted(state.in_flight):
        step = state.step(sid)
        last = step.last if step is not None else None
        if last is None or not last.running(last.turn):
            continue
        holder = last.holders.get(last.turn)
        if holder is None or local_process_alive(holder) is False:
            out.append((sid, last.number, last.turn))
    return out


def resume(state: RunState, now: datetime) -> list[tuple[str, int, int]]:
    """Mark every orphaned turn as lost at `now` (the next decide runs it again)."""
    orphans = orphaned_turns(state)
    for sid, number, turn in orphans:
        state.note_lost(sid, number, turn, now)
    return orphans
