"""Run store on a local folder. Create-if-absent is atomic across processes (`os.link`)."""

from __future__ import annotations

import bisect
import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from mhi.errors import PermanentError


@dataclass
class StoreStats:
    """Operation counters (the benchmark reports store operations per step)."""

    creates: int = 0
    reads: int = 0
    lists: int = 0
    listed: int = 0
    deletes: int = 0


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root or are not plain relative paths."""
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or any(p in ("", ".", "..") for p in parts[:-1])
        or (parts[-1] in (".", ".."))
    ):
        raise PermanentError(f"invalid store key {key!r}")
    return key


class FsRunStore:
    """`RunStore` on a folder: each object is one file, published with a hard link so it is
    visible only complete, and exactly one of several racing writers wins."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.stats = StoreStats()
        self._dirs: set[str] = set()
        self._tmp_names = itertools.count()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` if absent; False if it already existed."""
        self.stats.creates += 1
        path = os.path.join(self.root, check_key(key))
        parent = os.path.dirname(path)
        if parent not in self._dirs:  # a hot path: skip mkdir for folders made before
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        tmp = os.path.join(
            parent, f".tmp-{os.getpid()}-{threading.get_ident()}-{next(self._tmp_names)}"
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.close(fd)
            os.link(tmp, path)  # atomic publish: fails if the key exists, content is complete
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        return True

    def read(self, key: str) -> bytes | None:
        """Return the object's bytes or None."""
        self.stats.reads += 1
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def list(self, prefix: str) -> list[str]:
        """Return every key under `prefix` (string prefix, as GCS), sorted."""
        self.stats.lists += 1
        base, _, _ = prefix.rpartition("/")
        start = self.root / base if base else self.root
        if not start.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            rel = os.path.relpath(dirpath, self.root)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            keys += [
                rel + f for f in files if not f.startswith(".tmp-") and (rel + f).startswith(prefix)
            ]
        keys.sort()
        self.stats.listed += len(keys)
        return keys

    def delete(self, key: str) -> None:
        """Delete `key` if present."""
        self.stats.deletes += 1
        self._path(key).unlink(missing_ok=True)

    def list_page(self, prefix: str, *, start_after: str | None, limit: int) -> list[str]:
        """At most `limit` keys of one folder `prefix` (ending in '/') after `start_after`,
        sorted: one directory read, whatever is below the folder's files."""
        if not prefix.endswith("/"):
            keys = [k for k in self.list(prefix) if start_after is None or k > start_after]
            return keys[:limit]
        self.stats.lists += 1
        try:
            names = sorted(
                e.name
                for e in os.scandir(self._path(prefix.rstrip("/")))
                if e.is_file() and not e.name.startswith(".tmp-")
            )
        except (FileNotFoundError, NotADirectoryError):
            return []
        after = "" if start_after is None else start_after[len(prefix) :]
        keys = [prefix + n for n in names[bisect.bisect_right(names, after) :][:limit]]
        self.stats.listed += len(keys)
        return keys
