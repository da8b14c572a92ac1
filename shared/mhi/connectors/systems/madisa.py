"""Madisa POS: tickets, ticket lines, payments, cash closings (Z reports) and products.

No public API documentation: the generic UNCONFIRMED contract of `_generic`. The host is the
account's secret `madisa-base-url` (or `MHI_MADISA_BASE_URL`), never the flow. Cash closings are
re-read over a trailing 7 days (a late Z report rewrites the day).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from mhi.connectors.extract import make_kind
from mhi.connectors.spec import System
from mhi.connectors.systems._generic import TOKEN, GenericConfig, auth, dataset


class MadisaConfig(GenericConfig):
    """Options of `ms-extractor-madisa`. UNCONFIRMED contract (no public API docs); the API
    root is the account's secret `madisa-base-url`."""

    system_name: ClassVar[str] = "madisa"


SYSTEM = System(
    name="madisa",
    config_model=MadisaConfig,
    datasets=(
        dataset(
            "tickets",
            ("outlet_id", "opened_at", "total"),
            "POS tickets: outlet, terminal, open/close times, covers, total, tax",
        ),
        dataset(
            "ticket_lines",
            ("ticket_id", "product", "qty", "unit_price"),
            "ticket lines: product, quantity, price, discount",
        ),
        dataset("payments", ("ticket_id", "method", "amount"), "payments per ticket"),
        dataset(
            "cash_closings",
            ("terminal_id", "date", "total"),
            "Z reports per day and terminal",
            rescan=timedelta(days=7),
        ),
        dataset("products", ("name",), "product catalogue"),
    ),
    auth=auth,
    token=TOKEN,
    requests_per_second=1.0,
    page_size=500,
    summary="Madisa POS: tickets and ticket lines",
)

KIND = make_kind(SYSTEM)
