"""The pure engine: `decide(state, now)` returns what to do next. No I/O, clock or randomness."""

from shared.engine.actions import (
    Decision,
    DispatchStep,
    ExpandStep,
    FinishRun,
    RecordResult,
    SkipStep,
)
from shared.engine.decide import decide

__all__ = [
    "Decision",
    "DispatchStep",
    "ExpandStep",
    "FinishRun",
    "RecordResult",
    "SkipStep",
    "decide",
]
