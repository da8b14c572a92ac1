"""The pure engine: `decide(state, now)` returns what to do next. No I/O, clock or randomness."""

from mhi.engine.actions import (
    CheckStep,
    CloseRun,
    Decision,
    DispatchStep,
    ExpandStep,
    FinishRun,
    RecordResult,
    SkipStep,
)
from mhi.engine.decide import decide

__all__ = [
    "CheckStep",
    "CloseRun",
    "Decision",
    "DispatchStep",
    "ExpandStep",
    "FinishRun",
    "RecordResult",
    "SkipStep",
    "decide",
]
