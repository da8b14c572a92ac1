"""Hosts as a connection would really see them, and what kind of address each one is.

A URL's host can name one address in many spellings: `2130706433`, `0x7f000001`, `127.1`,
`0177.0.0.1` and `127.0.0.1` are the same loopback address to the C resolver, `[::ffff:7f00:1]`
is it again in IPv6, `LOCALHOST.` and `ｌｏｃａｌｈｏｓｔ` are the same name. `normalise_host`
returns the one canonical spelling (dotted-quad IPv4, compressed IPv6, lower-case ASCII name
without trailing dots) or refuses a host that no URL should carry; `address_kind` names the
class of an address (loopback, private, link-local, ...), looking through IPv6 forms that embed
an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Dots other than U+002E that IDNA treats as label separators (UTS #46).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class HostError(ValueError):
    """A host that is not a usable host name or address; the message says why."""


def normalise_host(host: str) -> str:
    """Return the canonical spelling of a URL host, or raise HostError.

    IPv4 in any form the C library accepts (decimal, octal, hex, 1 to 4 parts) becomes a dotted
    quad; IPv6 (brackets optional) its compressed form; a name becomes lower-case IDNA ASCII
    with trailing dots removed.
    """
    text = host.strip()
    if not text:
        raise HostError("the URL has no host")
    if text.startswith("[") or ":" in text:
        return str(_ipv6(text.removeprefix("[").removesuffix("]")))
    text = unicodedata.normalize("NFKC", text).translate(_DOTS).lower().rstrip(".")
    if not text:
        raise HostError("the host is only dots")
    if not text.isascii():
        text = _idna(text)
    labels = text.split(".")
    if _NUMERIC.match(labels[-1]):  # a name cannot end in a number: it is an IPv4 address
        return str(parse_ipv4(text))
    bad = next((label for label in labels if not _LABEL.match(label)), None)
    if bad is not None:
        raise HostError(f"host label {bad!r} is not a valid DNS label")
    return text


def _idna(text: str) -> str:
    try:
        return text.encode("idna").decode("ascii")
    except UnicodeError:
        raise HostError("the host is not a valid internationalised domain name") from None


def _ipv6(text: str) -> ipaddress.IPv6Address:
    if "%" in text:
        raise HostError("IPv6 zone identifiers are not allowed in a URL host")
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        raise HostError("the host is not a valid IPv6 address") from None


def parse_ipv4(text: str) -> ipaddress.IPv4Address:
    """Parse IPv4 the way `inet_aton` does: 1-4 parts, each decimal, octal (0...) or hex (0x...).

    The last part fills the remaining bytes (`127.1` is 127.0.0.1, `2130706433` is 127.0.0.1).
    """
    parts = text.split(".")
    if len(parts) > 4:
        raise HostError("the host looks numeric but has more than 4 parts")
    values = [_ipv4_part(p) for p in parts]
    last_room = 256 ** (5 - len(values))
    if any(v > 255 for v in values[:-1]) or values[-1] >= last_room:
        raise HostError("the host looks numeric but is not a valid IPv4 address")
    number = 0
    for v in values[:-1]:
        number = number * 256 + v
    number = number * last_room + values[-1]
    return ipaddress.IPv4Address(number)


def _ipv4_part(part: str) -> int:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        raise HostError(f"IPv4 part {part!r} is not a valid number") from None


def as_address(host: str) -> IPAddress | None:
    """Return the address a normalised host spells, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo,
    NAT64), or None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def address_kind(ip: IPAddress) -> str:
    """Return `public` for a globally routable unicast address, else the reason it is not:
    `loopback`, `unspecified`, `link-local`, `multicast`, `private`, `reserved` or
    `not globally routable`. An embedded IPv4 address counts as well as the IPv6 one."""
    inner = embedded_ipv4(ip)
    for candidate in (inner, ip) if inner is not None else (ip,):
        kind = _kind(candidate)
        if kind != "public":
            return kind
    return "public"


def _kind(ip: IPAddress) -> str:
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), "public")
