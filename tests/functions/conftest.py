"""Functions under functions-framework's test client, on the local back end with a recording bus."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from mhi.adapters.local.memory_run_store import MemoryRunStore
from mhi.config import Settings
from mhi.runtime import entry
from mhi.services import Services
from tests.conftest import ROOT
from tests.fakes.bus import RecordingBus

EVENTS = ROOT / "tests" / "fixtures" / "events"
CE_HEADERS = {"Content-Type": "application/cloudevents+json"}


def golden(name: str) -> dict[str, Any]:
    """A golden CloudEvent from tests/fixtures/events."""
    return json.loads((EVENTS / name).read_text())


def as_event(data: bytes, attributes: Mapping[str, str], message_id: str) -> dict[str, Any]:
    """Wrap a published message as the messagePublished CloudEvent Eventarc would deliver."""
    message = {
        "data": base64.b64encode(data).decode(),
        "attributes": dict(attributes),
        "messageId": message_id,
        "publishTime": "2026-03-01T06:00:00Z",
    }
    return {
        "specversion": "1.0",
        "id": message_id,
        "source": "//pubsub.googleapis.com/projects/mhi-local/topics/t",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "data": {"message": message, "subscription": "projects/mhi-local/subscriptions/s"},
    }


def app_client(function: str) -> FlaskClient:
    """functions-framework's app for functions/<function>/main.py, as a test client."""
    source = Path(ROOT / "functions" / function / "main.py")
    return create_app("handle", str(source), "cloudevent").test_client()


@pytest.fixture
def bus() -> RecordingBus:
    """The bus the functions publish to."""
    return RecordingBus()


@pytest.fixture
def store() -> MemoryRunStore:
    """The run store the functions share."""
    return MemoryRunStore()


@pytest.fixture
def installed(bus: RecordingBus, store: MemoryRunStore) -> Iterator[Services]:
    """Local services with the recording bus, installed for the entry points."""
    svc = Services(Settings.from_env(), bus=bus, run_store=store)
    entry.install(svc)
    yield svc
    entry.reset()
