"""Personal data in the hotel model: which columns hold it, and how guest identity is kept.

The one declaration is `PERSONAL_COLUMNS`: every model column that is personal data under the
GDPR, what kind it is and when the model keeps it. Raw records carry guests' names, emails and
phones (flat, or nested as `guest` / `customer` / `holder` objects); the model keeps them only as
`guest_key`, an HMAC-SHA256 of the guest's normalised email (else phone, else name) under the
account's secret `guest-hash-key`: the same guest gets the same key in every booking, so repeat
guests can be counted, and without the secret nobody can tell whose key it is. A modeling step
whose flow needs the clear values sets `guest_identity: "clear"`; `"omit"` keeps no guest column.
`mhi gdpr erase` derives the same keys (`guest_keys`) to find a guest's rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from mhi.errors import SecretAccessError, StepConfigError

GuestIdentity = Literal["hashed", "clear", "omit"]
GUEST_IDENTITIES: tuple[str, ...] = ("hashed", "clear", "omit")
# Read by the modeling step (and `mhi gdpr erase`): the catalog declares it for ms-data-modeling
# alone, so terraform grants it to that function only (the other analytics step types share the
# handler module but never read it; tests/unit/gdpr holds the declaration in place).
GUEST_KEY_SECRET = "guest-hash-key"
MIN_KEY_LENGTH = 32


@dataclass(frozen=True)
class PersonalColumn:
    """One model column that is personal data."""

    name: str
    kind: Literal["identifier", "pseudonym", "quasi_identifier"]
    kept: str
    meaning: str


PERSONAL_COLUMNS: Mapping[str, PersonalColumn] = {
    c.name: c
    for c in (
        PersonalColumn(
            "guest_key",
            "pseudonym",
            "hashed and clear (reservations)",
            "HMAC-SHA256 of the guest's email, else phone, else name, under guest-hash-key",
        ),
        PersonalColumn("guest_name", "identifier", "clear only", "the guest's full name"),
        PersonalColumn("guest_email", "identifier", "clear only", "the guest's email, lower-case"),
        PersonalColumn("guest_phone", "identifier", "clear only", "the guest's phone, as given"),
        PersonalColumn(
            "country",
            "quasi_identifier",
            "always (a segment of the KPIs)",
            "the guest's country or nationality",
        ),
    )
}
CLEAR_COLUMNS = ("guest_name", "guest_email", "guest_phone")
# The guest columns the model carries from staging into reservations, in this order.
MODEL_GUEST_COLUMNS = ("guest_key", *CLEAR_COLUMNS)

# Where raw records keep each field: flat column names, then `object.field` inside a nested
# guest object (a dict, or its JSON text as the raw layer stores it). The first non-empty wins.
_OBJECTS = ("guest", "customer", "holder", "client", "contact", "main_guest", "mainGuest")
_FIELDS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "guest_email": (
        ("guest_email", "guestEmail", "customer_email", "customerEmail", "email", "e_mail"),
        ("email", "emailAddress", "email_address", "mail"),
    ),
    "guest_phone": (
        ("guest_phone", "guestPhone", "customer_phone", "phone", "phone_number", "telephone"),
        ("phone", "phoneNumber", "phone_number", "mobile", "telephone"),
    ),
    "guest_name": (
        ("guest_name", "guestName", "holder_name", "holderName", "customer_name", "name"),
        ("name", "fullName", "full_name"),
    ),
}
# A name split over two fields, flat or inside a guest object (given name, family name).
NAME_PARTS = (
    ("first_name", "last_name"),
    ("firstName", "lastName"),
    ("given_name", "family_name"),
    ("nombre", "apellidos"),
)


def _parse_object(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _text(value: Any) -> str | None:
    """Return a field's value as single-spaced text (None for missing, objects, flags)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        value = int(value) if value.is_integer() else value  # a phone read as a number
    text = " ".join(str(value).split())
    return text or None


def _cell(value: Any) -> Any:
    """Return a raw cell as a hashable value: objects as JSON text, missing values as None."""
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return None if value is None or value is pd.NA or value != value else value


def identity_of(record: Mapping[str, Any]) -> dict[str, str | None]:
    """Return a raw record's guest name, email and phone (None when it has none)."""
    out: dict[str, str | None] = {}
    objects = [o for o in (_parse_object(record.get(k)) for k in _OBJECTS) if o is not None]
    for column, (flat, nested) in _FIELDS.items():
        found = next((t for t in (_text(record.get(k)) for k in flat) if t), None)
        for obj in objects:
            found = found or next((t for t in (_text(obj.get(k)) for k in nested) if t), None)
        out[column] = found
    if out["guest_name"] is None:
        for place in (record, *objects):
            parts = next((p for p in NAME_PARTS if any(place.get(k) for k in p)), None)
            if parts:
                joined = " ".join(filter(None, (_text(place.get(k)) for k in parts)))
                out["guest_name"] = joined or None
                break
    return out


def guest_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Return guest_name, guest_email, guest_phone of each raw row (string, NA when absent)."""
    wanted = {k for flat, nested in _FIELDS.values() for k in flat} | set(_OBJECTS)
    wanted |= {k for parts in NAME_PARTS for k in parts}
    present = [c for c in raw.columns if c in wanted]
    if not present:
        return pd.DataFrame(
            {c: pd.Series(pd.NA, index=raw.index, dtype="string") for c in CLEAR_COLUMNS}
        )
    # One parse per distinct combination of the identity fields, not per row.
    cells = [[_cell(v) for v in raw[c].tolist()] for c in present]
    rows = pd.Series(list(zip(*cells, strict=True)), dtype=object)
    codes, uniques = pd.factorize(rows)
    found = [identity_of(dict(zip(present, row, strict=True))) for row in uniques]
    table = pd.DataFrame(found, columns=list(CLEAR_COLUMNS)).astype("string")
    out = table.iloc[codes].reset_index(drop=True)
    out.index = raw.index
    return out


def normalise_email(email: str) -> str:
    """Return an email as it is compared and hashed: trimmed, lower-case."""
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """Return a phone as it is hashed: its digits only (`+34 600-11 22 33` -> `34600112233`)."""
    return re.sub(r"\D", "", phone)


def normalise_name(name: str) -> str:
    """Return a name as it is hashed: accents removed, case folded, single spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def _identity_text(name: Any, email: Any, phone: Any) -> str | None:
    """Return the text hashed into a guest key: email, else phone, else name."""
    if isinstance(email, str) and normalise_email(email):
        return "email:" + normalise_email(email)
    if isinstance(phone, str) and normalise_phone(phone):
        return "phone:" + normalise_phone(phone)
    if isinstance(name, str) and normalise_name(name):
        return "name:" + normalise_name(name)
    return None


def key_of(key: bytes, identity: Mapping[str, str | None]) -> str | None:
    """Return the guest key of an identity as `identity_of` gives it (None without one)."""
    text = _identity_text(
        identity.get("guest_name"), identity.get("guest_email"), identity.get("guest_phone")
    )
    return guest_key(key, text) if text else None


def guest_key(key: bytes, identity: str) -> str:
    """Return the keyed hash (hex HMAC-SHA256) of one identity text."""
    return hmac.new(key, identity.encode("utf-8"), hashlib.sha256).hexdigest()


def guest_keys(
    key: bytes,
    *,
    names: Iterable[str] = (),
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
) -> set[str]:
    """Return the guest keys the model may hold for these identifiers (one per identifier)."""
    texts = {_identity_text(None, e, None) for e in emails}
    texts |= {_identity_text(None, None, p) for p in phones}
    texts |= {_identity_text(n, None, None) for n in names}
    return {guest_key(key, t) for t in texts if t}


def read_guest_key(read: Callable[[str], str], account: str) -> bytes:
    """Return the account's guest-hash key (`read` gets a secret by name) as bytes.

    Raises:
        SecretAccessError: the secret cannot be read (the message says what to do).
        StepConfigError: the secret is shorter than MIN_KEY_LENGTH characters.
    """
    try:
        value = read(GUEST_KEY_SECRET)
    except SecretAccessError as e:
        raise SecretAccessError(
            f"{e.message}. Guest identity is kept as a keyed hash under this secret: add a "
            f"random value of {MIN_KEY_LENGTH}+ characters (`openssl rand -base64 32`), or set "
            'the modeling step\'s guest_identity to "omit"',
            account=account,
        ) from None
    if len(value) < MIN_KEY_LENGTH:
        raise StepConfigError(
            f"secret {account}--{GUEST_KEY_SECRET} is too short to key guest hashes "
            f"(at least {MIN_KEY_LENGTH} characters: `openssl rand -base64 32` makes one)"
        )
    return value.encode("utf-8")


def protect_guests(
    raw: pd.DataFrame,
    staged: pd.DataFrame,
    mode: GuestIdentity,
    read_key: Callable[[], bytes],
) -> pd.DataFrame:
    """Return `staged` with the guest columns `mode` allows, taken from the matching raw rows.

    `hashed` adds `guest_key`; `clear` adds it with guest_name, guest_email and guest_phone;
    `omit` adds nothing. The key is read only when some row has a guest identity.
    """
    if mode not in GUEST_IDENTITIES:
        raise StepConfigError(f"guest_identity {mode!r}: use one of {', '.join(GUEST_IDENTITIES)}")
    if mode == "omit":
        return staged
    guests = guest_columns(raw.loc[staged.index])
    texts = [_identity_text(*row) for row in guests.itertuples(index=False, name=None)]
    out = staged.copy()
    keys: list[str | None] = [None] * len(texts)
    if any(texts):
        key = read_key()
        cache: dict[str, str] = {}
        keys = [cache.setdefault(t, guest_key(key, t)) if t else None for t in texts]
    out["guest_key"] = pd.Series(keys, index=staged.index, dtype="string")
    if mode == "clear":
        email = guests["guest_email"].str.strip().str.lower()
        out = out.assign(guest_name=guests["guest_name"], guest_email=email)
        out["guest_phone"] = guests["guest_phone"]
    return out
