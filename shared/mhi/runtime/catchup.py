"""Catch-up: a schedule with `"catchup": true` starts the slots it missed when it next fires.

Missed slots (the scheduler was paused, a deploy left a gap) are found by looking back from the
slot that fired, one slot at a time, until a slot that has a run: every slot in between is
started, oldest first, with the run id a backfill or the scheduler would give it, so nothing
starts twice. The look-back is bounded (`MAX_CATCHUP_SLOTS`); when no earlier run is found
within it (a new schedule, or a gap longer than that) nothing is caught up: `mhi backfill`
covers any range.

A slot the SLA watch already recorded as missed (`mhi.runtime.sla_watch`) has a run that never
ran: it counts as missed too, and catch-up reruns it (`recorded_missed`) instead of starting it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from mhi.model import keys
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.model.slots import previous_slots, slot_run_id
from mhi.ports import RunStore

logger = logging.getLogger(__name__)

MAX_CATCHUP_SLOTS = 31


def missed_slots(store: RunStore, flow: FlowDefinition, fired: datetime) -> list[datetime]:
    """The slots before `fired` that have no run (or only one recorded as missed and not rerun
    yet), back to the last one that ran (oldest first)."""
    missed: list[datetime] = []
    for slot in previous_slots(flow, fired, MAX_CATCHUP_SLOTS):
        ref = RunRef(flow.account, flow.flow_id, slot_run_id(slot))
        if store.read(ref.key(keys.FLOW)) is not None and not recorded_missed(store, ref):
            return list(reversed(missed))
        missed.append(slot)
    logger.warning(
        "flow %s: no run in the %d slots before %s: nothing caught up (use mhi backfill)",
        flow.flow_id,
        MAX_CATCHUP_SLOTS,
        fired.isoformat(),
    )
    return []


def recorded_missed(store: RunStore, ref: RunRef) -> bool:
    """Whether the run is a slot the SLA watch recorded as missed, not rerun yet."""
    frozen = store.read(ref.key(keys.FLOW))
    if frozen is None or not json.loads(frozen).get("missed"):
        return False
    return store.read(ref.key(keys.generation_key(1))) is None
