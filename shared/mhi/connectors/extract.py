"""The extractor step: page through a source, land raw files, load the raw layer, then advance
the watermark. `make_kind(system)` turns a `System` declaration into a step kind.

Every request goes through the one outbound client (`mhi.http`) with the system's host scope:
its credentials reach only its own hosts (`mhi.connectors.hosts`). Watermarks are keyed by
account × system × dataset × source scope (`mhi.connectors.state`), so two flows reading
different slices, or landing them in different places, never take each other's increments.
Datasets whose contract no public source confirms (`Dataset.unconfirmed`) are read only when a
flow names them, and their output says so.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import mhi.connectors.http as http_mod
from mhi.connectors.errors import UnexpectedResponseError, UpstreamRequestError
from mhi.connectors.hosts import Resolved, resolve
from mhi.connectors.http import HttpClient, RetryPolicy, describe
from mhi.connectors.landing import Loader, Part, PartWriter, clear_prefix, raw_prefix
from mhi.connectors.paging import Page, Paging, Progress, Request
from mhi.connectors.plan import Plan, Planned, Source, page_size, plan
from mhi.connectors.rates import request_rate
from mhi.connectors.schema import SchemaTracker, WatermarkTracker, column_names
from mhi.connectors.spec import (
    Credentials,
    Dataset,
    DateWindow,
    DeltaLink,
    ExtractConfig,
    ModifiedSince,
    System,
    parse_instant,
)
from mhi.connectors.state import (
    WatermarkState,
    read_state,
    watermark_key,
    watermark_scope,
    write_state,
)
from mhi.errors import StepConfigError
from mhi.http import OutboundClient, UrlPolicy
from mhi.steps.sdk import StepContext, StepKind

logger = logging.getLogger(__name__)

MAX_PAGES = 1_000_000  # a bound on every paging loop: a source that never ends is an error


@dataclass
class Job:
    """One step turn of one system: context, config, HTTP client, base URL."""

    ctx: StepContext
    system: System
    config: ExtractConfig
    client: HttpClient
    base: str
    now: datetime

    def source(self) -> Source:
        """Where this job's requests go, and how partitions are looked up there."""
        return Source(self.base, self.list_records)

    def list_records(
        self, path: str, paging: Paging, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Read a whole (small) listing into memory: partitions such as FourVenues events."""
        size = page_size(self.system, self.config)
        request: Request | None = paging.first(self.base + path, dict(params or {}), size)
        out: list[dict[str, Any]] = []
        guard = Progress(self.system.name)
        while request is not None:
            page = paging.parse(request, _get(self, request), size)
            guard.check(request, page)
            out += page.records
            request = page.next
        return out


@dataclass
class Fetched:
    """What paging through a dataset produced."""

    parts: list[Part]
    schema: SchemaTracker
    marks: WatermarkTracker
    pages: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None
    resynced: bool = False


def make_kind(system: System) -> StepKind[Any]:
    """Return the step kind `ms-extractor-<system>`."""

    def handler(ctx: StepContext, config: ExtractConfig) -> dict[str, Any]:
        return extract(ctx, system, config)

    return StepKind(f"ms-extractor-{system.name}", system.config_model, handler, system.summary)


def extract(ctx: StepContext, system: System, config: ExtractConfig) -> dict[str, Any]:
    """Extract the configured datasets; return the step output."""
    if config.m_account is not None and config.m_account != ctx.account:
        raise StepConfigError(
            f"config _m_account {config.m_account!r} is not the flow's account {ctx.account!r}: "
            "an account may extract only for itself"
        )
    datasets = select_datasets(system, config.datasets)
    creds = Credentials(ctx.secret, config.credentials or system.name)
    where = resolve(ctx, system, config, creds)
    policy = UrlPolicy.from_settings(ctx.services.settings, http_mod.resolver)
    with OutboundClient(policy, sleep=lambda s: http_mod.sleep(s)) as outbound:
        client = _client(ctx, system, config, creds, where, outbound)
        job = Job(ctx, system, config, client, where.endpoints.base, ctx.services.clock.now())
        results = {ds.name: run_dataset(job, ds) for ds in datasets}
    return {
        "system": system.name,
        "account": ctx.account,
        "incremental": config.incremental,
        "base_url_from": where.base_source,
        "datasets": results,
        "tables": [r["table"] for r in results.values()],
        "rows": sum(r["rows"] for r in results.values()),
        "files": sum(r["files"] for r in results.values()),
        "http": asdict(job.client.stats),
    }


def select_datasets(system: System, names: list[str] | None) -> list[Dataset]:
    """Resolve dataset names (case-insensitive). None: every dataset whose contract is
    confirmed; an unconfirmed one is read only when named (opt-in)."""
    if not names:
        return [ds for ds in system.datasets if ds.unconfirmed is None]
    valid = ", ".join(ds.name for ds in system.datasets)
    out: list[Dataset] = []
    for name in names:
        try:
            ds = system.dataset(name)
        except KeyError:
            raise StepConfigError(
                f"unknown dataset {name!r} for {system.name}; valid datasets: {valid}"
            ) from None
        if ds not in out:
            out.append(ds)
    return out


def _client(
    ctx: StepContext,
    system: System,
    config: ExtractConfig,
    creds: Credentials,
    where: Resolved,
    outbound: OutboundClient,
) -> HttpClient:
    auth = system.auth(creds, config, where.endpoints)
    rate = request_rate(
        ctx.services, system.name, config.requests_per_second, system.requests_per_second
    )
    retry = RetryPolicy(config.max_attempts, config.backoff_seconds, config.max_backoff_seconds)
    return HttpClient(
        system.name,
        auth,
        outbound,
        where.scope,
        config.timeout_seconds,
        retry,
        rate,
    )


def _state_key(job: Job, ds: Dataset) -> str:
    """The watermark of this account × system × dataset × source scope (see `state`)."""
    ctx, system, config = job.ctx, job.system, job.config
    base_fields = set(ExtractConfig.model_fields)
    options = {
        k: v
        for k, v in config.model_dump(mode="json").items()
        if k not in base_fields and v is not None
    }
    target = {
        "table": system.table(ds),
        "raw": raw_prefix(ctx.account, system.name, ds.name, "*"),
    }
    scope = watermark_scope(config.credentials or system.name, options, target)
    return watermark_key(ctx.account, system.name, ds.name, scope)


def run_dataset(job: Job, ds: Dataset) -> dict[str, Any]:
    """Extract, land and load one dataset, then advance its watermark."""
    ctx, system = job.ctx, job.system
    state_key = _state_key(job, ds)
    state = read_state(ctx.services.blobs, state_key)
    if ds.unconfirmed:
        ctx.log.warning("%s %s is unconfirmed: %s", system.name, ds.name, ds.unconfirmed)
    the_plan = plan(system, ds, job.config, state, job.source(), job.now)
    prefix = raw_prefix(ctx.account, system.name, ds.name, ctx.run_id)
    fetched = _fetch(job, ds, the_plan, prefix)
    columns = column_names(list(fetched.schema.fields))
    loaded = Loader(
        ctx.services.warehouse, ctx.account, system.table(ds), ds.key, columns, job.now, ctx.run_id
    ).load(ctx.services.blobs, fetched.parts)
    new_state = _next_state(job, ds, the_plan, state, fetched)
    report = _report(job, ds, the_plan, state, new_state, fetched, loaded)
    manifest_uri = ctx.services.blobs.write_bytes(
        prefix + "manifest.json",
        json.dumps(_manifest(job, ds, report, fetched, columns), indent=1).encode(),
        "application/json",
    )
    # Last: only now is the data safely landed and loaded, so only now may the watermark move.
    write_state(ctx.services.blobs, state_key, new_state)
    return {**report, "manifest": manifest_uri}


def _fetch(job: Job, ds: Dataset, the_plan: Plan, prefix: str) -> Fetched:
    try:
        return _fetch_listings(job, ds, the_plan.listings, prefix)
    except UpstreamRequestError as e:
        if not (the_plan.resumed and e.context.get("status") == 410):
            raise
        logger.warning(
            "%s %s: delta link expired (410); reading the feed again from the start",
            job.system.name,
            ds.name,
        )
        full = plan(job.system, ds, job.config, None, job.source(), job.now)
        fetched = _fetch_listings(job, ds, full.listings, prefix)
        fetched.resynced = True
        return fetched


def _fetch_listings(job: Job, ds: Dataset, listings: list[Planned], prefix: str) -> Fetched:
    blobs = job.ctx.services.blobs
    stale = clear_prefix(blobs, prefix)
    if stale:
        logger.info("%s: removed %d files of an unfinished attempt", prefix, stale)
    size = page_size(job.system, job.config)
    with tempfile.TemporaryDirectory(prefix="mhi-extract-") as workdir:
        writer = PartWriter(blobs, prefix, job.config.rows_per_file, workdir)
        fetched = Fetched(
            [], SchemaTracker(ds.key, ds.required), WatermarkTracker(ds.watermark_field)
        )
        for listing in listings:
            _page_through(job, ds, listing, size, writer, fetched)
        fetched.parts = writer.close()
    return fetched


def _page_through(
    job: Job, ds: Dataset, listing: Planned, size: int, writer: PartWriter, out: Fetched
) -> None:
    """Page through one listing. The next page is fetched while this one is written (one page
    ahead, never more: memory stays at two pages)."""
    first = ds.paging.first(listing.request.url, listing.request.params, size)
    current = replace(first, headers=listing.request.headers)
    guard = Progress(job.system.name)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending = pool.submit(_get, job, current)
        for _ in range(MAX_PAGES):
            page = ds.paging.parse(current, pending.result(), size)
            guard.check(current, page)
            if page.next is not None:
                pending = pool.submit(_get, job, page.next)
            _take(job, listing, current, page, writer, out)
            if page.next is None:
                return
            current = page.next
    raise UnexpectedResponseError(f"{job.system.name}: more than {MAX_PAGES} pages in one listing")


def _get(job: Job, request: Request) -> Any:
    return job.client.get_json(request.url, request.params, request.headers)


def _take(
    job: Job, listing: Planned, request: Request, page: Page, writer: PartWriter, out: Fetched
) -> None:
    records = [{**listing.tags, **r} for r in page.records] if listing.tags else page.records
    for record in records:
        out.schema.observe(record)
        out.marks.observe(record)
    writer.write(records)
    out.pages.append(
        {
            "url": describe(request.url),
            "params": {k: str(v) for k, v in request.params.items()},
            "fetched_at": job.ctx.services.clock.now().isoformat(),
            "records": len(records),
        }
    )
    out.cursor = page.cursor or out.cursor


def _next_state(
    job: Job, ds: Dataset, the_plan: Plan, state: WatermarkState | None, fetched: Fetched
) -> WatermarkState:
    inc, previous = ds.incremental, state.value if state else None
    value: str | None = None
    if isinstance(inc, ModifiedSince):
        old = parse_instant(previous) if previous else None
        new = max((d for d in (old, fetched.marks.high) if d is not None), default=None)
        value = new.isoformat() if new else None
    elif isinstance(inc, DateWindow) and the_plan.window.until is not None:
        # Scanned up to the window's end, but a window reaching into the future (stays not yet
        # arrived) only counts up to today: the next run re-scans from here minus the lookback.
        end = min(the_plan.window.until - timedelta(days=1), job.now).date()
        value = max(previous or "", end.isoformat())
    elif isinstance(inc, DeltaLink):
        value = fetched.cursor or previous
    fields = list(fetched.schema.fields) if fetched.schema.rows else (state.fields if state else [])
    return WatermarkState(
        value=value,
        kind=inc.kind,
        fields=fields,
        schema_hash=fetched.schema.schema_hash()
        if fetched.schema.rows
        else (state.schema_hash if state else ""),
        run_id=job.ctx.run_id,
        saved_at=job.now.isoformat(),
        rows=fetched.schema.rows,
    )


def _report(
    job: Job,
    ds: Dataset,
    the_plan: Plan,
    state: WatermarkState | None,
    new_state: WatermarkState,
    fetched: Fetched,
    loaded: int,
) -> dict[str, Any]:
    w, marks = the_plan.window, fetched.marks
    return {
        "table": job.system.table(ds),
        "rows": fetched.schema.rows,
        "loaded": loaded,
        "files": len(fetched.parts),
        "file_uris": [p.uri for p in fetched.parts[:20]],
        "pages": len(fetched.pages),
        "listings": len(the_plan.listings),
        "window": {
            "since": w.since.isoformat() if w.since else None,
            "until": w.until.isoformat() if w.until else None,
            "resumed_from_delta_link": the_plan.resumed,
            "resynced": fetched.resynced,
        },
        "watermark": {
            "field": ds.watermark_field,
            "previous": state.value if state else None,
            "new": new_state.value,
            "min_seen": marks.low.isoformat() if marks.low else None,
            "max_seen": marks.high.isoformat() if marks.high else None,
            "unreadable": marks.unreadable,
        },
        "schema_hash": new_state.schema_hash,
        "schema_changes": fetched.schema.changes(state.fields if state else None),
        "missing_required": dict(sorted(fetched.schema.missing.items())),
        "rejected_without_key": fetched.schema.rejected,
        "unconfirmed": ds.unconfirmed,  # None: the vendor's public material confirms it
    }


def _manifest(
    job: Job, ds: Dataset, report: dict[str, Any], fetched: Fetched, columns: dict[str, str]
) -> dict[str, Any]:
    ctx = job.ctx
    return {
        **{k: v for k, v in report.items() if k != "file_uris"},
        "account": ctx.account,
        "system": job.system.name,
        "dataset": ds.name,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "attempt": ctx.attempt,
        "landed_at": job.now.isoformat(),
        "key": list(ds.key),
        "format": "ndjson.gz",
        "files": [{"key": p.key, "rows": p.rows, "bytes": p.bytes} for p in fetched.parts],
        "columns": columns,
        "requests": fetched.pages,
    }
