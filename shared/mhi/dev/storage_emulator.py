"""`python -m mhi.dev.storage_emulator --port P`: gcp-storage-emulator in memory, for the
dev stack and the tests.

In memory, the stock emulator still re-serialises the metadata of every object it holds after
every write (O(objects) per write), and nothing ever reads that snapshot back. After a few
thousand run-state objects that makes the emulator, not the code under test, the bottleneck of an
end-to-end run. This launcher skips the snapshot; everything else (routing, object semantics,
the ignored preconditions) is the emulator's own.

It also fixes one upload bug: the emulator reads a multipart upload's content with
`get_payload(decode=True)`, which is None for a `message/*` part (the notification outbox writes
`message/rfc822` mail), so every outbox write failed with a TypeError and the client retried it
for 30 s. The launcher reads such a part's content as the bytes that were sent.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)


def _related_parts(raw: bytes, content_type: str) -> dict[str, Any] | None:
    """The metadata and the exact content bytes of a `multipart/related` upload."""
    _, _, rest = content_type.partition("boundary=")
    boundary = rest.split(";")[0].strip().strip('"').encode()
    if not boundary:
        return None
    parts = [p for p in raw.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
    if len(parts) != 2:
        return None
    (_meta_head, meta), (head, content) = (_split_part(p) for p in parts)
    kind = next(
        (
            line.split(b":", 1)[1].strip().decode()
            for line in head.splitlines()
            if line.lower().startswith(b"content-type:")
        ),
        "application/octet-stream",
    )
    return {"meta": json.loads(meta), "content": content, "content-type": kind}


def _split_part(part: bytes) -> tuple[bytes, bytes]:
    head, _, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
    return head, body[:-2] if body.endswith(b"\r\n") else body


def _patch_message_uploads() -> bool:
    """Read `multipart/related` uploads byte for byte (see the module docstring)."""
    from gcp_storage_emulator import server

    original = getattr(server, "_read_data", None)
    read_raw = getattr(server, "_read_raw_data", None)
    decode_raw = getattr(server, "_decode_raw_data", None)
    if original is None or read_raw is None or decode_raw is None:
        return False

    def read_data(handler: Any, query: Any) -> Any:
        content_type = handler.headers.get("Content-Type") or ""
        if not content_type.startswith("multipart/related"):
            return original(handler, query)
        raw = decode_raw(read_raw(handler), handler)
        return _related_parts(raw, content_type) if raw else None

    server._read_data = read_data
    return True


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the emulator on 127.0.0.1 until interrupted."""
    from gcp_storage_emulator.server import create_server

    parser = argparse.ArgumentParser(description="in-memory gcp-storage-emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if not _patch_message_uploads():
        logger.warning("gcp-storage-emulator internals changed: uploads of mail may fail")
    server = create_server(args.host, args.port, in_memory=True)
    storage = getattr(server, "_storage", None)
    if storage is not None and hasattr(storage, "_write_config_to_file"):
        storage._write_config_to_file = lambda: None  # the in-memory snapshot nobody reads
    else:
        logger.warning("gcp-storage-emulator internals changed: running it unmodified")
    server.run()


if __name__ == "__main__":
    main()
