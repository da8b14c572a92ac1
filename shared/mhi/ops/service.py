"""The operations service: one object the CLI, the HTTP API and the console call.

It reads and writes the run store (local folder or GCS alike), reads stored flows, and makes
runs move through an `Executor`. Every action takes `by`, who asked, and records it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from mhi.constants import RUN_ID_RE, RUN_ID_RULE
from mhi.errors import FlowDefinitionError
from mhi.model.flow import FlowDefinition
from mhi.model.keys import RunRef
from mhi.ops import control, show, stats
from mhi.ops.backfill import BackfillResult, backfill
from mhi.ops.errors import Conflict, NotFound, OpsError
from mhi.ops.executor import Executor
from mhi.ops.index import Page, RunFilter, find_run, list_runs
from mhi.ports import FlowSource, RunStore

By = Mapping[str, Any]


class OpsService:
    """List, show, start, cancel, rerun, pause, resume and backfill runs; stats; flows."""

    def __init__(
        self,
        store: RunStore,
        flows: FlowSource,
        executor: Executor,
        now: Callable[[], datetime],
        known_types: Callable[[], frozenset[str]],
        *,
        project: str | None = None,
        accounts: frozenset[str] | None = None,
    ) -> None:
        self.store = store
        self.flows = flows
        self.executor = executor
        self.now = now
        self.known_types = known_types
        self.project = project
        self.accounts = accounts

    # ---- flows --------------------------------------------------------------------------

    def flow_ids(self) -> list[str]:
        """Every stored flow's id."""
        lister = getattr(self.flows, "list_ids", None)
        ids: list[str] = lister() if lister is not None else []
        return ids

    def flow(self, flow_id: str) -> FlowDefinition:
        """A stored flow, validated.

        Raises:
            NotFound: no stored flow has that id.
            OpsError: the stored flow is not valid (every problem named).
        """
        from mhi.model.validate import parse_flow

        raw = self.flows.get(flow_id)
        if raw is None:
            raise NotFound(f"no stored flow {flow_id!r}", "flow_id")
        try:
            return parse_flow(json.loads(raw), self.known_types())
        except (FlowDefinitionError, json.JSONDecodeError) as e:
            raise OpsError(f"stored flow {flow_id!r} is not valid: {e}", "flow_id") from None

    # ---- runs ---------------------------------------------------------------------------

    def runs(self, where: RunFilter, *, limit: int = 20, cursor: str | None = None) -> Page:
        """Runs newest first (see `mhi.ops.index.list_runs`)."""
        return list_runs(self.store, where, limit=limit, cursor=cursor)

    def find(self, name: str) -> RunRef:
        """The run named `RUN_ID`, `FLOW_ID/RUN_ID` or `ACCOUNT/FLOW_ID/RUN_ID`."""
        return find_run(self.store, name)

    def show(self, ref: RunRef) -> dict[str, Any]:
        """Everything about one run."""
        return show.describe(self.store, ref, self.project)

    def start(
        self,
        flow_id: str,
        params: Mapping[str, Any],
        by: By,
        run_id: str | None = None,
    ) -> RunRef:
        """Start a stored flow (idempotent on `run_id`).

        Raises:
            NotFound: no such flow.
            OpsError: bad params or run id, or an account this deployment does not serve.
        """
        from mhi.runtime.controller import new_run_id
        from mhi.runtime.start import StartRequest, resolve

        flow = self.flow(flow_id)
        if run_id is not None and not RUN_ID_RE.match(run_id):
            raise OpsError(f"run_id {run_id!r} is not valid ({RUN_ID_RULE})", "run_id")
        try:
            # params resolved, and the account taken from its param when the flow says so
            request = resolve(
                StartRequest(flow, dict(params), run_id or new_run_id(self.now()), dict(by))
            )
        except FlowDefinitionError as e:
            field = e.problems[0][0].removeprefix("$.") if e.problems else "params"
            raise OpsError(str(e), field) from None
        account = request.flow.account
        if self.accounts is not None and account not in self.accounts:
            raise OpsError(f"account {account!r} is not served here", "flow_id")
        return self.executor.start(request)

    def cancel(self, ref: RunRef, by: By, reason: str = "cancelled by request") -> bool:
        """Ask a run to stop; False when that was already asked."""
        asked = control.cancel(self.store, ref, by, self.now(), reason)
        self.executor.wake(ref)
        return asked

    def pause(self, ref: RunRef, by: By) -> bool:
        """Hold back a run's new dispatches; False when it was already paused."""
        return control.pause(self.store, ref, by, self.now())

    def resume(self, ref: RunRef, by: By) -> bool:
        """Let a paused run go on; False when it was not paused."""
        resumed = control.resume(self.store, ref, by, self.now())
        if resumed:
            self.executor.wake(ref)
        return resumed

    def rerun(
        self,
        ref: RunRef,
        by: By,
        *,
        from_step: str | None = None,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Re-run a finished run from failure (or from a step), with edits if given."""
        plan = control.rerun(
            self.store,
            ref,
            by,
            self.now(),
            from_step=from_step,
            params=params,
            config=config,
            reason=reason,
        )
        self.executor.wake(ref)
        return {
            "generation": plan.generation,
            "mode": plan.mode,
            "from_step": plan.from_step,
            "steps": plan.top_level,
            "kept_children": plan.kept,
            "edits": plan.edits,
        }

    def backfill(
        self,
        flow_id: str,
        start: datetime,
        end: datetime,
        by: By,
        *,
        params: Mapping[str, Any] | None = None,
        max_runs: int = 100,
    ) -> BackfillResult:
        """One run per schedule slot in [start, end] that has none yet; for a flow whose account
        is a param left open and whose schedule lists `accounts`, one per slot and account."""
        from mhi.model.accounts import per_account, schedule_accounts
        from mhi.runtime.start import StartRequest, resolve

        flow = self.flow(flow_id)
        values = dict(flow.schedule.params) if flow.schedule else {}
        values.update(params or {})
        try:
            # each slot's run is keyed under the account its params give
            requests = [resolve(StartRequest(flow, g)) for g in per_account(flow, values)]
        except FlowDefinitionError as e:
            raise OpsError(str(e), "params") from None
        qualified = schedule_accounts(flow, values) is not None  # one run per slot and account
        result = BackfillResult(flow.flow_id)
        for request in requests:
            backfill(
                self.store,
                self.executor,
                request.flow,
                start,
                end,
                params=request.params,
                by=by,
                max_runs=max_runs,
                into=result,
                qualified=qualified,
            )
        return result

    def stats(
        self, *, flow_id: str | None = None, since: datetime | None = None, max_runs: int = 1000
    ) -> dict[str, Any]:
        """Runs, success rate and durations per flow and step type since `since`."""
        return stats.compute(
            self.store, flow_id=flow_id, since=since, max_runs=max_runs, now=self.now()
        )


__all__ = ["Conflict", "NotFound", "OpsError", "OpsService"]
