"""`python -m mhi.dev.storage_emulator --port P`: gcp-storage-emulator in memory, for the
dev stack and the tests.

In memory, the stock emulator still re-serialises the metadata of every object it holds after
every write (O(objects) per write), and nothing ever reads that snapshot back. After a few
thousand run-state objects that makes the emulator, not the code under test, the bottleneck of an
end-to-end run. This launcher skips the snapshot; everything else (routing, object semantics,
the ignored preconditions) is the emulator's own.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator on 127.0.0.1 until interrupted."""
    from gcp_storage_emulator.server import create_server

    parser = argparse.ArgumentParser(description="in-memory gcp-storage-emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = create_server(args.host, args.port, in_memory=True)
    storage = getattr(server, "_storage", None)
    if storage is not None and hasattr(storage, "_write_config_to_file"):
        storage._write_config_to_file = lambda: None  # the in-memory snapshot nobody reads
    else:
        logger.warning("gcp-storage-emulator internals changed: running it unmodified")
    server.run()


if __name__ == "__main__":
    main()
