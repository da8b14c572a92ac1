"""The one recording `MessageBus` fake of the test suite: it keeps what is published."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from mhi.constants import CALLBACK_TOPIC
from mhi.model.messages import CallbackMessage, StepMessage, parse_callback, parse_step


class Published(NamedTuple):
    """One message as it was published."""

    topic: str
    data: bytes
    attributes: dict[str, str]


class RecordingBus:
    """A `MessageBus` that records every message instead of delivering it.

    Give it an `error` to make every publish raise it (a bus that is down). Nothing is delivered:
    a test drives the receiving side itself with what `take()` returns.
    """

    def __init__(self, error: Exception | None = None) -> None:
        self.published: list[Published] = []
        self.error = error

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        """Record the message, or raise the configured error."""
        if self.error is not None:
            raise self.error
        self.published.append(Published(topic, data, dict(attributes)))

    def take(self) -> list[Published]:
        """Return and forget what was published so far."""
        out, self.published = self.published, []
        return out

    def steps(self) -> list[StepMessage]:
        """The step messages published so far (everything but callbacks), parsed."""
        return [parse_step(m.data) for m in self.published if m.topic != CALLBACK_TOPIC]

    def callbacks(self) -> list[CallbackMessage]:
        """The callbacks published so far, parsed."""
        return [parse_callback(m.data) for m in self.published if m.topic == CALLBACK_TOPIC]
