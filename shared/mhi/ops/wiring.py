"""Building the operations service for a process: its store, flows and executor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mhi.model.keys import RunRef
from mhi.ops.errors import OpsError
from mhi.ops.executor import BusExecutor, EmbeddedExecutor, Executor
from mhi.ops.service import OpsService
from mhi.services import Services

if TYPE_CHECKING:
    from mhi.runtime.embedded import EmbeddedRuntime
    from mhi.runtime.start import StartRequest


class ReadOnly:
    """An executor for views: a command that would act says so."""

    pace_seconds = 0.0

    def start(self, request: StartRequest) -> RunRef:
        """Refuse."""
        raise OpsError("this view cannot start runs")

    def wake(self, ref: RunRef) -> None:
        """Nothing to wake in a view."""


def build(
    services: Services,
    *,
    runtime: EmbeddedRuntime | None = None,
    read_only: bool = False,
    pace_seconds: float = 0.2,
) -> OpsService:
    """The service on these services: embedded runtime when given, else the controller topic on
    the gcp back end (read-only views need neither)."""
    from mhi.catalog import step_types
    from mhi.runtime.wiring import flow_source

    settings = services.settings
    executor: Executor
    if runtime is not None:
        executor = EmbeddedExecutor(runtime)
    elif read_only:
        executor = ReadOnly()
    elif settings.backend == "gcp":
        executor = BusExecutor(services.bus, pace_seconds)
    else:
        raise OpsError("the local back end acts on runs through an embedded runtime")
    flows = runtime.flows if runtime is not None else flow_source(settings)
    known = runtime.known_types if runtime is not None else step_types
    return OpsService(
        services.run_store,
        flows,
        executor,
        services.clock.now,
        known,
        project=settings.project_id,
        accounts=settings.accounts,
    )
