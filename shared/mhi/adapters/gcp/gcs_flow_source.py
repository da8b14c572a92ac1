"""Stored flow definitions in FLOWS_BUCKET, for `{"flow_ref": "<flow_id>"}` starts."""

from __future__ import annotations

from mhi.adapters.gcp.clients import require, storage_client
from mhi.adapters.gcp.gcs_bucket import GcsBucket
from mhi.config import Settings
from mhi.constants import SAFE_ID_RE
from mhi.errors import InvalidMessageError


def flow_object(flow_id: str) -> str:
    """The object holding a stored flow: `<flow_id>.json` at the bucket's root.

    Deploy (terraform / CI) uploads every `flows/*.json` under this name.
    """
    if not SAFE_ID_RE.match(flow_id):
        raise InvalidMessageError(f"flow_ref {flow_id!r} is not a valid flow id")
    return f"{flow_id}.json"


class GcsFlowSource(GcsBucket):
    """`FlowSource` over a Cloud Storage bucket of `<flow_id>.json` objects."""

    def get(self, flow_id: str) -> bytes | None:
        """Return the stored flow JSON, or None when there is none."""
        return self._read(flow_object(flow_id), "read flow")

    def list_ids(self) -> list[str]:
        """The ids of every stored flow (`<flow_id>.json` at the bucket's root), sorted."""
        return sorted(k[:-5] for k in self._list("") if k.endswith(".json") and "/" not in k)


def from_settings(settings: Settings) -> GcsFlowSource:
    """Build the flow source on FLOWS_BUCKET."""
    return GcsFlowSource(storage_client(settings), require(settings.flows_bucket, "FLOWS_BUCKET"))
