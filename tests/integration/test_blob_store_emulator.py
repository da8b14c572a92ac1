"""The blob store on the storage emulator of `mhi dev`: every content type round-trips, byte for
byte (the notification outbox writes `message/rfc822` mail, which the stock emulator broke)."""

from __future__ import annotations

import uuid

import pytest

from mhi.adapters.gcp.gcs_blob_store import GcsBlobStore
from tests.integration.conftest import Stack

MAIL = (
    b"From: mhi@example.com\r\nTo: team@example.com\r\nSubject: run failed\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nStep 'load' failed: M\xc3\xa1laga\r\n"
)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("message/rfc822", MAIL),
        ("application/json", b'{"a": 1}'),
        ("application/gzip", bytes(range(256))),
        ("text/html; charset=utf-8", "<p>Málaga</p>".encode()),
    ],
)
def test_writes_round_trip_on_the_emulator(stack: Stack, content_type: str, data: bytes) -> None:
    blobs = GcsBlobStore(stack.dev.storage_client(), "mhi-raw")
    key = f"outbox/it-{uuid.uuid4().hex[:8]}/mail.eml"
    assert blobs.write_bytes(key, data, content_type) == f"gs://mhi-raw/{key}"
    assert blobs.read_bytes(key) == data
