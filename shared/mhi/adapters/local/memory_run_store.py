"""An in-memory RunStore: the test double for the run-store port (thread-safe)."""

from __future__ import annotations

import bisect
import threading

from mhi.adapters.local.fs_run_store import StoreStats, check_key


class MemoryRunStore:
    """`RunStore` in a dict. Keys are kept sorted so listing a prefix costs what it returns."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._keys: list[str] = []
        self._lock = threading.Lock()
        self.stats = StoreStats()

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` if absent; False if it already existed."""
        check_key(key)
        with self._lock:
            self.stats.creates += 1
            if key in self.objects:
                return False
            self.objects[key] = bytes(data)
            bisect.insort(self._keys, key)
            return True

    def read(self, key: str) -> bytes | None:
        """Return the object or None."""
        with self._lock:
            self.stats.reads += 1
            return self.objects.get(key)

    def list(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""
        with self._lock:
            self.stats.lists += 1
            start = bisect.bisect_left(self._keys, prefix)
            out = []
            for key in self._keys[start:]:
                if not key.startswith(prefix):
                    break
                out.append(key)
            self.stats.listed += len(out)
            return out

    def list_page(self, prefix: str, *, start_after: str | None, limit: int) -> list[str]:
        """At most `limit` keys starting with `prefix` after `start_after`, sorted."""
        with self._lock:
            self.stats.lists += 1
            start = bisect.bisect_right(self._keys, max(prefix, start_after or ""))
            if start_after is None or start_after < prefix:
                start = bisect.bisect_left(self._keys, prefix)
            out = []
            for key in self._keys[start:]:
                if not key.startswith(prefix) or len(out) >= limit:
                    break
                out.append(key)
            self.stats.listed += len(out)
            return out

    def delete(self, key: str) -> None:
        """Delete `key` if present."""
        with self._lock:
            self.stats.deletes += 1
            if self.objects.pop(key, None) is not None:
                self._keys.remove(key)
