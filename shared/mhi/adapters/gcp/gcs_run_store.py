"""Run store on Cloud Storage: every object written once, with `if_generation_match=0`.

A `412 Precondition Failed` means "someone else created it first" and is an answer, not an
error. One subtlety: the library retries a create after a lost response, and the retry then gets
412 for the object the first try did write. Each create therefore carries a random writer token
in its metadata; on 412 the token is compared, so a create reports True exactly when this call's
bytes are the ones stored.

The gcp-storage-emulator ignores preconditions (a second create overwrites and reports success).
With `emulated_preconditions` (wired on when STORAGE_EMULATOR_HOST is set) a create first checks
that the object is absent: that restores write-once for sequential duplicates (redeliveries,
repeated starts and callbacks), but two truly concurrent creates can both win. Races between
controller instances are therefore tested on the local store, whose create is atomic.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from mhi.adapters.gcp.clients import require, storage_client
from mhi.adapters.gcp.gcs_bucket import GcsBucket
from mhi.adapters.gcp.gcs_errors import REQUEST_TIMEOUT_SECONDS, RETRY, translated
from mhi.adapters.local.fs_run_store import StoreStats, check_key
from mhi.config import Settings

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import storage

logger = logging.getLogger(__name__)

WRITER_KEY = "mhi-writer"


class GcsRunStore(GcsBucket):
    """`RunStore` on a Cloud Storage bucket (RUNS_BUCKET)."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        *,
        retry: Retry = RETRY,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        emulated_preconditions: bool = False,
    ) -> None:
        super().__init__(client, bucket, retry=retry, timeout=timeout)
        self.emulated_preconditions = emulated_preconditions
        self.stats = StoreStats()

    def create(self, key: str, data: bytes) -> bool:
        """Create `key` only if absent; False if it already existed (412)."""
        check_key(key)
        self.stats.creates += 1
        token = secrets.token_hex(12)
        blob = self._bucket.blob(key)
        blob.metadata = {WRITER_KEY: token}
        with translated("create", self._uri(key)):
            if self.emulated_preconditions and self._bucket.get_blob(
                key, retry=self._retry, timeout=self._timeout
            ):
                return False
            try:
                blob.upload_from_string(
                    data,
                    content_type="application/json",
                    if_generation_match=0,
                    retry=self._retry,
                    timeout=self._timeout,
                )
            except gexc.PreconditionFailed:
                return self._written_by(key, token)
        return True

    def _written_by(self, key: str, token: str) -> bool:
        existing = self._bucket.get_blob(key, retry=self._retry, timeout=self._timeout)
        mine = existing is not None and (existing.metadata or {}).get(WRITER_KEY) == token
        if mine:
            logger.info("create of %s: 412 after a retried upload that had succeeded", key)
        return mine

    def read(self, key: str) -> bytes | None:
        """Return the object's bytes, or None when it does not exist."""
        check_key(key)
        self.stats.reads += 1
        return self._read(key)

    def list(self, prefix: str) -> list[str]:
        """Return every key starting with `prefix`, sorted (listings are strongly consistent)."""
        self.stats.lists += 1
        names = self._list(prefix)
        self.stats.listed += len(names)
        return names

    def list_page(self, prefix: str, *, start_after: str | None, limit: int) -> list[str]:
        """At most `limit` keys starting with `prefix` after `start_after`, sorted: one request
        for one page, however many objects the prefix holds."""
        self.stats.lists += 1
        with translated("list", self._uri(prefix)):
            blobs = self.client.list_blobs(
                self.bucket_name,
                prefix=prefix,
                start_offset=start_after,
                max_results=limit + 1,
                retry=self._retry,
                timeout=self._timeout,
            )
            names = sorted(b.name for b in blobs)
        keys = [n for n in names if start_after is None or n > start_after][:limit]
        self.stats.listed += len(keys)
        return keys

    def delete(self, key: str) -> None:
        """Delete `key` if present (only the active-run index is ever deleted)."""
        check_key(key)
        self.stats.deletes += 1
        self._delete(key)


def from_settings(settings: Settings) -> GcsRunStore:
    """Build the run store on RUNS_BUCKET."""
    return GcsRunStore(
        storage_client(settings),
        require(settings.runs_bucket, "RUNS_BUCKET"),
        emulated_preconditions=bool(settings.storage_emulator_host),
    )
