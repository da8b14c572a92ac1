"""SQL files of `ms-sql` (`"sql_file": "monthly_revenue.sql"`): `flows/sql/` beside the flows.

Locally they are read from `$MHI_FLOWS_DIR/sql/` (default `flows/sql/`); in production from the
`sql/` folder of FLOWS_BUCKET, where deploy uploads `flows/sql/` with the flows (`mhi package
--flows`). A name is a relative path inside that folder: no `..`, no absolute path.
"""

from __future__ import annotations

import re

from mhi.config import Settings
from mhi.errors import StepExecutionError

SQL_FILE_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*\.sql$")
FOLDER = "sql"
MAX_SQL_BYTES = 256 * 1024


def check_name(name: str) -> str:
    """Return a SQL file name, or raise ValueError saying what is wrong."""
    if not SQL_FILE_RE.match(name) or ".." in name.split("/"):
        raise ValueError(
            f"sql_file {name!r} must be a relative path ending in .sql inside flows/sql/ "
            "(letters, digits, '_', '-', '.' and '/'; no '..'), e.g. monthly_revenue.sql"
        )
    return name


def _decode(data: bytes, where: str) -> str:
    if len(data) > MAX_SQL_BYTES:
        raise StepExecutionError(f"{where} is {len(data)} bytes, more than {MAX_SQL_BYTES}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StepExecutionError(f"{where} is not UTF-8 text (byte {e.start})") from None


def read_sql_file(settings: Settings, name: str) -> str:
    """Return the text of SQL file `name` of this deployment.

    Raises:
        StepExecutionError: the file does not exist or is not UTF-8 text.
    """
    check_name(name)
    if settings.backend == "gcp" and settings.flows_bucket:
        from mhi.adapters.gcp.clients import storage_client
        from mhi.adapters.gcp.gcs_blob_store import GcsBlobStore

        where = f"gs://{settings.flows_bucket}/{FOLDER}/{name}"
        bucket = GcsBlobStore(storage_client(settings), settings.flows_bucket)
        data = bucket.read_bytes(f"{FOLDER}/{name}")
    else:
        path = settings.flows_dir / FOLDER / name
        where = str(path)
        data = path.read_bytes() if path.is_file() else None
    if data is None:
        raise StepExecutionError(
            f"sql_file {name!r} not found: looked for {where} (flows/sql/ is uploaded with the "
            "flows: `mhi package --flows`)"
        )
    return _decode(data, where)
