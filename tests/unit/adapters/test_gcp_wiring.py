"""Settings select the GCP adapters; the emulators are chosen from settings, not constructors."""

from __future__ import annotations

import pytest

from mhi.adapters.gcp.gcs_flow_source import GcsFlowSource
from mhi.adapters.gcp.gcs_run_store import GcsRunStore
from mhi.adapters.gcp.pubsub_bus import PubSubBus
from mhi.adapters.gcp.secret_manager import SecretManagerStore
from mhi.adapters.local.env_secrets import EnvSecretStore
from mhi.config import Settings
from mhi.runtime.start import FolderFlowSource
from mhi.runtime.wiring import build, flow_source

EMULATED = {
    "MHI_BACKEND": "gcp",
    "MHI_SECRETS": "local",
    "_M_PROJECT_ID": "proj-test",
    "_M_ENV_ACRONYM": "dev",
    "RUNS_BUCKET": "runs-b",
    "FLOWS_BUCKET": "flows-b",
    "RAW_BUCKET": "raw-b",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:1",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:2",
}


def test_settings_read_the_emulator_hosts_and_the_secrets_back_end() -> None:
    s = Settings.from_env(EMULATED)
    assert (s.backend, s.secrets_backend, s.env_acronym) == ("gcp", "local", "dev")
    assert (s.pubsub_emulator_host, s.storage_emulator_host) == (
        "127.0.0.1:1",
        "http://127.0.0.1:2",
    )
    assert Settings.from_env({"MHI_BACKEND": "gcp"}).secrets_backend == "gcp"
    with pytest.raises(ValueError, match="MHI_SECRETS must be 'local' or 'gcp'"):
        Settings.from_env({"MHI_SECRETS": "vault"})


def test_the_gcp_back_end_builds_the_gcp_adapters_on_the_emulators() -> None:
    s = Settings.from_env(EMULATED)
    store = build("run_store", s)
    assert isinstance(store, GcsRunStore)
    assert (store.bucket_name, store.emulated_preconditions) == ("runs-b", True)
    assert store.client is build("blobs", s).client  # one storage client per process
    bus = build("bus", s)
    assert isinstance(bus, PubSubBus)
    assert bus.path("ms-echo") == "projects/proj-test/topics/ms-echo-dev"
    assert isinstance(build("secrets", s), EnvSecretStore)
    assert isinstance(flow_source(s), GcsFlowSource)


def test_real_services_keep_real_preconditions_and_secret_manager() -> None:
    env = {k: v for k, v in EMULATED.items() if not k.endswith("EMULATOR_HOST")}
    s = Settings.from_env({**env, "MHI_SECRETS": "gcp"})
    secrets = build("secrets", s)
    assert isinstance(secrets, SecretManagerStore)
    assert secrets.project == "proj-test"


def test_missing_configuration_names_the_variable_to_set() -> None:
    s = Settings.from_env({k: v for k, v in EMULATED.items() if k != "RUNS_BUCKET"})
    with pytest.raises(ValueError, match="needs RUNS_BUCKET"):
        build("run_store", s)
    no_project = Settings.from_env({"MHI_BACKEND": "gcp", "MHI_SECRETS": "gcp"})
    with pytest.raises(ValueError, match="needs _M_PROJECT_ID"):
        build("secrets", no_project)


def test_without_a_flows_bucket_flows_come_from_the_folder() -> None:
    assert isinstance(flow_source(Settings()), FolderFlowSource)
    s = Settings.from_env({k: v for k, v in EMULATED.items() if k != "FLOWS_BUCKET"})
    assert isinstance(flow_source(s), FolderFlowSource)
