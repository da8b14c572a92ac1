"""Guest data in the infrastructure: customer-managed keys, audit and access logs, retention,
and the checkov findings that are skipped (each with its reason)."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from mhi.connectors.landing import raw_prefix
from mhi.connectors.state import watermark_key
from tests.deploy import tf

ROOT = tf.ROOT
KEY = "projects/acme-kms/locations/europe-southwest1/keyRings/mhi/cryptoKeys/guests"
GLOBAL_KEY = "projects/acme-kms/locations/global/keyRings/mhi/cryptoKeys/secrets"
GIVEN = {"project": "acme-data", "accounts": ["hotel-fergus"], "env": "dev"}
KEYED = {**GIVEN, "kms_key": KEY, "access_logs": True}
ENCRYPTED = (
    "google_storage_bucket",
    "google_bigquery_dataset",
    "google_pubsub_topic",
    "google_secret_manager_secret",
)
SERVICES = {"storage", "bigquery", "pubsub", "secret_manager"}

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform binary not installed"
)


@pytest.fixture(scope="module")
def config() -> dict[str, list[Any]]:
    return tf.load()


def _rendered(config: dict[str, Any], variables: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (rtype, name): tf.render(body, variables)
        for rtype in ENCRYPTED
        for name, body in tf.of_type(config, rtype).items()
    }


@pytest.fixture(scope="module")
def keyed(config: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return _rendered(config, KEYED)


@pytest.fixture(scope="module")
def unkeyed(config: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return _rendered(config, GIVEN)


def _keys_named(body: dict[str, Any], rtype: str) -> list[Any]:
    if rtype == "google_storage_bucket":
        return [b["default_kms_key_name"] for b in body.get("encryption", [])]
    if rtype == "google_bigquery_dataset":
        return [b["kms_key_name"] for b in body.get("default_encryption_configuration", [])]
    if rtype == "google_pubsub_topic":
        return [body["kms_key_name"]] if body.get("kms_key_name") else []
    return list(tf.walk(body["replication"], "kms_key_name"))


def test_with_a_key_every_bucket_dataset_topic_and_secret_names_it(
    keyed: dict[tuple[str, str], Any],
) -> None:
    kinds = {rtype for rtype, _ in keyed}
    assert kinds == set(ENCRYPTED), "a resource kind the test checks has disappeared"
    assert {n for t, n in keyed if t == "google_storage_bucket"} >= {"runs", "raw", "access_logs"}
    for (rtype, name), body in keyed.items():
        assert _keys_named(body, rtype) == [KEY], f"{rtype}.{name} is not encrypted with the key"
    for (rtype, name), body in keyed.items():
        if rtype == "google_pubsub_topic":
            policy = body["message_storage_policy"]
            assert policy == [{"allowed_persistence_regions": ["europe-southwest1"]}], name
    secret = keyed[("google_secret_manager_secret", "secret")]["replication"][0]
    assert secret["auto"] == []
    assert secret["user_managed"][0]["replicas"][0]["location"] == "europe-southwest1"


def test_without_a_key_google_managed_keys_as_today(
    unkeyed: dict[tuple[str, str], Any],
) -> None:
    for (rtype, name), body in unkeyed.items():
        assert _keys_named(body, rtype) == [], f"{rtype}.{name} names a key nobody set"
        assert not body.get("message_storage_policy"), name
    secret = unkeyed[("google_secret_manager_secret", "secret")]["replication"][0]
    assert secret == {"auto": [{"customer_managed_encryption": []}], "user_managed": []}
    grants = tf.evaluate({"g": "local.kms_grants"}, GIVEN)["g"]
    assert grants == {}


def test_secrets_with_a_global_key_keep_automatic_replication(config: dict[str, Any]) -> None:
    body = tf.of_type(config, "google_secret_manager_secret")["secret"]
    rendered = tf.render(body, {**KEYED, "kms_key_secrets": GLOBAL_KEY})["replication"][0]
    assert rendered["user_managed"] == []
    assert rendered["auto"] == [{"customer_managed_encryption": [{"kms_key_name": GLOBAL_KEY}]}]
    grants = tf.evaluate({"g": "local.kms_grants"}, {**KEYED, "kms_key_secrets": GLOBAL_KEY})["g"]
    assert grants == {"storage": KEY, "bigquery": KEY, "pubsub": KEY, "secret_manager": GLOBAL_KEY}


def _agents(config: dict[str, Any]) -> dict[str, str]:
    for block in config.get("locals", []):
        if "kms_agents" in block:
            return block["kms_agents"]  # type: ignore[no-any-return]
    raise AssertionError("no locals block defines kms_agents")


def test_the_service_agents_are_granted_the_key(config: dict[str, Any]) -> None:
    grants = tf.evaluate({"g": "local.kms_grants"}, KEYED)["g"]
    assert grants == dict.fromkeys(SERVICES, KEY)
    grant = tf.of_type(config, "google_kms_crypto_key_iam_member")["agent"]
    assert grant["for_each"] == "${local.kms_grants}"
    assert grant["crypto_key_id"] == "${each.value}"
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant["member"] == '"serviceAccount:${local.kms_agents[each.key]}"'
    agents = _agents(config)
    assert set(agents) == SERVICES
    assert "data.google_storage_project_service_account.agent" in agents["storage"]
    assert "data.google_bigquery_default_service_account.agent" in agents["bigquery"]
    assert "local.pubsub_agent" in agents["pubsub"]
    assert "google_project_service_identity.secret_manager" in agents["secret_manager"]
    pubsub_locals = next(b for b in config["locals"] if "pubsub_agent" in b)
    assert "@gcp-sa-pubsub.iam.gserviceaccount.com" in pubsub_locals["pubsub_agent"]
    identity = tf.of_type(config, "google_project_service_identity")["secret_manager"]
    assert identity["service"] == "secretmanager.googleapis.com"


def test_each_agent_exists_exactly_when_its_service_has_a_key(config: dict[str, Any]) -> None:
    found = {
        "storage": tf.of_type_data(config, "google_storage_project_service_account")["agent"],
        "bigquery": tf.of_type_data(config, "google_bigquery_default_service_account")["agent"],
        "secret_manager": tf.of_type(config, "google_project_service_identity")["secret_manager"],
    }
    for variables, want in ((KEYED, 1), (GIVEN, 0)):
        for service, body in found.items():
            assert tf.render(body, variables)["count"] == want, (service, want)


def test_encrypted_resources_wait_for_the_grants(config: dict[str, Any]) -> None:
    for rtype in ENCRYPTED:
        for name, body in tf.of_type(config, rtype).items():
            assert "${google_kms_crypto_key_iam_member.agent}" in body["depends_on"], name


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"kms_key": KEY.replace("europe-southwest1", "europe-west1")}, "kms_key must be in"),
        ({"kms_key": "guests"}, "kms_key must be empty or a key name"),
        ({"kms_key_secrets": "projects/p/keyRings/r"}, "kms_key_secrets must be empty or"),
        ({"raw_retention_days": 0}, "raw_retention_days must be a whole number"),
        ({"raw_retention_days": 7.5}, "raw_retention_days must be a whole number"),
    ],
)
def test_bad_settings_are_refused(variables: dict[str, Any], message: str) -> None:
    assert message in tf.refused({**GIVEN, **variables})


def test_data_access_audit_logs_are_on_by_default_and_can_be_turned_off(
    config: dict[str, Any],
) -> None:
    audit = tf.of_type(config, "google_project_iam_audit_config")["data_access"]
    on = tf.render(audit, GIVEN)
    assert set(on["for_each"]) == {
        "storage.googleapis.com",
        "bigquery.googleapis.com",
        "secretmanager.googleapis.com",
    }
    assert [c["log_type"] for c in on["audit_log_config"]] == ["DATA_READ", "DATA_WRITE"]
    assert on["project"] == "acme-data"
    assert tf.render(audit, {**GIVEN, "data_access_logs": False})["for_each"] == []


def test_access_logs_are_an_option(config: dict[str, Any]) -> None:
    buckets = tf.of_type(config, "google_storage_bucket")
    log_bucket = "acme-data-mhi-access-logs-dev"
    for name, body in buckets.items():
        on, off = tf.render(body, KEYED), tf.render(body, GIVEN)
        assert not off.get("logging"), name
        if name == "access_logs":
            assert (on["count"], off["count"]) == (1, 0)
            assert on["name"] == log_bucket
            assert _delete_ages(on) == [(90, None)]
            continue
        assert on["logging"] == [{"log_bucket": log_bucket, "log_object_prefix": f"{name}/"}]
    writer = tf.render(
        tf.of_type(config, "google_storage_bucket_iam_member")["access_log_writer"], KEYED
    )
    assert writer["count"] == 1
    assert (writer["role"], writer["member"]) == (
        "roles/storage.objectCreator",
        "group:cloud-storage-analytics@google.com",
    )


def _delete_ages(bucket: dict[str, Any]) -> list[tuple[Any, Any]]:
    out = []
    for rule in bucket.get("lifecycle_rule", []):
        if rule["action"][0]["type"] == "Delete" and "age" in rule["condition"][0]:
            condition = rule["condition"][0]
            out.append((condition["age"], condition.get("matches_prefix")))
    return out


def test_every_bucket_that_can_hold_guest_data_deletes_it(config: dict[str, Any]) -> None:
    buckets = tf.of_type(config, "google_storage_bucket")
    raw = tf.render(buckets["raw"], GIVEN)
    assert _delete_ages(raw) == [(30, ["raw/", "imports/"])]  # the default retention
    assert tf.render(buckets["runs"], GIVEN)["lifecycle_rule"][0]["condition"][0]["age"] == 90
    landed = raw_prefix("hotel-fergus", "avalon", "reservations", "r1") + "part-00001.ndjson.gz"
    assert landed.startswith("raw/")
    # The extractors' watermarks live in the same bucket and must survive the retention rule.
    watermark = watermark_key("hotel-fergus", "avalon", "reservations", "avalon-0123")
    assert not watermark.startswith(("raw/", "imports/"))
    longer = tf.render(buckets["raw"], {**GIVEN, "raw_retention_days": 400})
    assert _delete_ages(longer) == [(400, ["raw/", "imports/"])]
    nearline = [r for r in longer["lifecycle_rule"] if r["action"][0]["type"] != "Delete"]
    assert [r["condition"][0]["age"] for r in nearline] == [30]
    assert not [r for r in raw["lifecycle_rule"] if r["action"][0]["type"] != "Delete"]


_SKIP = re.compile(r"#\s*checkov:skip=([^:\s]*)(:?)(.*)")


def test_every_checkov_skip_names_a_check_and_gives_its_reason() -> None:
    skips = 0
    for path in sorted(tf.TF_DIR.glob("*.tf")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            match = _SKIP.search(line)
            if not match:
                continue
            skips += 1
            where = f"{path.name}:{number}"
            check, colon, reason = match.groups()
            assert re.fullmatch(r"CKV2?_[A-Z]+_\d+", check), f"{where}: no check id"
            assert colon and len(reason.strip()) >= 30, f"{where}: {check} skipped without reason"
            opening = next(x for x in reversed(lines[: number - 1]) if not _SKIP.search(x))
            assert re.fullmatch(r'(resource|data) "[^"]+" "[^"]+" \{', opening), (
                f"{where}: a skip goes first inside its resource block, next to the resource"
            )
    assert skips, "no checkov skip found: the scan is broken"


def test_ci_runs_checkov_offline_over_terraform() -> None:
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    line = next((x for x in run.splitlines() if "checkov" in x and "-d terraform" in x), "")
    assert line, ".ci/run does not run checkov over terraform/"
    assert "--skip-download" in line and "--soft-fail" not in line
    setup = (ROOT / ".ci" / "setup").read_text(encoding="utf-8")
    assert re.search(r"checkov==\d+\.\d+\.\d+", setup), ".ci/setup must pin checkov"
