"""What every Cloud Storage adapter does with its bucket: read an object or None, list a
prefix, delete if present, with the library's retry, a request timeout and translated errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from mhi.adapters.gcp.gcs_errors import REQUEST_TIMEOUT_SECONDS, RETRY, translated

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import storage


class GcsBucket:
    """Base of the run store, blob store and flow source: one bucket of one client."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        *,
        retry: Retry = RETRY,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self.client = client
        self.bucket_name = bucket
        self._bucket = client.bucket(bucket)
        self._retry = retry
        self._timeout = timeout

    def _uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{key}"

    def _read(self, key: str, op: str = "read") -> bytes | None:
        """Return the object's bytes, or None when it does not exist."""
        with translated(op, self._uri(key)):
            try:
                data: bytes = self._bucket.blob(key).download_as_bytes(
                    retry=self._retry, timeout=self._timeout
                )
            except gexc.NotFound:
                return None
        return data

    def _list(self, prefix: str) -> list[str]:
        """Return every key starting with `prefix`, sorted (listings are strongly consistent)."""
        with translated("list", self._uri(prefix)):
            names = [
                blob.name
                for blob in self.client.list_blobs(
                    self.bucket_name, prefix=prefix, retry=self._retry, timeout=self._timeout
                )
            ]
        return sorted(names)

    def _delete(self, key: str) -> None:
        """Delete `key` if present."""
        with translated("delete", self._uri(key)):
            try:
                self._bucket.blob(key).delete(retry=self._retry, timeout=self._timeout)
            except gexc.NotFound:
                return
