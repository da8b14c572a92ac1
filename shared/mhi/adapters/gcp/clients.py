"""Google clients, built once per process from Settings: the emulator or the real service.

This is the one place that looks at `STORAGE_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST` (through
Settings); adapter constructors take a ready client and never decide it themselves.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from mhi.config import Settings

if TYPE_CHECKING:
    from google.cloud import pubsub_v1, storage

# An emulator accepts any project id; Pub/Sub rejects ids shorter than 6 characters.
EMULATOR_PROJECT = "mhi-local"

_lock = threading.Lock()
_storage: dict[tuple[str | None, str | None], storage.Client] = {}
_publishers: dict[str | None, pubsub_v1.PublisherClient] = {}


def project_id(settings: Settings) -> str:
    """The project that owns topics, secrets and buckets.

    Raises:
        ValueError: the gcp back end is selected without `_M_PROJECT_ID` (and no emulator).
    """
    if settings.project_id:
        return settings.project_id
    if settings.pubsub_emulator_host or settings.storage_emulator_host:
        return EMULATOR_PROJECT
    raise ValueError("the gcp back end needs _M_PROJECT_ID (or GOOGLE_CLOUD_PROJECT)")


def require(value: str | None, variable: str) -> str:
    """Return a required setting, or fail with the name of the variable to set."""
    if not value:
        raise ValueError(f"the gcp back end needs {variable}")
    return value


def storage_client(settings: Settings) -> storage.Client:
    """The process's Cloud Storage client (the emulator's when STORAGE_EMULATOR_HOST is set)."""
    key = (settings.project_id, settings.storage_emulator_host)
    with _lock:
        if key not in _storage:
            _storage[key] = _new_storage_client(settings)
        return _storage[key]


def _new_storage_client(settings: Settings) -> storage.Client:
    from google.cloud import storage

    host = settings.storage_emulator_host
    if host:
        from google.auth.credentials import AnonymousCredentials

        endpoint = host if host.startswith(("http://", "https://")) else f"http://{host}"
        return storage.Client(
            project=project_id(settings),
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    return storage.Client(project=settings.project_id)


def publisher_client(settings: Settings) -> pubsub_v1.PublisherClient:
    """The process's Pub/Sub publisher, created once and reused (batches, channels, threads)."""
    host = settings.pubsub_emulator_host
    with _lock:
        if host not in _publishers:
            _publishers[host] = _new_publisher(host)
        return _publishers[host]


def _new_publisher(emulator_host: str | None) -> pubsub_v1.PublisherClient:
    from google.cloud import pubsub_v1

    # Every publish is awaited right away, so batching only helps concurrent publishers: a short
    # latency keeps a lone publish fast (the library default waits 10 ms).
    batch = pubsub_v1.types.BatchSettings(max_bytes=1_000_000, max_latency=0.002, max_messages=100)
    if emulator_host:
        import grpc
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

        transport = PublisherGrpcTransport(channel=grpc.insecure_channel(emulator_host))
        return pubsub_v1.PublisherClient(batch_settings=batch, transport=transport)
    return pubsub_v1.PublisherClient(batch_settings=batch)
