"""Who is asking: the audit's actor for the CLI (the local user or the gcloud account)."""

from __future__ import annotations

import configparser
import getpass
import os
import socket
from pathlib import Path
from typing import Any

from mhi.config import Settings


def gcloud_account(environ: dict[str, str] | None = None) -> str | None:
    """The active gcloud account, read from gcloud's own configuration (gcloud is not run)."""
    env = dict(os.environ if environ is None else environ)
    if env.get("CLOUDSDK_CORE_ACCOUNT"):
        return env["CLOUDSDK_CORE_ACCOUNT"]
    config_dir = Path(env.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    active = env.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
    if not active:
        try:
            active = (config_dir / "active_config").read_text(encoding="utf-8").strip()
        except OSError:
            active = "default"
    parser = configparser.ConfigParser()
    try:
        parser.read(config_dir / "configurations" / f"config_{active}", encoding="utf-8")
    except configparser.Error:
        return None
    account = parser.get("core", "account", fallback=None)
    return account or None


def local_user() -> str:
    """`user@host` of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def cli_actor(settings: Settings) -> dict[str, Any]:
    """The actor of a CLI action: the gcloud account on the gcp back end, else the local user."""
    if settings.backend == "gcp":
        account = gcloud_account()
        if account:
            return {"actor": account, "via": "cli"}
    return {"actor": local_user(), "via": "cli"}
