"""Blob store on a local folder (`file://` URIs)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mhi.adapters.local.fs_run_store import check_key


class FsBlobStore:
    """`BlobStore` on a folder. Writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _publish(self, key: str, fill: object) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                fill(f)  # type: ignore[operator]
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return path.as_uri()

    def write_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Write `key`; return its file:// URI."""
        return self._publish(key, lambda f: f.write(data))

    def upload_file(
        self, key: str, path: str, content_type: str = "application/octet-stream"
    ) -> str:
        """Copy a local file to `key`; return its file:// URI."""

        def _copy(f: object) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, f)  # type: ignore[arg-type]

        return self._publish(key, _copy)

    def read_bytes(self, key: str) -> bytes | None:
        """Return the bytes of `key` or None."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def list(self, prefix: str) -> list[str]:
        """Return every key under `prefix`, sorted."""
        base = prefix.rpartition("/")[0]
        start = self.root / base if base else self.root
        if not start.is_dir():
            return []
        out = []
        for p in start.rglob("*"):
            key = p.relative_to(self.root).as_posix()
            if p.is_file() and not p.name.startswith(".tmp-") and key.startswith(prefix):
                out.append(key)
        return sorted(out)

    def delete(self, key: str) -> None:
        """Delete `key` if present."""
        self._path(key).unlink(missing_ok=True)
