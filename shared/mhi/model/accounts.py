"""Accounts as parameters: one flow file serves many hotels.

A flow's `account` is either an account name or exactly `{{ params.<name> }}`: the account then
comes from that param when a run starts (`bind_account`), and the run is frozen with the literal
account, so everything after the start (store keys, step messages, reruns) sees a plain name.
The value is checked like a written account (it becomes part of every storage key of the run);
the deployment's list of served accounts is checked by whoever starts the run.

A schedule's `accounts` fans a scheduled start out into one run per account (`schedule_accounts`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mhi.constants import SAFE_ID_RE, SAFE_ID_RULE
from mhi.errors import FlowDefinitionError
from mhi.model.problems import Problem

if TYPE_CHECKING:
    from mhi.model.flow import FlowDefinition

_PARAM_RE = re.compile(r"\A\{\{\s*params\.([A-Za-z0-9_][A-Za-z0-9_-]*)\s*\}\}\Z")


def account_param(account: str) -> str | None:
    """The param an account of the form `{{ params.<name> }}` comes from (None: a plain name)."""
    found = _PARAM_RE.match(account)
    return found.group(1) if found else None


def check_account_field(value: str) -> str:
    """The `account` key's rule: a safe account name or `{{ params.<name> }}`."""
    if account_param(value) is None and not SAFE_ID_RE.match(value):
        raise ValueError(
            f"{value!r} is not an account ({SAFE_ID_RULE}), nor '{{{{ params.<name> }}}}' to "
            "take it from a param when the run starts"
        )
    return value


def _account_value_problem(value: Any) -> str | None:
    if value is None:
        return "no value given: the flow's account comes from this param"
    if not isinstance(value, str) or not SAFE_ID_RE.match(value):
        return (
            f"{value!r} is not an account name ({SAFE_ID_RULE}); the flow's account comes from it"
        )
    return None


def bind_account(flow: FlowDefinition, params: dict[str, Any]) -> FlowDefinition:
    """The flow with its account resolved from the run's (resolved) params.

    Raises:
        FlowDefinitionError: the param has no value, or its value is no account name.
    """
    name = account_param(flow.account)
    if name is None:
        return flow
    problem = _account_value_problem(params.get(name))
    if problem is not None:
        raise FlowDefinitionError([(f"$.params.{name}", problem)], flow=flow.flow_id)
    return flow.model_copy(update={"account": params[name]})


def schedule_accounts(flow: FlowDefinition, given: dict[str, Any]) -> list[str] | None:
    """The accounts a scheduled start fans out to: the schedule's `accounts` when the flow's
    account is a param the start message does not set; None for a single run."""
    name = account_param(flow.account)
    accounts = flow.schedule.accounts if flow.schedule is not None else None
    if name is None or not accounts or name in given:
        return None
    return list(accounts)


def per_account(flow: FlowDefinition, given: dict[str, Any]) -> list[dict[str, Any]]:
    """The params of each run a scheduled start with params `given` makes: one per account of
    `schedule_accounts` (its param set to that account), or `given` alone."""
    accounts = schedule_accounts(flow, given)
    if accounts is None:
        return [given]
    name = str(account_param(flow.account))
    return [{**given, name: account} for account in accounts]


def account_problems(flow: FlowDefinition) -> list[Problem]:
    """Check a flow's account param against its params and its schedule (paths and reasons)."""
    name = account_param(flow.account)
    accounts = flow.schedule.accounts if flow.schedule is not None else None
    if name is None:
        if accounts:
            return [("$.schedule.accounts", "only for a flow whose account is a param")]
        return []
    if name not in flow.params:
        declared = ", ".join(sorted(flow.params)) or "none"
        return [("$.account", f"no such flow param {name!r} (declared: {declared})")]
    out: list[Problem] = []
    default = flow.params[name].default
    if default is not None and (problem := _account_value_problem(default)):
        out.append((f"$.params.{name}.default", problem))
    if accounts and len(set(accounts)) != len(accounts):
        out.append(("$.schedule.accounts", "an account is listed twice"))
    schedule = flow.schedule
    if accounts and schedule is not None and name in schedule.params:
        out.append((f"$.schedule.params.{name}", "the schedule's accounts already set this param"))
    if schedule is not None and not accounts and name not in schedule.params and default is None:
        out.append(
            (
                "$.schedule",
                f"the account param {name!r} has no value when the schedule fires: list "
                f"schedule.accounts, set schedule.params.{name} or give the param a default",
            )
        )
    return out
