"""terraform makes the timers' Cloud Tasks queue and grants it to the controller's account only."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from mhi.adapters.gcp.cloud_tasks_timers import CloudTasksTimers
from mhi.config import Settings
from tests.deploy import tf

CONTROLLER_MEMBER = '${google_service_account.fn["controller"].member}'
CONTROLLER_ACCOUNT = '${google_service_account.fn["controller"].name}'
GIVEN = {"project": "acme-data", "accounts": ["hotel-fergus"], "env": "dev"}


@pytest.fixture(scope="module")
def config() -> dict[str, list[Any]]:
    return tf.load()


def _grants(config: dict[str, list[Any]], role: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: body for k, body in tf.resources(config).items() if body.get("role") == role}


def test_the_queue_exists_with_retries_sized_for_wake_ups(config: dict[str, list[Any]]) -> None:
    queues = tf.of_type(config, "google_cloud_tasks_queue")
    assert list(queues) == ["timers"]
    queue = queues["timers"]
    assert queue["name"] == '"mhi-timers${local.suffix}"'
    assert queue["location"] == "${var.region}"
    retry = tf.block(queue, "retry_config")
    assert retry["min_backoff"] == "1s"  # a failed wake is tried again within seconds
    assert int(retry["max_retry_duration"].rstrip("s")) <= 3600  # the sweep covers the rest
    assert retry["max_attempts"] >= 5
    assert "${google_project_service.api}" in queue["depends_on"]
    api = tf.of_type(config, "google_project_service")["api"]
    assert '"cloudtasks.googleapis.com"' in api["for_each"]


def test_only_the_controllers_account_may_enqueue(config: dict[str, list[Any]]) -> None:
    members = tf.of_type(config, "google_cloud_tasks_queue_iam_member")
    assert list(members) == ["timer_enqueuer"]
    enqueuer = members["timer_enqueuer"]
    assert enqueuer["name"] == "${google_cloud_tasks_queue.timers.name}"
    assert enqueuer["location"] == "${google_cloud_tasks_queue.timers.location}"
    assert (enqueuer["role"], enqueuer["member"]) == (
        "roles/cloudtasks.enqueuer",
        CONTROLLER_MEMBER,
    )
    for kind in ("google_cloud_tasks_queue_iam_binding", "google_cloud_tasks_queue_iam_policy"):
        assert not tf.of_type(config, kind), f"{kind} is authoritative: never use it"
    tasks_roles = [r for r in tf.walk(config.get("resource", []), "role") if "cloudtasks" in str(r)]
    assert tasks_roles == ["roles/cloudtasks.enqueuer"]  # no project-wide Cloud Tasks role


def test_the_controller_may_act_as_itself_and_publish_its_wakes(
    config: dict[str, list[Any]],
) -> None:
    acts_as_grants = _grants(config, "roles/iam.serviceAccountUser")
    assert {name for _, name in acts_as_grants} == {"deployer_acts_as", "timer_token"}
    acts_as = acts_as_grants[("google_service_account_iam_member", "timer_token")]
    assert acts_as["service_account_id"] == CONTROLLER_ACCOUNT  # on itself, no other account
    assert acts_as["member"] == CONTROLLER_MEMBER
    wake = tf.of_type(config, "google_pubsub_topic_iam_member")["timer_wake"]
    assert wake["topic"] == "${google_pubsub_topic.topic[var.controller_topic].id}"
    assert (wake["role"], wake["member"]) == ("roles/pubsub.publisher", CONTROLLER_MEMBER)


def test_only_the_controller_gets_the_timer_settings(config: dict[str, list[Any]]) -> None:
    service = tf.block(
        tf.of_type(config, "google_cloudfunctions2_function")["fn"], "service_config"
    )
    assert service["environment_variables"] == (
        '${each.key == "controller" ? local.controller_env_vars : local.env_vars}'
    )
    [block] = [b for b in config["locals"] if "timer_env_vars" in b]
    assert block["timer_env_vars"] == {
        "MHI_TIMER_QUEUE": "${google_cloud_tasks_queue.timers.id}",
        "MHI_CONTROLLER_SA": '${google_service_account.fn["controller"].email}',
    }
    assert block["controller_env_vars"] == "${merge(local.env_vars, local.timer_env_vars)}"
    [shared] = [b["env_vars"] for b in config["locals"] if "env_vars" in b]
    assert not {"MHI_TIMER_QUEUE", "MHI_CONTROLLER_SA"} & set(shared)
    settings = Settings.from_env({"MHI_TIMER_QUEUE": "q", "MHI_CONTROLLER_SA": "sa"})
    assert (settings.timer_queue, settings.controller_service_account) == ("q", "sa")


def test_the_queue_terraform_names_is_one_the_adapter_accepts() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not installed: the locals cannot be evaluated")
    name = tf.evaluate({"queue": '"mhi-timers${local.suffix}"'}, GIVEN)["queue"]
    assert re.fullmatch(r"[A-Za-z0-9-]{1,100}", name) and name == "mhi-timers-dev"
    queue = f"projects/{GIVEN['project']}/locations/europe-southwest1/queues/{name}"
    timers = CloudTasksTimers(
        lambda: None,  # type: ignore[arg-type,return-value]
        queue,
        "projects/acme-data/topics/ms-flows-controller-dev",
        "mhi-controller-dev@acme-data.iam.gserviceaccount.com",
    )
    assert timers.queue == queue
