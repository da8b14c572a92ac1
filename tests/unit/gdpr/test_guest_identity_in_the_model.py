"""Modelled tables keep guests only as keyed hashes, unless the flow asks for clear values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.analytics.configs import ModelingConfig
from mhi.analytics.personal import (
    GUEST_KEY_SECRET,
    PERSONAL_COLUMNS,
    guest_columns,
    guest_keys,
    protect_guests,
    read_guest_key,
)
from mhi.catalog import BY_TYPE, CATALOG
from mhi.errors import SecretAccessError, StepConfigError
from tests.fakes.apis.scenarios import ACCOUNT, Scenario
from tests.unit.gdpr.conftest import HASH_KEY, Lab, avalon_guest, guest

KEY = HASH_KEY.encode()


def _model_bundled(lab: Lab, csv: Path, **config: Any) -> dict[str, Any]:
    lab.step("ms-file-import", {"path": str(csv), "table": "hotel_bookings"})
    return lab.step("ms-data-modeling", {"source": "hotel_bookings", **config})


def test_bundled_bookings_are_modelled_without_clear_names_emails_or_phones(
    lab: Lab, bundled_csv: Path
) -> None:
    out = _model_bundled(lab, bundled_csv)
    assert out["rows"] == 400
    model = lab.all_text(("model",))
    for i in (0, 57, 199):
        identity = guest(i)
        assert identity["name"].lower() not in model
        assert identity["email"] not in model
        assert identity["phone-number"] not in model
    res = lab.warehouse.read(ACCOUNT, "model.reservations")
    assert not {"guest_name", "guest_email", "guest_phone"} & set(res.columns)
    # One key per guest: each of the 200 guests booked twice, and the key is the email's.
    assert res["guest_key"].notna().all() and res["guest_key"].nunique() == 200
    assert res["guest_key"].value_counts().eq(2).all()
    first = guest_keys(KEY, emails=[guest(0)["email"].upper()])
    assert set(res.loc[res["source_row"].isin([1, 2]), "guest_key"]) == first
    # The raw layer keeps what was imported: that is what erasure and retention are for.
    assert guest(0)["email"] in lab.all_text(("raw",))


def test_the_imitation_pms_is_modelled_without_clear_guest_data(lab: Lab, avalon: Scenario) -> None:
    lab.step("ms-extractor-avalon", avalon.step_config())
    out = lab.step("ms-data-modeling", {"source": "avalon"})
    assert out["rows"] == 60
    model = lab.all_text(("model",))
    for i in (0, 13, 59):
        assert f"guest {i}\n" not in model + "\n" and f'"guest {i}"' not in model
        assert avalon_guest(i)["email"].lower() not in model
        assert avalon_guest(i)["phone"].lower() not in model
    raw = lab.all_text(("raw",))  # the identities did reach the warehouse, in its raw layer
    assert '"guest 13"' in raw and avalon_guest(13)["email"].lower() in raw
    res = lab.warehouse.read(ACCOUNT, "model.reservations")
    want = {guest_keys(KEY, emails=[avalon_guest(i)["email"]]).pop() for i in range(60)}
    assert set(res["guest_key"]) == want


def test_clear_values_only_when_the_flow_asks(lab: Lab, bundled_csv: Path) -> None:
    _model_bundled(lab, bundled_csv, guest_identity="clear")
    res = lab.warehouse.read(ACCOUNT, "model.reservations")
    row = res.loc[res["source_row"] == 1].iloc[0]
    assert (row["guest_name"], row["guest_email"], row["guest_phone"]) == (
        guest(0)["name"],
        guest(0)["email"],
        guest(0)["phone-number"],
    )
    assert row["guest_key"] in guest_keys(KEY, emails=[guest(0)["email"]])
    _model_bundled(lab, bundled_csv, guest_identity="omit")
    res = lab.warehouse.read(ACCOUNT, "model.reservations")
    assert not [c for c in res.columns if c.startswith("guest_")]


def test_without_the_hash_key_the_step_says_which_secret_to_set(
    lab: Lab, bundled_csv: Path
) -> None:
    lab.environ.clear()
    lab.step("ms-file-import", {"path": str(bundled_csv), "table": "hotel_bookings"})
    callback_error = _failure(lab, {"source": "hotel_bookings"})
    assert "hotel-fergus--guest-hash-key" in callback_error and "omit" in callback_error
    lab.environ["MHI_SECRET_HOTEL_FERGUS__GUEST_HASH_KEY"] = "short"
    assert "too short" in _failure(lab, {"source": "hotel_bookings"})
    assert "short" not in _failure(lab, {"source": "hotel_bookings"}).replace("too short", "")
    # omit needs no key at all
    assert lab.step("ms-data-modeling", {"source": "hotel_bookings", "guest_identity": "omit"})


def _failure(lab: Lab, config: dict[str, Any]) -> str:
    from datetime import UTC, datetime, timedelta

    from mhi.catalog import load_kind
    from mhi.model.messages import StepMessage
    from mhi.steps.sdk import run_step

    message = StepMessage(
        run_id="r1",
        flow_id="gdpr",
        account=ACCOUNT,
        step_id="s",
        attempt=1,
        type="ms-data-modeling",
        config=config,
        callback_topic="ms-flows-callbacks",
        deadline=datetime.now(UTC) + timedelta(minutes=5),
    )
    callback = run_step(message, load_kind("ms-data-modeling"), lab.services)
    assert callback.status == "failed" and callback.error
    return callback.error.message


def test_a_source_without_guests_needs_no_key() -> None:
    staged = pd.DataFrame({"reservation_id": ["1", "2"]})
    raw = pd.DataFrame({"id": [1, 2], "country": ["ES", "PT"]})

    def no_key() -> bytes:
        raise AssertionError("the key was read for rows without a guest")

    out = protect_guests(raw, staged, "hashed", no_key)
    assert out["guest_key"].isna().all()


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"guest": {"name": "Ana  Ruiz", "email": "A@x.es"}}, ("Ana Ruiz", "A@x.es", None)),
        ({"guest": json.dumps({"phone": "+34 600"})}, (None, None, "+34 600")),
        ({"customer": {"firstName": "Ana", "lastName": "Ruiz"}}, ("Ana Ruiz", None, None)),
        ({"holderName": "Marta Vidal", "customer": {"id": 1}}, ("Marta Vidal", None, None)),
        ({"email": "b@y.es", "guest": {"email": "c@z.es"}}, (None, "b@y.es", None)),
        ({"first_name": "Jo", "last_name": None}, ("Jo", None, None)),
        ({"id": 3, "country": "ES"}, (None, None, None)),
    ],
)
def test_guest_fields_are_found_flat_nested_or_split(
    record: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    found = guest_columns(pd.DataFrame([record]))
    got = tuple(None if pd.isna(v) else v for v in found.iloc[0])
    assert got == expected


def test_keys_normalise_what_varies_between_systems() -> None:
    assert guest_keys(KEY, emails=[" Ana@X.es "]) == guest_keys(KEY, emails=["ana@x.es"])
    assert guest_keys(KEY, phones=["+34 600-11"]) == guest_keys(KEY, phones=["3460011"])
    assert guest_keys(KEY, names=["José  García"]) == guest_keys(KEY, names=["jose garcia"])
    assert guest_keys(KEY, names=["Ana"]) != guest_keys(b"another-key" * 4, names=["Ana"])
    assert guest_keys(KEY, emails=["ana@x.es"]) != guest_keys(KEY, names=["ana@x.es"])


def test_the_key_secret_errors_never_show_its_value() -> None:
    def missing(name: str) -> str:
        raise SecretAccessError(f"secret 'acme--{name}' not found")

    with pytest.raises(SecretAccessError, match="acme--guest-hash-key"):
        read_guest_key(missing, "acme")
    with pytest.raises(StepConfigError) as e:
        read_guest_key(lambda name: "s3cr3t-but-short", "acme")
    assert "s3cr3t" not in str(e.value)


def test_one_declaration_of_personal_columns_and_one_grant_of_the_key() -> None:
    assert set(PERSONAL_COLUMNS) >= {"guest_key", "guest_name", "guest_email", "guest_phone"}
    assert PERSONAL_COLUMNS["guest_key"].kind == "pseudonym"
    assert all(PERSONAL_COLUMNS[c].kind == "identifier" for c in ("guest_name", "guest_email"))
    readers = {e.type for e in CATALOG if GUEST_KEY_SECRET in e.secrets}
    assert readers == {"ms-data-modeling"}  # terraform grants it to that function alone
    assert BY_TYPE["ms-data-modeling"].config.endswith(":ModelingConfig")
    field = ModelingConfig.model_fields["guest_identity"]
    assert field.default == "hashed" and "guest-hash-key" in (field.description or "")
    with pytest.raises(ValueError, match="guest_identity"):
        ModelingConfig(source="avalon", guest_identity="plain")  # type: ignore[arg-type]
