"""A guest to erase: the identifiers they gave, and how a record or a table row is found theirs.

A record is the guest's when any of its text values, at any depth, equals one of the
identifiers (trimmed, case-insensitive), or holds one as a JSON string (a nested object stored
as text), or when its split name (first and last name fields) equals a name given. Rows of
model tables are found by `guest_key`, the keyed hash the model keeps (`mhi.analytics.personal`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mhi.analytics.personal import NAME_PARTS, identity_of
from mhi.errors import PermanentError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PHONE_DIGITS = 6


class GdprError(PermanentError):
    """An erasure request that cannot be carried out as asked (bad identifier, unreadable file)."""

    kind = "gdpr"


def _text(value: str) -> str:
    return " ".join(value.split()).lower()


@dataclass(frozen=True)
class Guest:
    """The identifiers of one data subject: every record holding one of them is erased."""

    emails: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, emails: Sequence[str] = (), names: Sequence[str] = (), phones: Sequence[str] = ()
    ) -> Guest:
        """Return a checked guest.

        Raises:
            GdprError: no identifier at all, or one that is not an email, name or phone.
        """
        if not (emails or names or phones):
            raise GdprError("name the guest: give at least one --email, --name or --phone")
        bad = [e for e in emails if not _EMAIL.match(e.strip())]
        if bad:
            raise GdprError(f"--email {bad[0]!r} is not an email address")
        short = [n for n in names if len(_text(n)) < 3]
        if short:
            raise GdprError(f"--name {short[0]!r} is too short to name one guest")
        few = [p for p in phones if len(re.sub(r"\D", "", p)) < MIN_PHONE_DIGITS]
        if few:
            raise GdprError(f"--phone {few[0]!r} has fewer than {MIN_PHONE_DIGITS} digits")
        return cls(
            tuple(e.strip() for e in emails),
            tuple(" ".join(n.split()) for n in names),
            tuple(p.strip() for p in phones),
        )

    def values(self) -> frozenset[str]:
        """Return the identifiers as whole text values are compared (single spaces, lower)."""
        return frozenset(_text(v) for v in (*self.emails, *self.names, *self.phones))

    def needles(self) -> tuple[str, ...]:
        """Return the identifiers as JSON strings, as they appear inside JSON text."""
        return tuple(sorted(json.dumps(v, ensure_ascii=False) for v in self.values()))

    def matches(self, record: Any) -> bool:
        """Return whether a raw record (parsed JSON) holds one of the guest's identifiers."""
        values, needles = self.values(), self.needles()
        if any(_leaf_matches(leaf, values, needles) for leaf in _leaves(record)):
            return True
        names = {_text(n) for n in self.names}
        if names and isinstance(record, Mapping):
            found = identity_of(record)["guest_name"]
            return found is not None and _text(found) in names
        return False


def _leaves(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    elif isinstance(node, str | int) and not isinstance(node, bool):
        yield str(node)


def _leaf_matches(leaf: str, values: frozenset[str], needles: Sequence[str]) -> bool:
    text = _text(leaf)
    if text in values:
        return True
    return '"' in leaf and any(n in text for n in needles)


def predicate(
    columns: Sequence[str],
    guest: Guest,
    keys: Iterable[str],
    quote: Callable[[str], str],
) -> tuple[str, dict[str, Any]] | None:
    """Return the SQL condition (`@name` parameters) that finds the guest's rows of a table
    with these text columns, or None when none of them can hold the guest.

    `guest_key` is matched against `keys`; every other column by its whole value or by the
    identifiers inside JSON text; split name columns by their joined value.
    """
    params: dict[str, Any] = {}

    def param(value: str) -> str:
        name = f"p{len(params)}"
        params[name] = value
        return f"@{name}"

    values = sorted(guest.values())
    terms: list[str] = []
    for col in columns:
        if col == "guest_key":
            terms += [f"{quote(col)} = {param(k)}" for k in sorted(keys)]
            continue
        text = f"LOWER(TRIM({quote(col)}))"
        terms += [f"{text} = {param(v)}" for v in values]
        terms += [f"STRPOS(LOWER({quote(col)}), {param(n)}) > 0" for n in guest.needles()]
    names = sorted({_text(n) for n in guest.names})
    for first, last in NAME_PARTS:
        if names and first in columns and last in columns:
            joined = f"LOWER(CONCAT(TRIM({quote(first)}), ' ', TRIM({quote(last)})))"
            terms += [f"{joined} = {param(n)}" for n in names]
    if not terms:
        return None
    return "(" + " OR ".join(terms) + ")", params


def booking_predicate(
    bookings: Iterable[tuple[str, str]], quote: Callable[[str], str]
) -> tuple[str, dict[str, Any]] | None:
    """Return the SQL condition that finds rows of these (hotel, reservation_id) bookings."""
    pairs = sorted(set(bookings))
    if not pairs:
        return None
    params: dict[str, Any] = {}
    terms = []
    for i, (hotel, reservation) in enumerate(pairs):
        params[f"h{i}"], params[f"r{i}"] = hotel, reservation
        terms.append(f"({quote('hotel')} = @h{i} AND {quote('reservation_id')} = @r{i})")
    return "(" + " OR ".join(terms) + ")", params
