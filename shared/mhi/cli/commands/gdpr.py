"""`mhi gdpr erase`: remove one guest's data from an account (the right to erasure).

It searches the landed raw files of the blob store (`raw/<account>/`, gzip NDJSON: the local
`$MHI_HOME/blobs`, or RAW_BUCKET on gcp) and every warehouse table of the account outside the
aggregate layers (DuckDB locally, BigQuery on gcp), removes the rows that hold the guest, and
reports what it removed. `--dry-run` reports what it would remove. Exit 0 either way.
"""

from __future__ import annotations

import argparse
import json

from mhi.cli.common import services_from_env
from mhi.constants import SAFE_ID_RE
from mhi.errors import InvalidMessageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mhi gdpr erase`."""
    p = sub.add_parser("gdpr", help="personal data: erase one guest's data (right to erasure)")
    gdpr = p.add_subparsers(dest="gdpr_command", metavar="COMMAND", required=True)
    erase = gdpr.add_parser(
        "erase",
        help="remove a guest's rows from the landed raw files and the warehouse tables",
        description="Find every landed raw record and warehouse row holding one of the "
        "guest's identifiers (any given: email, name, phone; repeat an option for several) "
        "and remove it. Model rows are found by the guest's keyed hash. Run with --dry-run "
        "first: a name may be shared by several guests.",
    )
    erase.add_argument("--account", required=True, help="the account (hotel group) to search")
    erase.add_argument("--email", action="append", default=[], help="the guest's email")
    erase.add_argument("--name", action="append", default=[], help="the guest's full name")
    erase.add_argument("--phone", action="append", default=[], help="the guest's phone")
    erase.add_argument("--dry-run", action="store_true", help="report only, remove nothing")
    erase.add_argument("--json", action="store_true", help="print the report as JSON")
    erase.set_defaults(func=run_erase)


def run_erase(args: argparse.Namespace) -> int:
    """Erase the guest; print what was removed (never the identifiers or any key)."""
    from mhi.analytics.personal import read_guest_key
    from mhi.gdpr.backends import guest_tables
    from mhi.gdpr.erase import erase_guest
    from mhi.gdpr.guest import Guest

    account = args.account
    if not SAFE_ID_RE.match(account):
        raise InvalidMessageError(f"--account {account!r} is not an account id")
    guest = Guest.of(args.email, args.name, args.phone)
    services = services_from_env()
    known = services.settings.accounts or ()
    report = erase_guest(
        account,
        guest,
        blobs=services.blobs,
        tables=guest_tables(services.warehouse, known),
        read_key=lambda: read_guest_key(lambda n: services.secrets.get(account, n), account),
        dry_run=args.dry_run,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print("\n".join(report.lines()))
    return 0
