"""The step SDK and the built-in utility steps."""

from mhi.steps.sdk import StepContext, StepKind, Wait, handle_step_message, run_step

__all__ = ["StepContext", "StepKind", "Wait", "handle_step_message", "run_step"]
