"""Where a system's API lives and where its credentials may go, decided by the operator.

A system with public API hosts (Holded, Business Central, Graph, ReviewPro, FourVenues, Mailgun,
Slack, Qlik Cloud) has a default URL and a host pattern; the operator may point an account at
another URL with the secret `<prefix>-<name>` (per account) or the deployment setting
`MHI_<SYSTEM>_<NAME>`, and may replace the host pattern with `MHI_<SYSTEM>_HOSTS`. A system
without a public host (Avalon, Axional, Madisa, Ulyses Cloud, Qlik QRS) takes its URL from the
same secret or setting, with no default. A flow never chooses either: its config may not carry
a base URL at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mhi.config import Settings
from mhi.errors import SecretAccessError
from mhi.http.policy import HostScope, UrlPolicy

OptionalSecret = Callable[[str], str | None]


def setting_name(system: str, name: str) -> str:
    """Return the deployment setting of a system's URL or hosts: `MHI_HOLDED_BASE_URL`."""
    return "MHI_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{system}_{name}").upper()


@dataclass(frozen=True)
class Configured:
    """A URL and where it came from (`source` names the secret or setting, never the value)."""

    url: str
    source: str
    by_operator: bool


def optional_secret(read: Callable[[str], str]) -> OptionalSecret:
    """Wrap a secret reader so that an absent (or unreadable) secret reads as None."""

    def get(name: str) -> str | None:
        try:
            value = read(name).strip()
        except SecretAccessError:
            return None
        return value or None

    return get


def configured_url(
    settings: Settings,
    system: str,
    name: str,
    secret: OptionalSecret,
    secret_name: str,
    default: str | None,
) -> Configured | None:
    """Return the URL the operator set (secret first, then setting) or the default, checked by
    the URL policy (its host scope is checked per call). None when nothing is set."""
    value = secret(secret_name)
    source = f"secret {secret_name!r}"
    if value is None:
        key = setting_name(system, name)
        value = (settings.extra.get(key) or "").strip() or None
        source = f"setting {key}"
    if value is None:
        return None if default is None else Configured(default.rstrip("/"), "default", False)
    UrlPolicy.from_settings(settings).check(value, source)
    return Configured(value.rstrip("/"), source, True)


def host_scope(
    settings: Settings, system: str, defaults: Iterable[str], operator_urls: Iterable[str] = ()
) -> HostScope:
    """Return the hosts a system's credentials may go to: `MHI_<SYSTEM>_HOSTS` (comma-separated
    names or `*.suffix` patterns) or the defaults, plus the hosts of operator-set URLs."""
    text = settings.extra.get(setting_name(system, "hosts"))
    patterns = [p for p in text.split(",") if p.strip()] if text else list(defaults)
    return HostScope.of(system, patterns).plus(operator_urls)
