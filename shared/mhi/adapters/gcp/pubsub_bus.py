"""Message bus on Cloud Pub/Sub: JSON body plus attributes, every publish awaited.

Topic naming (terraform mirrors `topic_id` exactly): the logical topic (a step type such as
`ms-kpi-engine`, or `ms-flows-controller` / `ms-flows-callbacks`) is the topic id; when
`_M_ENV_ACRONYM` is set it is suffixed `-<env>` (`ms-kpi-engine-dev`), so several environments
can share one project. The project is `_M_PROJECT_ID`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mhi.adapters.gcp.clients import project_id, publisher_client
from mhi.config import Settings
from mhi.errors import UpstreamUnavailableError

if TYPE_CHECKING:
    from google.cloud import pubsub_v1

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 30.0

_TOPIC_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
_ENV_RE = re.compile(r"^[a-z0-9]{1,16}$")


def topic_id(name: str, env_acronym: str | None = None) -> str:
    """Return the Pub/Sub topic id of logical topic `name`: `name`, or `name-<env>`.

    Raises:
        ValueError: the result is not a valid topic id, or the env acronym is not 1-16
            lowercase letters and digits.
    """
    if env_acronym and not _ENV_RE.match(env_acronym):
        raise ValueError(f"_M_ENV_ACRONYM {env_acronym!r}: use 1-16 lowercase letters and digits")
    topic = f"{name}-{env_acronym}" if env_acronym else name
    if not _TOPIC_RE.match(topic) or topic.startswith("goog"):
        raise ValueError(f"{topic!r} is not a valid Pub/Sub topic id")
    return topic


def topic_path(project: str, name: str, env_acronym: str | None = None) -> str:
    """Return `projects/<project>/topics/<topic_id(name, env)>`."""
    return f"projects/{project}/topics/{topic_id(name, env_acronym)}"


class PubSubBus:
    """`MessageBus` on a (shared, long-lived) Pub/Sub `PublisherClient`."""

    def __init__(
        self,
        publisher: pubsub_v1.PublisherClient,
        project: str,
        env_acronym: str | None = None,
        *,
        timeout: float = PUBLISH_TIMEOUT_SECONDS,
    ) -> None:
        self.publisher = publisher
        self.project = project
        self.env_acronym = env_acronym
        self.timeout = timeout
        self._paths: dict[str, str] = {}

    def path(self, topic: str) -> str:
        """The full topic path a logical topic publishes to."""
        if topic not in self._paths:
            self._paths[topic] = topic_path(self.project, topic, self.env_acronym)
        return self._paths[topic]

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> None:
        """Publish and wait until Pub/Sub has accepted the message.

        Raises:
            UpstreamUnavailableError: Pub/Sub refused or did not confirm in time; the caller's
                event is then redelivered, so nothing is lost silently.
        """
        path = self.path(topic)
        future = self.publisher.publish(path, data, **dict(attributes))
        try:
            message_id = future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as e:
            future.cancel()
            raise UpstreamUnavailableError(
                f"publish to {path}: not confirmed within {self.timeout:g}s", topic=topic
            ) from e
        except Exception as e:  # the future carries google.api_core errors of every kind
            hint = " (does the topic exist?)" if type(e).__name__ == "NotFound" else ""
            raise UpstreamUnavailableError(
                f"publish to {path} failed: {type(e).__name__}: {e}{hint}", topic=topic
            ) from e
        logger.debug("published %s to %s", message_id, path)


def from_settings(settings: Settings) -> PubSubBus:
    """Build the bus for `_M_PROJECT_ID` and `_M_ENV_ACRONYM`."""
    return PubSubBus(publisher_client(settings), project_id(settings), settings.env_acronym)
