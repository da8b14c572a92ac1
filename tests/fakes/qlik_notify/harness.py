"""Drive a step kind turn by turn, the way the controller does, with a controllable clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mhi.adapters.local.env_secrets import EnvSecretStore, env_var
from mhi.adapters.local.fs_blob_store import FsBlobStore
from mhi.adapters.local.fs_run_store import FsRunStore
from mhi.config import Settings
from mhi.model.messages import CallbackMessage, CallbackStatus, StepMessage
from mhi.services import Services
from mhi.steps.sdk import StepKind, run_step

ACCOUNT = "hotel-fergus"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def now(self) -> datetime:
        """Return the current fake time."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += timedelta(seconds=seconds)


@dataclass
class Harness:
    """Services on a temp folder, secrets from a dict, and helpers to run turns."""

    tmp_path: Path
    secrets: dict[str, str] = field(default_factory=dict)
    settings_extra: dict[str, str] = field(default_factory=dict)
    backend: str = "local"
    clock: FakeClock = field(default_factory=FakeClock)
    allow_loopback: bool = True  # the imitation servers listen on 127.0.0.1

    def __post_init__(self) -> None:
        self._environ = {env_var(ACCOUNT, k): v for k, v in self.secrets.items()}
        settings = Settings(
            backend=self.backend,  # type: ignore[arg-type]
            home=self.tmp_path,
            extra=self.settings_extra,
            allow_loopback_urls=self.allow_loopback,
        )
        self.services = Services(
            settings,
            run_store=FsRunStore(self.tmp_path / "state"),
            blobs=FsBlobStore(self.tmp_path / "blobs"),
            secrets=EnvSecretStore(None, environ=self._environ),
            clock=self.clock,
        )

    def set_secret(self, name: str, value: str) -> None:
        """Add or replace one of the account's secrets."""
        self.secrets[name] = value
        self._environ[env_var(ACCOUNT, name)] = value

    def message(
        self,
        step_type: str,
        config: dict[str, Any],
        *,
        step_id: str = "step",
        attempt: int = 1,
        turn: int = 0,
        continuation: dict[str, Any] | None = None,
        upstream: dict[str, dict[str, Any]] | None = None,
        run_id: str = "run-1",
    ) -> StepMessage:
        """Build a step message as the controller would."""
        fields: dict[str, Any] = dict(
            run_id=run_id,
            flow_id="daily-avalon-extract",
            account=ACCOUNT,
            step_id=step_id,
            attempt=attempt,
            turn=turn,
            type=step_type,
            config=config,
            upstream=upstream or {},
            continuation=continuation,
            callback_topic="ms-flows-callbacks",
            deadline=self.clock.now() + timedelta(hours=1),
        )
        return StepMessage(**fields)

    def run(self, kind: StepKind[Any], message: StepMessage) -> CallbackMessage:
        """Run one turn."""
        return run_step(message, kind, self.services)

    def drive(
        self, kind: StepKind[Any], config: dict[str, Any], max_turns: int = 30, **kw: Any
    ) -> list[CallbackMessage]:
        """Run turns until the step finishes, advancing the clock by each poll interval."""
        callbacks: list[CallbackMessage] = []
        continuation = None
        for turn in range(max_turns):
            cb = self.run(
                kind, self.message(kind.type, config, turn=turn, continuation=continuation, **kw)
            )
            callbacks.append(cb)
            if cb.status != CallbackStatus.WAITING:
                return callbacks
            continuation = cb.continuation
            self.clock.advance(cb.poll_after_seconds)
        raise AssertionError(f"step still waiting after {max_turns} turns")
