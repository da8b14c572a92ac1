"""Stored flow definitions in FLOWS_BUCKET, for `{"flow_ref": "<flow_id>"}` starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.api_core import exceptions as gexc

from shared.adapters.gcp.clients import require, storage_client
from shared.adapters.gcp.gcs_errors import REQUEST_TIMEOUT_SECONDS, RETRY, translated
from shared.config import Settings
from shared.constants import SAFE_ID_RE
from shared.errors import InvalidMessageError

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import storage


def flow_object(flow_id: str) -> str:
    """The object holding a stored flow: `<flow_id>.json` at the bucket's root.

    Deploy (terraform / CI) uploads every `flows/*.json` under this name.
    """
    if not SAFE_ID_RE.match(flow_id):
        raise InvalidMessageError(f"flow_ref {flow_id!r} is not a valid flow id")
    return f"{flow_id}.json"


class GcsFlowSource:
    """`FlowSource` over a Cloud Storage bucket of `<flow_id>.json` objects."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        *,
        retry: Retry = RETRY,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self.bucket_name = bucket
        self._bucket = client.bucket(bucket)
        self._retry = retry
        self._timeout = timeout

    def get(self, flow_id: str) -> bytes | None:
        """Return the stored flow JSON, or None when there is none."""
        name = flow_object(flow_id)
        with translated("read flow", f"gs://{self.bucket_name}/{name}"):
            try:
                data: bytes = self._bucket.blob(name).download_as_bytes(
                    retry=self._retry, timeout=self._timeout
                )
            except gexc.NotFound:
                return None
        return data


def from_settings(settings: Settings) -> GcsFlowSource:
    """Build the flow source on FLOWS_BUCKET."""
    return GcsFlowSource(storage_client(settings), require(settings.flows_bucket, "FLOWS_BUCKET"))
