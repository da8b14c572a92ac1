"""Axional ERP (Deister): journal entries, invoices issued and received, suppliers, cost centres.

No public API documentation: the generic UNCONFIRMED contract of `_generic`. The host is the
account's secret `axional-base-url` (or `MHI_AXIONAL_BASE_URL`), never the flow. Accounting
entries are re-read over a trailing 7 days on every run (closings change recent periods).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from mhi.connectors.extract import make_kind
from mhi.connectors.spec import System
from mhi.connectors.systems._generic import TOKEN, GenericConfig, auth, dataset

WEEK = timedelta(days=7)


class AxionalConfig(GenericConfig):
    """Options of `ms-extractor-axional`. UNCONFIRMED contract (no public API docs); the API
    root is the account's secret `axional-base-url`."""

    system_name: ClassVar[str] = "axional"


SYSTEM = System(
    name="axional",
    config_model=AxionalConfig,
    datasets=(
        dataset(
            "journal_entries",
            ("account", "posting_date", "debit", "credit"),
            "ledger lines: account, cost centre, debit, credit, posting date",
            rescan=WEEK,
        ),
        dataset(
            "invoices_issued", ("number", "issue_date", "total"), "sales invoices", rescan=WEEK
        ),
        dataset(
            "invoices_received",
            ("number", "issue_date", "total"),
            "supplier invoices",
            rescan=WEEK,
        ),
        dataset("suppliers", ("name",), "supplier master data"),
        dataset("cost_centres", ("code",), "cost centres"),
    ),
    auth=auth,
    token=TOKEN,
    requests_per_second=1.0,
    page_size=500,
    summary="Axional ERP: ledger entries, invoices, accounts",
)

KIND = make_kind(SYSTEM)
