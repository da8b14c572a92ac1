"""Blob store on Cloud Storage (`gs://` URIs): landed raw data, charts, outbox mail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from shared.adapters.gcp.clients import require, storage_client
from shared.adapters.gcp.gcs_errors import REQUEST_TIMEOUT_SECONDS, RETRY, translated
from shared.adapters.local.fs_run_store import check_key
from shared.config import Settings

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import storage


class GcsBlobStore:
    """`BlobStore` on a Cloud Storage bucket (RAW_BUCKET). Writes replace the object whole."""

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

    def write_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Write (or replace) `key`; return its gs:// URI."""
        check_key(key)
        with translated("write", self._uri(key)):
            # An unconditional upload is safe to retry: the same bytes land either way.
            self._bucket.blob(key).upload_from_string(
                data, content_type=content_type, retry=self._retry, timeout=self._timeout
            )
        return self._uri(key)

    def upload_file(
        self, key: str, path: str, content_type: str = "application/octet-stream"
    ) -> str:
        """Upload a local file to `key` (resumable for large files); return its gs:// URI."""
        check_key(key)
        with translated("upload", self._uri(key)):
            self._bucket.blob(key).upload_from_filename(
                path, content_type=content_type, retry=self._retry, timeout=self._timeout
            )
        return self._uri(key)

    def read_bytes(self, key: str) -> bytes | None:
        """Return the object's bytes, or None when absent."""
        check_key(key)
        with translated("read", self._uri(key)):
            try:
                data: bytes = self._bucket.blob(key).download_as_bytes(
                    retry=self._retry, timeout=self._timeout
                )
            except gexc.NotFound:
                return None
        return data

    def list(self, prefix: str) -> list[str]:
        """Return every key starting with `prefix`, sorted."""
        with translated("list", self._uri(prefix)):
            names = [
                b.name
                for b in self.client.list_blobs(
                    self.bucket_name, prefix=prefix, retry=self._retry, timeout=self._timeout
                )
            ]
        return sorted(names)

    def delete(self, key: str) -> None:
        """Delete `key` if present."""
        check_key(key)
        with translated("delete", self._uri(key)):
            try:
                self._bucket.blob(key).delete(retry=self._retry, timeout=self._timeout)
            except gexc.NotFound:
                return


def from_settings(settings: Settings) -> GcsBlobStore:
    """Build the blob store on RAW_BUCKET."""
    return GcsBlobStore(storage_client(settings), require(settings.raw_bucket, "RAW_BUCKET"))
