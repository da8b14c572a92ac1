"""The local emulator stack, wired as in production: `mhi dev up` / `mhi dev down` and tests.

Processes, all on 127.0.0.1 with ephemeral ports, each in its own process group:
  - the Pub/Sub emulator (google-cloud-cli's Java `cloud-pubsub-emulator`),
  - gcp-storage-emulator (in memory, see `storage_emulator`) with the runs, flows and raw buckets,
  - one functions-framework process per function (`functions/<name>/main.py`, target `handle`),
and, as terraform does in production: a topic per step type plus `ms-flows-controller` and
`ms-flows-callbacks`, and a push subscription from each topic to the function that serves it
(Pub/Sub push → functions-framework → the `messagePublished` CloudEvent Eventarc delivers).

Functions run the gcp back end against the emulators, with local secrets (there is no Secret
Manager emulator) and the DuckDB warehouse under the stack's home. The state file
(`<home>/devstack.json`) records every pid, so `down` stops exactly what `up` started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mhi.catalog import CATALOG
from mhi.constants import CALLBACK_TOPIC, CONTROLLER_TOPIC
from mhi.dev.procs import (
    LAUNCHED,
    Proc,
    free_port,
    signal_group,
    stop_procs,
    wait_port,
)
from mhi.dev.procs import is_running as is_running  # re-exported for `mhi dev`

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
STATE_FILE = "devstack.json"
PROJECT = "mhi-local"
BUCKETS = {"RUNS_BUCKET": "mhi-runs", "FLOWS_BUCKET": "mhi-flows", "RAW_BUCKET": "mhi-raw"}
# The emulator jar, under the google-cloud-cli installation (`<sdk root>/bin/gcloud`); the Debian
# package's root is tried too, for a gcloud that is not on the PATH.
_JAR_PATTERN = "platform/pubsub-emulator/lib/cloud-pubsub-emulator-*.jar"
_DEFAULT_SDK_ROOT = Path("/usr/lib/google-cloud-sdk")


def check_prerequisites() -> Path:
    """Return the Pub/Sub emulator's jar once everything the stack runs is found.

    Raises:
        RuntimeError: something is missing; the message says what to install.
    """
    roots = [_DEFAULT_SDK_ROOT]
    gcloud = shutil.which("gcloud")
    if gcloud is not None:
        roots.insert(0, Path(gcloud).resolve().parents[1])
    jars = sorted(j for root in roots for j in root.glob(_JAR_PATTERN))
    if not jars:
        raise RuntimeError(
            "the Pub/Sub emulator of google-cloud-cli was not found (looked for "
            f"{_JAR_PATTERN} under {', '.join(map(str, roots))}): install it with "
            "`gcloud components install pubsub-emulator` or the google-cloud-cli-pubsub-emulator "
            "package"
        )
    if shutil.which("java") is None:
        raise RuntimeError("the Pub/Sub emulator needs Java: no `java` on the PATH")
    if importlib.util.find_spec("gcp_storage_emulator") is None:
        raise RuntimeError(
            "gcp-storage-emulator is not installed in this Python: "
            "pip install gcp-storage-emulator (it comes with `pip install -e '.[dev]'`)"
        )
    return jars[-1]


def function_topics() -> dict[str, list[str]]:
    """Function folder → the logical topics it is triggered by (as deployed)."""
    out: dict[str, list[str]] = {"controller": [CONTROLLER_TOPIC, CALLBACK_TOPIC]}
    for entry in CATALOG:
        out.setdefault(entry.function, []).append(entry.type)
    return out


@dataclass
class StackState:
    """What `up` started: enough for `down` (or another process) to find and stop it."""

    home: str
    project: str = PROJECT
    env_acronym: str | None = None
    procs: dict[str, Proc] = field(default_factory=dict)
    function_env: dict[str, str] = field(default_factory=dict)

    @property
    def pubsub_host(self) -> str:
        """host:port of the Pub/Sub emulator."""
        return f"127.0.0.1:{self.procs['pubsub'].port}"

    @property
    def storage_host(self) -> str:
        """http://host:port of the storage emulator."""
        return f"http://127.0.0.1:{self.procs['storage'].port}"

    def client_env(self) -> dict[str, str]:
        """Environment for a client of the stack (`mhi`, scripts, gcloud)."""
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "STORAGE_EMULATOR_HOST": self.storage_host,
            # gcloud's own switches: `gcloud pubsub ...` and `gcloud storage ...` on the emulators
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{self.pubsub_host}/",
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{self.storage_host}/",
            "_M_PROJECT_ID": self.project,
            **({"_M_ENV_ACRONYM": self.env_acronym} if self.env_acronym else {}),
            **BUCKETS,
        }

    def shell_env(self) -> dict[str, str]:
        """Environment for a shell: the clients', gcloud's and `mhi runs` on the stack's store."""
        return {
            **self.client_env(),
            # gcloud insists on credentials even for an emulator; any token will do.
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(Path(self.home) / "gcloud-emulator-token"),
            "CLOUDSDK_CORE_PROJECT": self.project,
            "MHI_BACKEND": "gcp",
            "MHI_SECRETS": "local",
        }

    def save(self) -> None:
        """Write the state file."""
        path = Path(self.home) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, home: str | Path) -> StackState | None:
        """Read the state file of the stack under `home`, if any."""
        path = Path(home) / STATE_FILE
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        procs = {k: Proc(**v) for k, v in raw.pop("procs").items()}
        return cls(procs=procs, **raw)


class DevStack:
    """Start and stop the emulator stack. Use as a context manager or call up()/down()."""

    def __init__(
        self,
        home: str | Path,
        *,
        functions: Sequence[str] | None = None,
        env_acronym: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        threads: int = 8,
        flows_dir: str | Path | None = None,
    ) -> None:
        known = function_topics()
        self.functions = list(functions) if functions is not None else list(known)
        unknown = [f for f in self.functions if f not in known]
        if unknown:
            raise ValueError(f"unknown function(s) {unknown}; known: {', '.join(known)}")
        self.home = Path(home).resolve()
        self.threads = threads
        self.extra_env = dict(extra_env or {})
        self.flows_dir = Path(flows_dir) if flows_dir else ROOT / "flows"
        self.state = StackState(str(self.home), env_acronym=env_acronym)

    # ---- lifecycle ----------------------------------------------------------------------

    def up(self, timeout: float = 60.0) -> StackState:
        """Start everything and wire topics to functions; stop what started if anything fails."""
        if StackState.load(self.home) is not None:
            raise RuntimeError(f"a stack is already recorded in {self.home / STATE_FILE}")
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        (self.home / "gcloud-emulator-token").write_text("emulator-needs-no-token\n")
        try:
            self._start_emulators(timeout)
            self._create_buckets()
            self._start_functions(timeout)
            self._create_topics_and_subscriptions()
        except BaseException:
            self.down()
            raise
        return self.state

    def down(self) -> list[str]:
        """Stop every process of this stack (by pid) and remove the state file."""
        stopped = stop_procs(self.state.procs.values())
        self.state.procs.clear()
        (self.home / STATE_FILE).unlink(missing_ok=True)
        return stopped

    def __enter__(self) -> DevStack:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # ---- processes ----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], port: int, env: Mapping[str, str]) -> Proc:
        log = self.home / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=ROOT,
                start_new_session=True,  # its own process group: stopped whole, children too
            )
        proc = Proc(name, popen.pid, port, str(log), argv)
        self.state.procs[name] = proc
        self.state.save()
        LAUNCHED[popen.pid] = popen
        return proc

    def _start_emulators(self, timeout: float) -> None:
        jar = check_prerequisites()
        ps_port, st_port = free_port(), free_port()
        base = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
        self._spawn(
            "pubsub",
            ["java", "-jar", str(jar), "--host=127.0.0.1", f"--port={ps_port}"],
            ps_port,
            base,
        )
        self._spawn(
            "storage",
            [sys.executable, "-m", "mhi.dev.storage_emulator", f"--port={st_port}"],
            st_port,
            base,
        )
        for name in ("pubsub", "storage"):
            wait_port(self.state.procs[name].port, self._handle(name), timeout, name)

    def _function_env(self) -> dict[str, str]:
        mhi_home = self.home / "mhi"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MHI_", "_M_"))}
        env.update(self.state.client_env())
        env.pop("CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB")
        env.pop("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE")
        env.update(
            {
                "MHI_BACKEND": "gcp",
                "MHI_SECRETS": "local",
                "MHI_WAREHOUSE": "duckdb",
                "MHI_HOME": str(mhi_home),
                "MHI_SECRETS_FILE": str(mhi_home / "secrets.json"),
                "THREADS": str(self.threads),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _start_functions(self, timeout: float) -> None:
        env = self._function_env()
        self.state.function_env = {k: v for k, v in env.items() if k.startswith(("MHI_", "_M_"))}
        for name in self.functions:
            self.start_function(name, env=env, wait=False)
        for name in self.functions:
            wait_port(self.state.procs[name].port, self._handle(name), timeout, f"function {name}")

    def start_function(
        self, name: str, *, env: Mapping[str, str] | None = None, wait: bool = True
    ) -> Proc:
        """(Re)start one function on its recorded port (push subscriptions keep pointing at it)."""
        old = self.state.procs.get(name)
        port = old.port if old is not None else free_port()
        source = ROOT / "functions" / name / "main.py"
        argv = [sys.executable, "-m", "functions_framework", "--target=handle"]
        argv += [f"--source={source}", "--signature-type=cloudevent"]
        argv += ["--host=127.0.0.1", f"--port={port}"]
        proc = self._spawn(name, argv, port, env or self._function_env())
        if wait:
            wait_port(port, self._handle(name), 30.0, f"function {name}")
        return proc

    def kill_function(self, name: str) -> None:
        """Kill a function's processes at once (SIGKILL), as a crashed instance."""
        proc = self.state.procs[name]
        signal_group(proc.pid, signal.SIGKILL)
        LAUNCHED.pop(proc.pid).wait(10)

    def _handle(self, name: str) -> subprocess.Popen[bytes]:
        return LAUNCHED[self.state.procs[name].pid]

    # ---- resources ----------------------------------------------------------------------

    def _create_buckets(self) -> None:
        from google.api_core import exceptions as gexc

        client = self.storage_client()
        for bucket in BUCKETS.values():
            with contextlib.suppress(gexc.Conflict):
                client.create_bucket(bucket)
        flows = client.bucket(BUCKETS["FLOWS_BUCKET"])
        from mhi.adapters.gcp.gcs_flow_source import flow_object

        for path in sorted(self.flows_dir.glob("*.json")):
            try:
                flow_id = json.loads(path.read_bytes())["flow_id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                logger.warning("%s is not a flow: not uploaded", path)
                continue
            flows.blob(flow_object(flow_id)).upload_from_filename(str(path))

    def _create_topics_and_subscriptions(self) -> None:
        from mhi.adapters.gcp.pubsub_bus import topic_path

        publisher, subscriber = self.pubsub_clients()
        project, env = self.state.project, self.state.env_acronym
        served = function_topics()
        topics = {t for ts in served.values() for t in ts}
        for topic in sorted(topics):
            publisher.create_topic(name=topic_path(project, topic, env))
        for name in self.functions:
            endpoint = f"http://127.0.0.1:{self.state.procs[name].port}/"
            for topic in served[name]:
                path = topic_path(project, topic, env)
                subscriber.create_subscription(
                    request={
                        "name": path.replace("/topics/", "/subscriptions/") + "-push",
                        "topic": path,
                        "push_config": {"push_endpoint": endpoint},
                        "ack_deadline_seconds": 600,
                    }
                )

    # ---- clients ------------------------------------------------------------------------

    def storage_client(self) -> Any:
        """A Cloud Storage client on the emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.state.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.state.storage_host},
        )

    def pubsub_clients(self) -> tuple[Any, Any]:
        """(publisher, subscriber) clients on the emulator."""
        return pubsub_clients(self.state.pubsub_host)


def pubsub_clients(host: str) -> tuple[Any, Any]:
    """(publisher, subscriber) on the Pub/Sub emulator at `host` (insecure gRPC channel)."""
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    publisher = pubsub_v1.PublisherClient(
        transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    )
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    )
    return publisher, subscriber


def down(home: str | Path) -> list[str]:
    """Stop the stack recorded under `home` (from another process: `mhi dev down`)."""
    state = StackState.load(home)
    if state is None:
        return []
    stopped = stop_procs(state.procs.values())
    (Path(home) / STATE_FILE).unlink(missing_ok=True)
    return stopped
