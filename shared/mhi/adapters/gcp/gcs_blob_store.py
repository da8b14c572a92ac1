"""Blob store on Cloud Storage (`gs://` URIs): landed raw data, charts, outbox mail."""

from __future__ import annotations

from mhi.adapters.gcp.clients import require, storage_client
from mhi.adapters.gcp.gcs_bucket import GcsBucket
from mhi.adapters.gcp.gcs_errors import translated
from mhi.adapters.local.fs_run_store import check_key
from mhi.config import Settings


class GcsBlobStore(GcsBucket):
    """`BlobStore` on a Cloud Storage bucket (RAW_BUCKET). Writes replace the object whole."""

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
        return self._read(check_key(key))

    def list(self, prefix: str) -> list[str]:
        """Return every key starting with `prefix`, sorted."""
        return self._list(prefix)

    def delete(self, key: str) -> None:
        """Delete `key` if present."""
        self._delete(check_key(key))


def from_settings(settings: Settings) -> GcsBlobStore:
    """Build the blob store on RAW_BUCKET."""
    return GcsBlobStore(storage_client(settings), require(settings.raw_bucket, "RAW_BUCKET"))
