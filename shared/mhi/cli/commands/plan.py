"""`mhi plan FLOW.json`: validation, the run's static shape, and its duration and cost estimates.

The shape (steps, joins, error handlers, fan-out bounds, critical path) and the store operations
come from `mhi.model.shape`. Step durations come from the last runs of this flow in the run
store when it has them, else from the step types' defaults below; the cost adds function time
at the sizes of `mhi.packaging`, Pub/Sub messages and store operations, at the list prices
printed with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mhi.cli.common import load_json_file, parse_assignments, services_from_env, table
from mhi.errors import InvalidMessageError

if TYPE_CHECKING:
    from mhi.model.flow import FlowDefinition
    from mhi.model.shape import Ops
    from mhi.ports import RunStore

# Seconds a step of a type takes when the store has no run of this flow, by the package of its
# handler (the longest prefix wins): a guess for a small hotel's day of data.
DEFAULT_SECONDS = {
    "mhi.steps": 1.0,
    "mhi.notify": 2.0,
    "mhi.qlik": 60.0,
    "mhi.connectors": 60.0,
    "mhi.analytics": 120.0,
    "mhi.generic": 30.0,
    "mhi.generic.request_step": 10.0,
}
UNKNOWN_SECONDS = 60.0
CONTROLLER_SECONDS = 0.2  # one controller invocation (a start or a step's callback)

# List prices (USD). Cloud Storage Standard: Class A (creates, listings) and Class B (reads)
# per 1,000 operations; Pub/Sub: per TiB of throughput, each publish and each delivery billed
# at least 1 KB; Cloud Run functions (tier 1): per vCPU-second, GiB-second and invocation.
PRICES = {
    "storage_class_a_per_1000": 0.005,
    "storage_class_b_per_1000": 0.0004,
    "pubsub_per_tib": 40.0,
    "function_vcpu_second": 0.000024,
    "function_gib_second": 0.0000025,
    "function_invocation": 0.0000004,
}
MESSAGE_BILLED_BYTES = 2 * 1000  # a publish and its delivery, 1 KB minimum each
HISTORY_RUNS = 20
SLA_SLOTS = 1000  # the slots a `by` SLA's windows are measured over (at most a year's)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi plan`."""
    p = sub.add_parser(
        "plan", help="validate a flow; show its shape and estimate its duration and cost"
    )
    p.add_argument("file", metavar="FLOW.json")
    p.add_argument(
        "--items",
        action="append",
        default=[],
        metavar="STEP=N",
        help="items assumed for a templated for_each step (default 1)",
    )
    p.add_argument("--history", type=int, default=HISTORY_RUNS, help="past runs to learn from")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plan of one flow file; exit 1 if the flow is not valid."""
    from mhi.model.validate import validate_flow

    flow, problems = validate_flow(load_json_file(args.file))
    if problems or flow is None:
        print(f"{args.file}: {len(problems)} problem{'s' if len(problems) != 1 else ''}")
        for where, msg in problems:
            print(f"  {where}: {msg}" if where else f"  {msg}")
        return 1
    given = _items(args.items, flow)
    services = services_from_env()
    past = past_runs(services.run_store, flow.flow_id, args.history)
    result = plan(flow, given, past, services.clock.now())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


def _items(assignments: list[str], flow: FlowDefinition) -> dict[str, int]:
    ids = {s.id for s in flow.steps if s.for_each is not None}
    out = {}
    for sid, value in parse_assignments(assignments, "--items").items():
        if sid not in ids:
            raise InvalidMessageError(f"--items {sid}: no for_each step {sid!r} in the flow")
        if not isinstance(value, int) or value < 0:
            raise InvalidMessageError(f"--items {sid}: give a whole number of items")
        out[sid] = value
    return out


def past_runs(store: RunStore, flow_id: str, limit: int) -> dict[str, Any]:
    """Durations of the last succeeded runs of a flow: per step id, and of the whole run."""
    from mhi.model import keys
    from mhi.model.states import parse_time
    from mhi.ops.index import control_state, index_entries, read_json

    steps: dict[str, list[float]] = {}
    runs: list[float] = []
    prefix = keys.index_prefix("flow", flow_id=flow_id)
    for count, (_key, entry) in enumerate(index_entries(store, prefix, None)):
        if count >= limit:
            break
        generation, _pauses, _resumes = control_state(store, entry.ref)
        done = read_json(store, entry.ref.key(keys.done_key(generation)))
        if not done or done.get("status") != "succeeded" or generation:
            continue
        runs.append(parse_time(done["at"]).timestamp() - entry.started_ms / 1000)
        for line in done.get("steps") or []:
            seconds = line.get("duration_seconds")
            if line.get("status") == "succeeded" and isinstance(seconds, int | float):
                steps.setdefault(str(line["id"]), []).append(float(seconds))
    return {"runs": runs, "steps": steps}


def default_seconds(step_type: str) -> float:
    """A step type's default duration, by the package of its handler."""
    from mhi import catalog

    entry = catalog.BY_TYPE.get(step_type)
    if entry is None:
        return UNKNOWN_SECONDS
    module = entry.target.partition(":")[0]
    found = [p for p in DEFAULT_SECONDS if module == p or module.startswith(p + ".")]
    return DEFAULT_SECONDS[max(found, key=len)] if found else UNKNOWN_SECONDS


def plan(
    flow: FlowDefinition, given: dict[str, int], past: dict[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """The plan of a valid flow as JSON-ready data (`now`: where the SLA's slots start)."""
    from mhi.model.shape import critical_path, fan_out, items_assumed, operations

    items = items_assumed(flow, given)
    seconds, sources = {}, {}
    for step in flow.steps:
        history = past["steps"].get(step.id)
        seconds[step.id] = statistics.median(history) if history else default_seconds(step.type)
        sources[step.id] = f"median of {len(history)} run(s)" if history else "type default"
    path, total = critical_path(flow, seconds, items)
    handled = flow.handled()
    steps = [
        {
            "id": s.id,
            "type": s.type,
            "upstreams": flow.upstreams()[s.id],
            "trigger_rule": s.trigger_rule,
            "handles": handled.get(s.id, []),
            "fan_out": list(fan_out(s) or ()) or None,
            "items_assumed": items.get(s.id),
            "seconds": round(seconds[s.id], 3),
            "seconds_from": sources[s.id],
        }
        for s in flow.steps
    ]
    ops = operations(flow, items)
    runs = past["runs"]
    return {
        "flow_id": flow.flow_id,
        "steps": steps,
        "critical_path": path,
        "duration_seconds": round(total, 3),
        "measured_median_seconds": round(statistics.median(runs), 3) if runs else None,
        "measured_runs": len(runs),
        "operations": {
            "creates": ops.creates,
            "reads": ops.reads,
            "reads_fewest": ops.reads_fewest,
            "lists": ops.lists,
            "messages": ops.messages,
            "transitions": ops.transitions,
        },
        "cost": cost(flow, ops, seconds, items),
        "prices": PRICES,
        "sla": sla_fit(flow, total, now or datetime.now(UTC)),
    }


def sla_fit(flow: FlowDefinition, estimate: float, now: datetime) -> dict[str, Any] | None:
    """How the duration estimate meets the flow's SLA, by the engine's deadline rule.

    `within_seconds` gives every run the same time. `by` gives each schedule slot the time up to
    the first `by` after it in the SLA's zone: the windows of the slots of the next year (at most
    `SLA_SLOTS` of them) are measured and the tightest decides. Without a schedule the deadline
    follows the start: a run started less than the estimate before `by` misses it.
    """
    from mhi.engine.sla import deadline_after, sla_time_zone
    from mhi.model.slots import slots

    sla = flow.sla
    if sla is None:
        return None
    if sla.by is None:
        within = float(sla.within_seconds or 0)
        return {
            "within_seconds": within,
            "window_seconds": [within, within],
            "fits": estimate <= within,
        }
    zone = sla_time_zone(flow)
    out: dict[str, Any] = {"by": sla.by, "time_zone": zone}
    if flow.schedule is None:
        by = datetime.combine(now.date(), time.fromisoformat(sla.by))
        out["latest_start"] = (by - timedelta(seconds=estimate)).strftime("%H:%M")
        out["fits"] = estimate < 86400
        return out
    fired = list(slots(flow, now, now + timedelta(days=366), limit=SLA_SLOTS))
    windows = []
    for slot in fired:
        deadline = deadline_after(flow, slot)
        assert deadline is not None  # the flow has an SLA
        windows.append(((deadline - slot).total_seconds(), slot))
    (low, tightest), (high, _widest) = min(windows), max(windows)
    out["slots_measured"] = len(fired)
    out["window_seconds"] = [low, high]
    out["tightest_slot"] = tightest.astimezone(ZoneInfo(zone)).isoformat()
    out["fits"] = estimate <= low
    return out


def cost(
    flow: FlowDefinition, ops: Ops, seconds: dict[str, float], items: dict[str, int]
) -> dict[str, float]:
    """USD of one run on the success path: store operations, messages and function time."""
    from mhi.model.shape import success_path
    from mhi.packaging import CONTROLLER, function_specs

    specs = function_specs()
    by_type = {t: spec for spec in specs.values() for t in spec.step_types}
    function = 0.0
    runs = set(success_path(flow))
    for step in flow.steps:
        spec = by_type.get(step.type)
        if step.id in runs and spec is not None:
            count = items.get(step.id, 1)
            function += count * _function_cost(spec.cpu, spec.memory, seconds[step.id])
    controller = specs[CONTROLLER]
    calls = 1 + ops.transitions
    function += calls * _function_cost(controller.cpu, controller.memory, CONTROLLER_SECONDS)
    store = (ops.creates + ops.lists) * PRICES["storage_class_a_per_1000"] / 1000
    store += ops.reads * PRICES["storage_class_b_per_1000"] / 1000
    messages = ops.messages * MESSAGE_BILLED_BYTES * PRICES["pubsub_per_tib"] / 2**40
    total = store + messages + function
    return {
        "store": round(store, 8),
        "messages": round(messages, 8),
        "functions": round(function, 8),
        "total": round(total, 8),
    }


def _function_cost(cpu: str, memory: str, seconds: float) -> float:
    gib = _gib(memory)
    per_second = float(cpu) * PRICES["function_vcpu_second"] + gib * PRICES["function_gib_second"]
    return per_second * seconds + PRICES["function_invocation"]


def _gib(memory: str) -> float:
    for suffix, scale in (("Gi", 1.0), ("Mi", 1 / 1024)):
        if memory.endswith(suffix):
            return float(memory[: -len(suffix)]) * scale
    raise ValueError(f"memory size {memory!r}: expected '<n>Mi' or '<n>Gi'")


def _print(result: dict[str, Any]) -> None:
    rows = [
        (
            s["id"],
            s["type"],
            ",".join(s["upstreams"]) or "-",
            s["trigger_rule"] if not s["handles"] else "on failure",
            _fan(s),
            f"{s['seconds']:g}",
            s["seconds_from"],
        )
        for s in result["steps"]
    ]
    print(f"flow {result['flow_id']}: ok")
    print(table(rows, ["STEP", "TYPE", "WAITS FOR", "RUNS WHEN", "FAN-OUT", "SECONDS", "FROM"]))
    print(f"\ncritical path: {' → '.join(result['critical_path'])}")
    line = f"duration estimate: {result['duration_seconds']:g} s"
    if result["measured_runs"]:
        line += f" (measured: median {result['measured_median_seconds']:g} s"
        line += f" over {result['measured_runs']} run(s))"
    print(line)
    sla = result["sla"]
    if sla is not None:
        print(_sla_line(sla))
    ops, usd = result["operations"], result["cost"]
    print(
        f"\nper run (every step succeeds at once): {ops['creates']} creates,"
        f" {_span(ops['reads_fewest'], ops['reads'])} reads, {ops['lists']} listings,"
        f" {ops['messages']} Pub/Sub messages (cost: the most reads)"
    )
    print(
        f"cost estimate: ${usd['total']:.6f} (store ${usd['store']:.6f}, messages "
        f"${usd['messages']:.8f}, functions ${usd['functions']:.6f})"
    )
    print("list prices used (USD): " + ", ".join(f"{k} {v:g}" for k, v in PRICES.items()))


def _sla_line(sla: dict[str, Any]) -> str:
    verdict = "fits" if sla["fits"] else "the estimate misses it"
    if "by" not in sla:
        return f"sla: finished within {sla['within_seconds']:g} s of the slot or start: {verdict}"
    head = f"sla: finished by {sla['by']} {sla['time_zone']}"
    if "latest_start" in sla:
        return (
            f"{head} (the first after the start): a run started less than the estimate before "
            f"it (after {sla['latest_start']}) misses it"
        )
    low, high = sla["window_seconds"]
    span = _hours(low) if low == high else f"{_hours(low)} to {_hours(high)}"
    line = f"{head} (the first after each slot): {span} from a slot"
    line += f" (next {sla['slots_measured']} slots): {verdict}"
    if not sla["fits"]:
        line += f" from the tightest slot, {sla['tightest_slot']}"
    return line


def _hours(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _span(low: int, high: int) -> str:
    return str(high) if low == high else f"{low}-{high}"


def _fan(step: dict[str, Any]) -> str:
    if step["fan_out"] is None:
        return "-"
    low, high = step["fan_out"]
    return str(low) if low == high else f"{low}..{high} (assumed {step['items_assumed']})"
