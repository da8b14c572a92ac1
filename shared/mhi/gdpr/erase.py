"""Erase one guest's data from an account (the right to erasure), and say what went.

Order: the landed raw files first, then the warehouse tables without a `guest_key` (the raw
layer, where clear values live), then the tables with one (the model's reservations, found by
the keys of the identifiers given and of every removed raw row's guest, so a guest named only by
name also leaves the rows keyed by their email), then the rows of those bookings in the other
tables of the same layer (stay nights, the validation report: by hotel and reservation id).
A second run finds nothing.
Nothing here logs or prints an identifier or the hash key: only keys of files, tables and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mhi.analytics.personal import guest_columns, guest_keys, identity_of, key_of
from mhi.gdpr.guest import Guest, booking_predicate, predicate
from mhi.gdpr.landed import FileErasure, erase_landed
from mhi.gdpr.tables import GuestTables, TextTable
from mhi.ports import BlobStore

logger = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    """What one erasure found (and removed, unless it was a dry run)."""

    account: str
    dry_run: bool
    files: list[FileErasure] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)
    not_searched: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows found in files and tables together."""
        return sum(f.removed for f in self.files) + sum(self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "account": self.account,
            "dry_run": self.dry_run,
            "rows": self.total,
            "files": [{"key": f.key, "rows": f.removed, "kept": f.kept} for f in self.files],
            "tables": dict(self.tables),
            "not_searched": list(self.not_searched),
        }

    def lines(self) -> list[str]:
        """Return the report as lines for people."""
        verb = "would remove" if self.dry_run else "removed"
        out = [f"account {self.account}" + (": dry run, nothing changed" if self.dry_run else "")]
        out += [f"  {f.key}: {verb} {f.removed} rows ({f.kept} kept)" for f in self.files]
        out += [f"  table {t}: {verb} {n} rows" for t, n in self.tables.items()]
        if not self.total:
            out.append("  nothing of this guest was found")
        out.append(f"{verb} {self.total} rows: {len(self.files)} files, {len(self.tables)} tables")
        out += [f"not searched (not gzip NDJSON): {k}" for k in self.not_searched]
        return out


@dataclass
class _Run:
    account: str
    guest: Guest
    tables: GuestTables
    dry_run: bool
    report: ErasureReport
    identities: list[dict[str, Any]] = field(default_factory=list)
    # (hotel, reservation_id) of removed rows that carried a guest key, by layer
    bookings: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def erase(self, table: TextTable, keys: set[str]) -> None:
        self.remove(table, predicate(table.columns, self.guest, keys, self.tables.quote))

    def erase_bookings(self, table: TextTable) -> None:
        """Remove the rows of the guest's bookings (stay nights, reports) from a model table."""
        layer = table.table.partition(".")[0]
        if {"hotel", "reservation_id"} <= set(table.columns):
            found = booking_predicate(self.bookings.get(layer, set()), self.tables.quote)
            self.remove(table, found)

    def remove(self, table: TextTable, found: tuple[str, dict[str, Any]] | None) -> None:
        if found is None:
            return
        where, params = found
        rows = self.tables.select(self.account, table.table, where, params)
        if rows.empty:
            return
        if "guest_key" not in table.columns:
            self.identities += guest_columns(rows).to_dict("records")
        elif {"hotel", "reservation_id"} <= set(rows.columns):
            pairs = rows[["hotel", "reservation_id"]].dropna().astype(str)
            layer = self.bookings.setdefault(table.table.partition(".")[0], set())
            layer.update(pairs.itertuples(index=False, name=None))
        removed = len(rows)
        if not self.dry_run:
            removed = self.tables.delete(self.account, table.table, where, params)
        self.report.tables[table.table] = removed
        logger.info(
            "%s: %d guest rows %s", table.table, removed, "found" if self.dry_run else "removed"
        )


def erase_guest(
    account: str,
    guest: Guest,
    *,
    blobs: BlobStore,
    tables: GuestTables,
    read_key: Callable[[], bytes],
    dry_run: bool = False,
) -> ErasureReport:
    """Find the guest's rows in the account's landed files and warehouse tables, remove them
    (not on a dry run) and return what was found.

    `read_key` returns the account's guest-hash key; it is called only when a table keeps
    guest keys.
    """
    report = ErasureReport(account, dry_run)
    landed = erase_landed(blobs, account, guest, dry_run=dry_run)
    report.files, report.not_searched = landed.files, landed.not_searched
    run = _Run(account, guest, tables, dry_run, report)
    run.identities += [identity_of(r) for r in landed.records]
    found = tables.text_tables(account)
    for table in [t for t in found if "guest_key" not in t.columns]:
        run.erase(table, set())
    keyed = [t for t in found if "guest_key" in t.columns]
    if keyed:
        key = read_key()
        keys = guest_keys(key, emails=guest.emails, names=guest.names, phones=guest.phones)
        keys |= {k for k in (key_of(key, i) for i in run.identities) if k}
        for table in keyed:
            run.erase(table, keys)
        for table in [t for t in found if "guest_key" not in t.columns]:
            run.erase_bookings(table)
    return report
