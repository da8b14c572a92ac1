"""`mhi gdpr erase`: a named guest leaves every landed file and table; a second run finds
nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mhi.analytics.personal import guest_keys
from mhi.cli.main import main
from mhi.gdpr.erase import erase_guest
from mhi.gdpr.guest import GdprError, Guest, predicate
from mhi.gdpr.landed import erase_landed
from mhi.gdpr.tables import account_layers
from tests.fakes.apis.scenarios import ACCOUNT, Scenario
from tests.unit.gdpr.conftest import HASH_KEY, Lab, avalon_guest, guest

KEY = HASH_KEY.encode()


def _erase(lab: Lab, guest_: Guest, dry_run: bool = False) -> Any:
    return erase_guest(
        ACCOUNT,
        guest_,
        blobs=lab.blobs,
        tables=lab.tables(),
        read_key=lambda: KEY,
        dry_run=dry_run,
    )


def _landed(lab: Lab) -> list[dict[str, Any]]:
    records = []
    for key in lab.blobs.list(f"raw/{ACCOUNT}/"):
        if key.endswith(".ndjson.gz"):
            data = lab.blobs.read_bytes(key)
            assert data is not None
            records += [json.loads(x) for x in gzip.decompress(data).splitlines() if x.strip()]
    return records


def _extract_and_model(lab: Lab, avalon: Scenario) -> None:
    lab.step("ms-extractor-avalon", avalon.step_config())
    lab.step("ms-data-modeling", {"source": "avalon"})


def test_a_guest_named_by_email_leaves_the_landed_files_and_every_table(
    lab: Lab, avalon: Scenario
) -> None:
    _extract_and_model(lab, avalon)
    assert len(_landed(lab)) == 60
    email = avalon_guest(7)["email"].upper()  # any case
    report = _erase(lab, Guest.of(emails=[email]))
    assert [(f.removed, f.kept) for f in report.files] == [(1, 59)]
    assert report.tables == {
        "raw.avalon_reservations": 1,
        "model.reservations": 1,
        "model.stay_nights": 3,  # R0000007 stays 3 nights: its nights go with the booking
    }
    assert report.total == 6
    landed = _landed(lab)
    assert len(landed) == 59 and all(r["guest"]["name"] != "Guest 7" for r in landed)
    assert '"guest 7"' not in lab.all_text() and email.lower() not in lab.all_text()
    res = lab.warehouse.read(ACCOUNT, "model.reservations")
    assert len(res) == 59 and not guest_keys(KEY, emails=[email]) & set(res["guest_key"])
    nights = lab.warehouse.read(ACCOUNT, "model.stay_nights")
    assert "R0000007" not in set(nights["reservation_id"]) and len(nights) == 177
    manifest = json.loads(
        lab.blobs.read_bytes(report.files[0].key.rsplit("/", 1)[0] + "/manifest.json") or b"{}"
    )
    assert manifest["files"][0]["rows"] == 59 and manifest["erasures"] == 1
    again = _erase(lab, Guest.of(emails=[email]))
    assert again.total == 0 and not again.files and not again.tables
    assert "nothing of this guest was found" in "\n".join(again.lines())


def test_a_guest_named_only_by_name_also_leaves_the_rows_keyed_by_email(
    lab: Lab, avalon: Scenario
) -> None:
    _extract_and_model(lab, avalon)
    # The model keys guests by email; the name alone reaches those rows through the raw ones.
    report = _erase(lab, Guest.of(names=["guest 21"]))
    assert report.tables == {
        "raw.avalon_reservations": 1,
        "model.reservations": 1,
        "model.stay_nights": 2,
    }
    res = lab.warehouse.read(ACCOUNT, "model.reservations")
    assert not guest_keys(KEY, emails=[avalon_guest(21)["email"]]) & set(res["guest_key"])
    assert _erase(lab, Guest.of(names=["Guest 21"])).total == 0


def test_dry_run_reports_and_changes_nothing(lab: Lab, avalon: Scenario) -> None:
    _extract_and_model(lab, avalon)
    before = (_landed(lab), lab.warehouse.read(ACCOUNT, "model.reservations"))
    phone = avalon_guest(3)["phone"]
    nights = lab.warehouse.read(ACCOUNT, "model.stay_nights")
    stays = int((nights["reservation_id"] == "R0000003").sum())
    report = _erase(lab, Guest.of(phones=[phone]), dry_run=True)
    assert stays and report.total == 3 + stays and "would remove" in "\n".join(report.lines())
    assert _landed(lab) == before[0]
    pd.testing.assert_frame_equal(lab.warehouse.read(ACCOUNT, "model.reservations"), before[1])
    assert _erase(lab, Guest.of(phones=[phone])).total == 3 + stays


def test_the_bundled_bookings_lose_both_bookings_of_a_guest(
    lab: Lab, bundled_csv: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    lab.step("ms-file-import", {"path": str(bundled_csv), "table": "hotel_bookings"})
    lab.step("ms-data-modeling", {"source": "hotel_bookings", "guest_identity": "clear"})
    lab.step("ms-data-modeling", {"source": "hotel_bookings", "target_schema": "analytics"})
    monkeypatch.setenv("MHI_HOME", str(lab.root))
    monkeypatch.setenv("MHI_SECRET_HOTEL_FERGUS__GUEST_HASH_KEY", HASH_KEY)
    email = guest(42)["email"]
    args = ["gdpr", "erase", "--account", ACCOUNT, "--email", email, "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    nights = report["tables"].pop("model.stay_nights")
    assert nights == report["tables"].pop("analytics.stay_nights") > 0
    assert report["tables"] == {
        "analytics.reservations": 2,  # hashed
        "model.reservations": 2,  # clear values, found by value and by key
        "raw.hotel_bookings": 2,
    }
    assert email not in lab.all_text(("raw", "model", "analytics"))
    assert main(args[:-1]) == 0
    out = capsys.readouterr().out
    assert "removed 0 rows" in out and email not in out and HASH_KEY not in out


def test_landed_files_other_guests_and_odd_files(lab: Lab) -> None:
    records = [
        {"id": 1, "guest": {"name": "Ana Ruiz", "email": "ana@x.es"}},
        {"id": 2, "holder": json.dumps({"name": "Ana Ruiz"})},
        {"id": 3, "firstName": "Ana", "lastName": "Ruiz"},
        {"id": 4, "guest": {"name": "Ana Ruizz", "email": "ana@x.es.com"}, "note": "ana"},
        {"id": 5, "amount": 12, "tags": ["x", "Ana Ruiz "]},
    ]
    body = b"\n".join(json.dumps(r).encode() for r in records) + b"\n"
    lab.blobs.write_bytes(f"raw/{ACCOUNT}/x/d/run=1/part-00001.ndjson.gz", gzip.compress(body))
    lab.blobs.write_bytes(f"raw/{ACCOUNT}/x/d/run=1/import.csv", b"name\nAna Ruiz\n")
    lab.blobs.write_bytes("raw/other/x/d/run=1/part-00001.ndjson.gz", gzip.compress(body))
    found = erase_landed(lab.blobs, ACCOUNT, Guest.of(names=["ana ruiz"]))
    assert [r["id"] for r in found.records] == [1, 2, 3, 5]
    assert found.not_searched == [f"raw/{ACCOUNT}/x/d/run=1/import.csv"]
    assert [r["id"] for r in _landed(lab)] == [4]
    other = lab.blobs.read_bytes("raw/other/x/d/run=1/part-00001.ndjson.gz")
    assert other is not None and len(gzip.decompress(other).splitlines()) == 5
    lab.blobs.write_bytes(f"raw/{ACCOUNT}/x/d/run=2/part-00001.ndjson.gz", b"not gzip")
    with pytest.raises(GdprError, match=r"run=2/part-00001\.ndjson\.gz: not a gzip file"):
        erase_landed(lab.blobs, ACCOUNT, Guest.of(names=["ana ruiz"]))


@pytest.mark.parametrize(
    ("emails", "names", "phones", "message"),
    [
        ([], [], [], "give at least one"),
        (["not-an-email"], [], [], "is not an email address"),
        ([], ["Al"], [], "too short"),
        ([], [], ["+34 12"], "fewer than 6 digits"),
    ],
)
def test_bad_requests_are_refused_clearly(
    emails: list[str], names: list[str], phones: list[str], message: str
) -> None:
    with pytest.raises(GdprError, match=message):
        Guest.of(emails, names, phones)


def test_the_command_refuses_a_bad_account(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gdpr", "erase", "--account", "../etc", "--email", "a@b.es"]) == 2
    assert "is not an account id" in capsys.readouterr().err


def test_another_account_with_a_longer_name_is_never_searched() -> None:
    schemas = ["hotel_raw", "hotel_model", "hotel_kpi", "hotel_b_raw", "hotel_b_model", "hotelx"]
    assert account_layers(schemas, "hotel", ["hotel", "hotel_b"]) == {"raw", "model"}
    assert account_layers(schemas, "hotel_b", ["hotel", "hotel_b"]) == {"raw", "model"}


def test_the_condition_is_parameterised_and_quoted() -> None:
    where, params = predicate(
        ["guest", "first_name", "last_name", 'odd"col'],
        Guest.of(names=["Ana O'Neil"]),
        set(),
        lambda c: '"' + c.replace('"', '""') + '"',
    ) or ("", {})
    assert "O'Neil" not in where and "ana o'neil" in params.values()
    assert '"odd""col"' in where
    assert 'CONCAT(TRIM("first_name"), \' \', TRIM("last_name"))' in where
    assert predicate(["guest_key"], Guest.of(names=["Ana Ruiz"]), set(), str) is None
