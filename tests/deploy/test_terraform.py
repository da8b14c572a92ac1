"""The terraform configuration agrees with the code: functions, topics, IAM, secrets, schedules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from mhi.catalog import CATALOG
from mhi.cli.commands.package import (
    TFVARS_PATH,
    model_layers,
    render_terraform_vars,
    scheduled_flows,
    terraform_vars,
)
from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC
from mhi.packaging import (
    CONTROLLER,
    function_specs,
)
from tests.deploy import tf

ROOT = tf.ROOT
GIVEN = {"project": "acme-data", "accounts": ["hotel-fergus", "hotel_b"], "env": "dev"}


@pytest.fixture(scope="module")
def config() -> dict[str, list[Any]]:
    return tf.load()


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return json.loads((ROOT / TFVARS_PATH).read_text())


@pytest.fixture(scope="module")
def evaluated() -> dict[str, Any]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not installed: the locals cannot be evaluated")
    names = [
        "topic_ids",
        "function_names",
        "triggers",
        "publishes",
        "secrets",
        "secret_grants",
        "datasets",
        "dataset_writers",
        "dataset_readers",
        "runs_roles",
        "env_vars",
        "buckets",
    ]
    return tf.evaluate({n: f"local.{n}" for n in names}, GIVEN)


def function_folders() -> set[str]:
    return {p.parent.name for p in (ROOT / "functions").glob("*/main.py")}


def test_terraform_fmt_check_passes() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform binary not installed")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff"],
        cwd=ROOT / "terraform",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt would change:\n{proc.stdout}{proc.stderr}"


def test_generated_function_map_is_up_to_date(generated: dict[str, Any]) -> None:
    expected = render_terraform_vars(terraform_vars())
    assert (ROOT / TFVARS_PATH).read_text() == expected, (
        f"{TFVARS_PATH} is out of date with the code: run `mhi package --tfvars` and commit it"
    )


def test_every_function_folder_has_a_function_and_every_function_a_folder(
    generated: dict[str, Any],
) -> None:
    assert function_folders() == set(generated["functions"])
    assert set(function_specs()) == set(generated["functions"])


def test_functions_and_service_accounts_are_one_per_map_entry(config: dict[str, Any]) -> None:
    fn = tf.of_type(config, "google_cloudfunctions2_function")["fn"]
    sa = tf.of_type(config, "google_service_account")["fn"]
    assert fn["for_each"] == sa["for_each"] == "${var.functions}"
    assert tf.block(fn, "build_config")["runtime"] == "${var.runtime}"
    assert tf.block(fn, "build_config")["entry_point"] == "${each.value.entry_point}"
    service = tf.block(fn, "service_config")
    assert service["service_account_email"] == "${google_service_account.fn[each.key].email}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert service["available_memory"] == "${each.value.memory}"
    assert service["min_instance_count"] == 0


def test_runtime_and_sizes(generated: dict[str, Any]) -> None:
    assert generated["runtime"] == "python312"
    controller = generated["functions"][CONTROLLER]
    assert controller["memory"] in ("256Mi", "512Mi", "1Gi")
    for name, f in generated["functions"].items():
        assert f["entry_point"] == "handle", name
        assert 1 <= f["timeout_seconds"] <= 540, name  # a push must be acked within 600 s
        assert f["max_instances"] >= 1, name
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,20}[a-z0-9]", f["service_account_id"]), name


def test_every_function_has_its_trigger_subscriptions(
    config: dict[str, Any], generated: dict[str, Any], evaluated: dict[str, Any]
) -> None:
    expected = {
        f"{fn}/{topic}": {"function": fn, "topic": topic}
        for fn, f in generated["functions"].items()
        for topic in f["trigger_topics"]
    }
    assert evaluated["triggers"] == expected
    # every function but the HTTP api is triggered by a topic
    assert all(f["trigger_topics"] or f["http"] for f in generated["functions"].values())
    assert [fn for fn, f in generated["functions"].items() if f["http"]] == ["api"]
    assert generated["functions"][CONTROLLER]["trigger_topics"] == [
        CONTROLLER_TOPIC,
        CALLBACK_TOPIC,
    ]
    for entry in CATALOG:
        assert entry.type in generated["functions"][entry.function]["trigger_topics"]
    sub = tf.of_type(config, "google_pubsub_subscription")["trigger"]
    assert sub["for_each"] == "${local.triggers}"
    assert sub["topic"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    push = tf.block(sub, "push_config")
    fn_ref = "google_cloudfunctions2_function.fn[each.value.function]"
    assert push["push_endpoint"] == f"${{{fn_ref}.service_config[0].uri}}"
    oidc = tf.block(push, "oidc_token")
    assert oidc["service_account_email"] == (
        "${google_service_account.fn[each.value.function].email}"
    )


def test_every_step_type_has_a_topic(generated: dict[str, Any], evaluated: dict[str, Any]) -> None:
    types = {e.type for e in CATALOG}
    assert set(generated["step_topics"]) == types
    assert set(evaluated["topic_ids"]) == types | {CONTROLLER_TOPIC, CALLBACK_TOPIC}
    assert all(v == f"{k}-dev" for k, v in evaluated["topic_ids"].items())


def test_topic_names_match_the_bus_adapter(evaluated: dict[str, Any]) -> None:
    from mhi.adapters.gcp.pubsub_bus import topic_id

    for name, tid in evaluated["topic_ids"].items():
        assert tid == topic_id(name, GIVEN["env"])
    plain = tf.evaluate({"t": "local.topic_ids"}, {**GIVEN, "env": ""})["t"]
    assert all(topic_id(k, None) == v for k, v in plain.items())


def test_the_controller_topic_is_published_to_by_named_identities_only(
    config: dict[str, Any],
) -> None:
    grants = tf.of_type(config, "google_pubsub_topic_iam_member")
    controller = {
        name: g
        for name, g in grants.items()
        if g["topic"] == "${google_pubsub_topic.topic[var.controller_topic].id}"
    }
    assert set(controller) >= {"controller_publisher"}
    grant = controller["controller_publisher"]
    assert grant["for_each"] == (
        "${toset(concat([local.scheduler_agent], var.controller_publishers))}"
    )
    assert grant["role"] == "roles/pubsub.publisher"
    assert all("allUsers" not in str(g["member"]) for g in grants.values())


def test_topics_keep_messages(config: dict[str, Any]) -> None:
    for name, topic in tf.of_type(config, "google_pubsub_topic").items():
        assert re.fullmatch(r"\d+s", topic["message_retention_duration"]), name


def test_every_subscription_has_a_dead_letter_policy(config: dict[str, Any]) -> None:
    subs = tf.of_type(config, "google_pubsub_subscription")
    assert subs, "no subscription at all"
    for name, sub in subs.items():
        assert tf.block(sub, "expiration_policy")["ttl"] == "", f"{name} would expire when idle"
        assert re.fullmatch(r"\d+s", sub["message_retention_duration"]), name
        if sub["topic"].startswith("${google_pubsub_topic.dead_letter["):
            # The inbox of a dead-letter topic: pulled by people, never pushed, no policy of
            # its own (it is where the policy ends).
            assert "push_config" not in sub and "dead_letter_policy" not in sub, name
            continue
        policy = tf.block(sub, "dead_letter_policy")
        assert policy["dead_letter_topic"] == "${google_pubsub_topic.dead_letter[each.key].id}"
        assert policy["max_delivery_attempts"] == "${var.max_delivery_attempts}", name
        assert sub["for_each"] == "${local.triggers}", name
        assert tf.block(sub, "retry_policy")["minimum_backoff"], name
    dead = tf.of_type(config, "google_pubsub_topic")["dead_letter"]
    assert dead["for_each"] == "${local.triggers}"  # one dead-letter topic per trigger
    inbox = subs["dead_letter_inbox"]
    assert inbox["for_each"] == "${local.triggers}"


def test_pubsub_agent_may_forward_dead_letters(config: dict[str, Any]) -> None:
    pub = tf.of_type(config, "google_pubsub_topic_iam_member")["dead_letter_publisher"]
    assert pub["for_each"] == "${local.triggers}" and pub["role"] == "roles/pubsub.publisher"
    assert pub["member"] == "${local.pubsub_agent}"
    sub = tf.of_type(config, "google_pubsub_subscription_iam_member")["dead_letter_subscriber"]
    assert sub["role"] == "roles/pubsub.subscriber" and sub["member"] == "${local.pubsub_agent}"


def _roles(config: dict[str, Any]) -> list[str]:
    found = [r for r in tf.walk(config.get("resource", []), "role") if isinstance(r, str)]
    for_each = [
        item
        for body in tf.of_type(config, "google_project_iam_member").values()
        for item in re.findall(r'"(roles/[^"]+)"', str(body.get("for_each", "")))
    ]
    return found + for_each


def test_no_service_account_gets_an_admin_editor_or_owner_role(
    config: dict[str, Any], evaluated: dict[str, Any]
) -> None:
    roles = _roles(config) + [r["role"] for r in evaluated["runs_roles"].values()]
    literal = [r for r in roles if not r.startswith("${")]
    assert literal, "no role found: the parse is broken"
    assert not {"roles/owner", "roles/editor"} & set(literal)
    admins = [r for r in literal if "admin" in r.split("/")[-1].lower()]
    assert admins == ["roles/storage.objectAdmin"]  # the deployer, on the flows bucket only
    dynamic = [r for r in roles if r.startswith("${")]
    assert sorted(dynamic) == ["${each.value.role}", "${each.value}"], dynamic
    for kind in ("google_project_iam_binding", "google_project_iam_policy"):
        assert not tf.of_type(config, kind), f"{kind} is authoritative: never use it"
    project_roles = {
        r
        for body in tf.of_type(config, "google_project_iam_member").values()
        for r in [body["role"], *re.findall(r'"(roles/[^"]+)"', str(body.get("for_each", "")))]
        if r.startswith("roles/")
    }
    assert not [r for r in project_roles if re.search(r"admin|editor|owner", r, re.I)]
    assert project_roles == {
        "roles/bigquery.jobUser",
        "roles/cloudfunctions.developer",
        "roles/logging.logWriter",
    }
    object_admin = tf.of_type(config, "google_storage_bucket_iam_member")["deployer_flows"]
    assert object_admin["bucket"] == "${google_storage_bucket.flows.name}"


def test_publishers_are_exactly_the_topics_each_function_publishes_to(
    generated: dict[str, Any], evaluated: dict[str, Any]
) -> None:
    steps = {e.type for e in CATALOG}
    for fn, f in generated["functions"].items():
        granted = {v["topic"] for v in evaluated["publishes"].values() if v["function"] == fn}
        assert granted == set(f["publishes"]), fn
        expected = {
            CONTROLLER: steps,
            "api": {CONTROLLER_TOPIC},
            # a sub-flow step starts its child run through the controller topic
            "sub_flow": {CALLBACK_TOPIC, CONTROLLER_TOPIC},
        }.get(fn, {CALLBACK_TOPIC})
        assert granted == expected, fn


def test_secrets_are_granted_to_their_readers_and_no_one_else(
    config: dict[str, Any], generated: dict[str, Any], evaluated: dict[str, Any]
) -> None:
    readers: dict[str, set[str]] = {}
    for fn, spec in function_specs().items():
        assert generated["functions"][fn]["secrets"] == list(spec.secrets)
        for account in GIVEN["accounts"]:
            for name in spec.secrets:
                readers.setdefault(f"{account}--{name}", set()).add(fn)
    _check_grants(evaluated, readers)
    accessor = tf.of_type(config, "google_secret_manager_secret_iam_member")
    assert list(accessor) == ["accessor"]  # the one way a secret is ever granted
    assert accessor["accessor"]["for_each"] == "${local.secret_grants}"
    assert accessor["accessor"]["member"] == (
        "${google_service_account.fn[each.value.function].member}"
    )
    secret = tf.of_type(config, "google_secret_manager_secret")["secret"]
    assert "secret_data" not in str(config)  # containers only: values never in terraform
    assert secret["secret_id"] == "${each.key}"


def test_secret_grants_with_shared_and_private_names(generated: dict[str, Any]) -> None:
    # The committed map may have few secrets; this map has shared and private names.
    functions = dict(generated["functions"])
    functions["qlik_app_reload"] = {**functions["qlik_app_reload"], "secrets": ["qlik-api-key"]}
    functions["qlik_automation"] = {
        **functions["qlik_automation"],
        "secrets": ["qlik-api-key", "qlik-webhook"],
    }
    got = tf.evaluate(
        {"secrets": "local.secrets", "secret_grants": "local.secret_grants"},
        GIVEN,
        generated={**generated, "functions": functions},
    )
    readers: dict[str, set[str]] = {}
    for fn, f in functions.items():
        for account in GIVEN["accounts"]:
            for name in f["secrets"]:
                readers.setdefault(f"{account}--{name}", set()).add(fn)
    assert readers["hotel_b--qlik-api-key"] == {"qlik_app_reload", "qlik_automation"}
    _check_grants(got, readers)


def _check_grants(evaluated: dict[str, Any], readers: dict[str, set[str]]) -> None:
    assert set(evaluated["secrets"]) == set(readers)
    granted: dict[str, set[str]] = {}
    for grant in evaluated["secret_grants"].values():
        granted.setdefault(grant["secret"], set()).add(grant["function"])
    assert granted == readers


def test_secret_ids_match_the_secret_store(evaluated: dict[str, Any]) -> None:
    from mhi.adapters.local.env_secrets import secret_id

    for sid, s in evaluated["secrets"].items():
        assert sid == secret_id(s["account"], s["name"])


def test_dataset_ids_match_the_warehouse_adapters(evaluated: dict[str, Any]) -> None:
    import importlib

    from mhi.adapters.local.duckdb_warehouse import dataset_name

    namers = [dataset_name]
    try:
        bq = importlib.import_module("mhi.adapters.gcp.bigquery_warehouse")
        namers += [bq.dataset_name] if hasattr(bq, "dataset_name") else []
    except ImportError:
        pass  # not written yet: the local adapter states the shared rule
    for d in evaluated["datasets"].values():
        for name in namers:
            assert d["dataset_id"] == name(d["account"], d["layer"])
    assert evaluated["datasets"]["hotel-fergus/raw"]["dataset_id"] == "hotel_fergus_raw"


def test_bigquery_access_only_where_used(
    config: dict[str, Any], generated: dict[str, Any], evaluated: dict[str, Any]
) -> None:
    assert len(evaluated["datasets"]) == len(GIVEN["accounts"]) * len(generated["layers"])
    for fn, f in generated["functions"].items():
        writes = {
            v["dataset"] for v in evaluated["dataset_writers"].values() if v["function"] == fn
        }
        reads = {v["dataset"] for v in evaluated["dataset_readers"].values() if v["function"] == fn}
        expect_w = {f"{a}/{layer}" for a in GIVEN["accounts"] for layer in f["bigquery_write"]}
        assert writes == expect_w, fn
        assert not writes & reads, fn
    assert not generated["functions"][CONTROLLER]["bigquery_read"]
    assert not generated["functions"]["echo"]["bigquery_read"]
    job_user = tf.of_type(config, "google_project_iam_member")["bigquery_job_user"]
    assert job_user["for_each"] == "${local.bigquery_users}"


def test_buckets(config: dict[str, Any], evaluated: dict[str, Any]) -> None:
    buckets = tf.of_type(config, "google_storage_bucket")
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
    runs = buckets["runs"]
    assert tf.block(runs, "versioning")["enabled"] is False
    rule = tf.block(runs, "lifecycle_rule")
    assert tf.block(rule, "action")["type"] == "Delete"
    assert tf.block(rule, "condition")["age"] == "${var.runs_retention_days}"
    env = evaluated["env_vars"]
    assert env["RUNS_BUCKET"] == evaluated["buckets"]["runs"] == "acme-data-mhi-runs-dev"
    assert env["MHI_BACKEND"] == "gcp" and env["MHI_WAREHOUSE"] == "bigquery"
    assert {"_M_PROJECT_ID", "_M_ENV_ACRONYM", "FLOWS_BUCKET", "RAW_BUCKET"} <= set(env)


def test_every_scheduled_flow_has_a_scheduler_job(
    config: dict[str, Any], generated: dict[str, Any]
) -> None:
    expected = {}
    for path in sorted((ROOT / "flows").glob("*.json")):
        flow = json.loads(path.read_text())
        if flow.get("schedule"):
            expected[flow["flow_id"]] = flow["schedule"]["cron"]
    assert {k: v["cron"] for k, v in generated["scheduled_flows"].items()} == expected
    job = tf.of_type(config, "google_cloud_scheduler_job")["flow"]
    assert job["for_each"] == "${var.scheduled_flows}"
    assert job["schedule"] == "${each.value.cron}"
    assert job["time_zone"] == "${each.value.time_zone}"
    target = tf.block(job, "pubsub_target")
    assert target["topic_name"] == "${google_pubsub_topic.topic[var.controller_topic].id}"
    assert target["data"] == "${base64encode(each.value.message)}"


def test_sweep_job_publishes_a_sweep_every_minute(config: dict[str, Any]) -> None:
    job = tf.of_type(config, "google_cloud_scheduler_job")["sweep"]
    assert job["schedule"] == "* * * * *"
    target = tf.block(job, "pubsub_target")
    assert target["topic_name"] == "${google_pubsub_topic.topic[var.controller_topic].id}"
    assert target["data"] == '${base64encode(jsonencode({kind = "sweep"}))}'
    from mhi.runtime.router import message_kind

    assert message_kind(b'{"kind": "sweep"}') == "sweep"


def test_scheduled_flows_from_a_flows_folder(tmp_path: Any) -> None:
    flow = json.loads((ROOT / "flows" / "daily-avalon-extract.json").read_text())
    flow["schedule"] = {"cron": "0 5 * * *", "time_zone": "Europe/Madrid"}
    (tmp_path / "a.json").write_text(json.dumps(flow))
    (tmp_path / "b.json").write_text(
        json.dumps({k: v for k, v in flow.items() if k != "schedule"} | {"flow_id": "other"})
    )
    got = scheduled_flows(tmp_path)
    assert list(got) == ["daily-avalon-extract"]
    job = got["daily-avalon-extract"]
    assert (job["cron"], job["time_zone"], job["account"]) == (
        "0 5 * * *",
        "Europe/Madrid",
        "hotel-fergus",
    )
    from mhi.model.messages import StartRef
    from mhi.runtime.router import message_kind

    assert message_kind(job["message"].encode()) == "start"
    start = StartRef.model_validate_json(job["message"])
    assert start.flow_ref == "daily-avalon-extract"


def test_a_flow_modelling_into_its_own_layer_gets_that_layer_and_its_grants(
    generated: dict[str, Any],
) -> None:
    # The seed's flow models into `analytics`: BigQuery needs that dataset and the model grants.
    assert model_layers(ROOT / "flows") == ["analytics"]
    assert generated["layers"] == ["raw", "model", "kpi", "forecast", "analytics"]
    fns = generated["functions"]
    assert "analytics" in fns["data_modeling"]["bigquery_write"]
    for reader in ("kpi_engine", "demand_forecast"):
        assert "analytics" in fns[reader]["bigquery_read"]
        assert "analytics" not in fns[reader]["bigquery_write"]
    assert not [
        name
        for name, f in fns.items()
        if "model" not in f["bigquery_read"] and "analytics" in f["bigquery_read"]
    ]


def test_model_layers_ignore_the_standard_ones(tmp_path: Any) -> None:
    flow = json.loads((ROOT / "flows" / "daily-avalon-extract.json").read_text())
    flow["flow_config"]["steps"][1]["config"]["target_schema"] = "model"
    (tmp_path / "a.json").write_text(json.dumps(flow))
    assert model_layers(tmp_path) == []
