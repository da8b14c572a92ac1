"""Secrets for the embedded default: environment variables, then a local JSON file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from mhi.constants import SAFE_ID_RE
from mhi.errors import SecretAccessError


def secret_id(account: str, name: str) -> str:
    """Return the stored name of an account's secret: `<account>--<name>`.

    Every secret lives under its account's prefix, so an account can only ever name its own.
    """
    for what, value in (("account", account), ("secret name", name)):
        if not SAFE_ID_RE.match(value):
            raise SecretAccessError(f"invalid {what} {value!r}")
    return f"{account}--{name}"


def env_var(account: str, name: str) -> str:
    """Return the environment variable holding a secret: `MHI_SECRET_<ACCOUNT>__<NAME>`."""
    norm = re.sub(r"[^A-Za-z0-9]", "_", secret_id(account, name).replace("--", "__"))
    return f"MHI_SECRET_{norm.upper()}"


class EnvSecretStore:
    """`SecretStore` over env vars (`MHI_SECRET_<ACCOUNT>__<NAME>`) and a JSON file whose keys
    are `<account>--<name>`. The file is git-ignored; values never reach a log line."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.path = Path(path) if path else None
        self.environ = os.environ if environ is None else environ

    def _file(self) -> dict[str, str]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as e:
            raise SecretAccessError(
                f"secrets file {self.path} is not valid JSON (line {e.lineno})"
            ) from None
        if not isinstance(data, dict):
            raise SecretAccessError(f"secrets file {self.path} must hold a JSON object")
        return data

    def get(self, account: str, name: str) -> str:
        """Return secret `name` of `account`."""
        sid = secret_id(account, name)
        value = self.environ.get(env_var(account, name))
        if value is None:
            value = self._file().get(sid)
        if value is None:
            raise SecretAccessError(
                f"secret {sid!r} not found: set {env_var(account, name)} or add {sid!r} to "
                f"{self.path or 'the secrets file'}",
                account=account,
            )
        return str(value)
