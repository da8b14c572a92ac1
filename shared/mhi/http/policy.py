"""The URL policy: the one rule every outbound URL passes, at validation and at connect time.

- https only (plain http only to loopback, and only where loopback is allowed);
- no user name or password inside the URL;
- the host normalised (`mhi.http.addresses`) and refused when it is, or resolves to, a loopback,
  private, link-local, unspecified, multicast, reserved or otherwise non-public address, or is a
  metadata or internal name (`metadata.google.internal`, `*.internal`, `localhost`, one-label
  names);
- when a system's credentials travel with the request, the host must be one of that system's
  hosts (`HostScope`): a flow can never send an account's key to a host of its choosing.

Two deployment settings relax it, never a flow: `MHI_ALLOW_LOOPBACK_URLS` (tests and local
imitation servers) and `MHI_PRIVATE_NETWORKS` (CIDR ranges of on-premises systems the deployment
must reach). Names are resolved at connect time (`UrlPolicy.resolve`), every address is checked,
and the connection goes to the address that was checked (`mhi.http.client`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

from mhi.errors import StepConfigError
from mhi.http.addresses import HostError, IPAddress, address_kind, as_address, normalise_host

if TYPE_CHECKING:
    from mhi.config import Settings

Resolver = Callable[[str, int], list[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that reach instance metadata or a cloud's internal DNS, whatever they resolve to.
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})
INTERNAL_SUFFIXES = (".internal", ".localhost")


class UrlRefusedError(StepConfigError):
    """An outbound URL the policy refuses; the message names the URL's role and the reason."""

    kind = "url_refused"


class LookupUnavailableError(OSError):
    """A name lookup failed for a reason that may pass (the resolver did not answer)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a name to its addresses as an absolute name (no search-domain expansion).

    Raises:
        UrlRefusedError: the name does not exist.
        LookupUnavailableError: the resolver failed for now (retried like a refused connection).
    """
    try:
        infos = socket.getaddrinfo(host + ".", port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        if e.errno == socket.EAI_AGAIN:
            raise LookupUnavailableError(f"name lookup of {host} failed for now") from None
        raise UrlRefusedError(f"host {host} does not resolve ({e.strerror})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class HostScope:
    """The hosts one system's credentials may be sent to: exact names, `*.suffix` patterns or
    addresses, all normalised."""

    system: str
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, system: str, patterns: Iterable[str]) -> HostScope:
        """Build a scope, normalising every pattern."""
        return cls(system, tuple(dict.fromkeys(_pattern(p) for p in patterns if p.strip())))

    def allows(self, host: str) -> bool:
        """Whether a normalised host matches one of the patterns."""
        for pattern in self.patterns:
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return False

    def plus(self, urls: Iterable[str]) -> HostScope:
        """Return this scope widened by the hosts of operator-set URLs."""
        hosts = [normalise_host(urlsplit(u).hostname or "") for u in urls]
        return HostScope(self.system, tuple(dict.fromkeys((*self.patterns, *hosts))))

    def describe(self) -> str:
        """Name the patterns for a message."""
        return ", ".join(self.patterns) or "none"


def _pattern(text: str) -> str:
    text = text.strip().lower()
    if text.startswith("*."):
        return "*." + normalise_host(text[2:])
    return normalise_host(text)


@dataclass(frozen=True)
class Target:
    """A URL that passed the static checks: scheme, canonical host, port, path and query."""

    scheme: str
    host: str
    port: int
    path: str
    address: IPAddress | None  # the host spelled an address

    @property
    def host_header(self) -> str:
        """The Host header (and TLS server name without the port)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class UrlPolicy:
    """What outbound URLs this deployment may call (see the module docstring)."""

    allow_loopback: bool = False
    private_networks: tuple[Network, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver | None = None) -> UrlPolicy:
        """The policy a deployment's settings describe."""
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in settings.private_networks)
        return cls(settings.allow_loopback_urls, networks, resolver or system_resolver)

    def check(self, url: str, what: str, scope: HostScope | None = None) -> Target:
        """Return the URL's target if it passes every check that needs no DNS.

        Raises:
            UrlRefusedError: naming `what` and the reason (never the URL's path or query).
        """
        parts = _split(url, what)
        host = _host(parts, what)
        address = as_address(host)
        if address is not None:
            self._check_address(address, f"{what}: host {host}")
        else:
            self._check_name(host, what)
        if parts.scheme == "http" and not (self.allow_loopback and self._is_loopback(host)):
            raise UrlRefusedError(f"{what}: plain http is not allowed, use https")
        if scope is not None and not scope.allows(host):
            raise UrlRefusedError(
                f"{what}: host {host} is not one of {scope.system}'s API hosts "
                f"({scope.describe()}): its credentials go nowhere else"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(parts.scheme, host, port, path, address)

    def resolve(self, target: Target, what: str) -> IPAddress:
        """Return the address to connect to: the host's own, or the first of its resolved
        addresses (IPv4 first) after every resolved address passed the address checks."""
        if target.address is not None:
            return target.address
        if self._is_loopback(target.host):  # `localhost` (RFC 6761), allowed by check()
            return ipaddress.IPv4Address("127.0.0.1")
        addresses = self.resolver(target.host, target.port)
        found = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
        if not found:
            raise UrlRefusedError(f"{what}: host {target.host} resolves to no address")
        for address in found:
            self._check_address(address, f"{what}: host {target.host} resolves to {address}, which")
        return sorted(found, key=lambda a: a.version)[0]

    def _is_loopback(self, host: str) -> bool:
        address = as_address(host)
        if address is None:
            return host == "localhost" or host.endswith(".localhost")
        return address_kind(address) == "loopback"

    def _check_address(self, address: IPAddress, subject: str) -> None:
        kind = address_kind(address)
        if kind == "public" or (kind == "loopback" and self.allow_loopback):
            return
        if kind == "private" and any(address in n for n in self.private_networks):
            return
        hint = (
            " (MHI_ALLOW_LOOPBACK_URLS allows loopback in tests)"
            if kind == "loopback"
            else " (MHI_PRIVATE_NETWORKS lists the private ranges a deployment may reach)"
            if kind == "private"
            else ""
        )
        raise UrlRefusedError(f"{subject} is a {kind} address: not allowed{hint}")

    def _check_name(self, host: str, what: str) -> None:
        if host == "localhost" or host.endswith(".localhost"):
            if self.allow_loopback:
                return
            raise UrlRefusedError(f"{what}: host {host} is a loopback name: not allowed")
        if host in METADATA_NAMES or host.endswith(INTERNAL_SUFFIXES):
            raise UrlRefusedError(f"{what}: host {host} is a metadata or internal name")
        if "." not in host:
            raise UrlRefusedError(
                f"{what}: host {host} is a one-label name (resolved through search domains)"
            )


def _split(url: str, what: str) -> SplitResult:
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        raise UrlRefusedError(f"{what}: not a valid URL (blank or control characters)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as e:
        raise UrlRefusedError(f"{what}: not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "none"
        raise UrlRefusedError(f"{what}: scheme {scheme!r} is not allowed, use https")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UrlRefusedError(f"{what}: a user name or password inside the URL is not allowed")
    if "\\" in url:
        raise UrlRefusedError(f"{what}: backslashes are not allowed in a URL")
    return parts


def _host(parts: SplitResult, what: str) -> str:
    raw = parts.hostname or ""
    if "%" in raw:
        raise UrlRefusedError(f"{what}: percent-encoded or zoned hosts are not allowed")
    try:
        return normalise_host(raw)
    except HostError as e:
        raise UrlRefusedError(f"{what}: {e}") from None


def validation_settings(context: Any = None) -> Settings:
    """The settings config validation applies: from the validation context when the caller
    passes one (`{"settings": Settings}`), else from this process's environment, the same
    settings every entry point reads."""
    from mhi.config import Settings

    given = context.get("settings") if isinstance(context, dict) else None
    return given if isinstance(given, Settings) else Settings.from_env()


def valid_url(
    value: str,
    what: str,
    context: Any = None,
    scope: Callable[[Settings], HostScope] | None = None,
) -> str:
    """Check a config URL for a pydantic validator (no DNS: names are resolved and checked at
    connect time): raise ValueError, so the error carries its JSON path, or return the URL
    without a trailing slash. `scope` gives the hosts the URL must be on, from the settings."""
    settings = validation_settings(context)
    try:
        UrlPolicy.from_settings(settings).check(value, what, scope(settings) if scope else None)
    except UrlRefusedError as e:
        raise ValueError(str(e)) from None
    return value.rstrip("/")
