"""Settings → adapters. The only place that decides which back end serves which port."""

from __future__ import annotations

import importlib
from typing import Any

from mhi.config import Settings
from mhi.ports import FlowSource

# port name -> backend -> "module:factory"; each factory takes Settings.
_FACTORIES: dict[str, dict[str, str]] = {
    "run_store": {
        "local": "mhi.runtime.wiring:_local_run_store",
        "gcp": "mhi.adapters.gcp.gcs_run_store:from_settings",
    },
    "blobs": {
        "local": "mhi.runtime.wiring:_local_blobs",
        "gcp": "mhi.adapters.gcp.gcs_blob_store:from_settings",
    },
    "secrets": {
        "local": "mhi.runtime.wiring:_local_secrets",
        "gcp": "mhi.adapters.gcp.secret_manager:from_settings",
    },
    "bus": {
        "local": "mhi.runtime.wiring:_no_local_bus",
        "gcp": "mhi.adapters.gcp.pubsub_bus:from_settings",
    },
    "warehouse": {
        "duckdb": "mhi.adapters.local.duckdb_warehouse:from_settings",
        "bigquery": "mhi.adapters.gcp.bigquery_warehouse:from_settings",
    },
    # Locally the embedded runtime's own clock wakes runs; on gcp, Cloud Tasks.
    "timers": {
        "local": "mhi.runtime.wiring:_local_timers",
        "gcp": "mhi.adapters.gcp.cloud_tasks_timers:from_settings",
    },
}


def build(name: str, settings: Settings) -> Any:
    """Build the adapter for port `name` from settings."""
    choices = _FACTORIES[name]
    backend = {"warehouse": settings.warehouse, "secrets": settings.secrets_backend}.get(
        name, settings.backend
    )
    module, _, attr = choices[backend].partition(":")
    return getattr(importlib.import_module(module), attr)(settings)


def flow_source(settings: Settings) -> FlowSource:
    """Where `{"flow_ref": ...}` starts find stored flows: FLOWS_BUCKET when set, else a folder.

    Clients for the emulators or the real services are chosen from settings
    (`STORAGE_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`) in `mhi.adapters.gcp.clients`.
    """
    if settings.backend == "gcp" and settings.flows_bucket:
        from mhi.adapters.gcp.gcs_flow_source import from_settings

        return from_settings(settings)
    from mhi.runtime.start import FolderFlowSource

    return FolderFlowSource(settings.flows_dir)


def _local_run_store(settings: Settings) -> Any:
    from mhi.adapters.local.fs_run_store import FsRunStore

    return FsRunStore(settings.home / "state")


def _local_blobs(settings: Settings) -> Any:
    from mhi.adapters.local.fs_blob_store import FsBlobStore

    return FsBlobStore(settings.home / "blobs")


def _local_secrets(settings: Settings) -> Any:
    from mhi.adapters.local.env_secrets import EnvSecretStore

    return EnvSecretStore(settings.secrets_file)


def _local_timers(settings: Settings) -> Any:
    from mhi.adapters.local.timers import SweepOnlyTimers

    return SweepOnlyTimers()


def _no_local_bus(settings: Settings) -> Any:
    raise RuntimeError(
        "the local back end has no standalone bus: run flows with `mhi run` (embedded runtime)"
    )
