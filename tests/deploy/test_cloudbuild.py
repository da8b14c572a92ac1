"""Cloud Build pipelines agree with `mhi package`, terraform and each other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import tf

ROOT = tf.ROOT
BUILTINS = {"PROJECT_ID", "BUILD_ID", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME", "LOCATION"}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cloudbuild" / name).read_text())  # type: ignore[no-any-return]


def _steps(build: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in build["steps"]}


def _script(step: dict[str, Any]) -> str:
    return " ".join(str(a) for a in step.get("args", []))


@pytest.mark.parametrize("name", ["deploy.yaml", "terraform.yaml"])
def test_substitutions_used_and_declared_match(name: str) -> None:
    build = _load(name)
    text = (ROOT / "cloudbuild" / name).read_text()
    body = text[text.index("steps:") :]
    used = set(re.findall(r"\$\{?(_[A-Z0-9_]+)", body)) | set(
        re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", body)
    )
    declared = set(build["substitutions"])
    assert used - BUILTINS == declared  # MUST_MATCH fails a build on any difference
    assert build["options"]["substitutionOption"] == "MUST_MATCH"
    assert build["substitutions"]["_REGION"] == "europe-southwest1"
    assert "_ENV" in declared


def test_deploy_pipeline_tests_packages_deploys_then_uploads_flows() -> None:
    build = _load("deploy.yaml")
    assert [s["id"] for s in build["steps"]] == [
        "test",
        "package",
        "deploy-functions",
        "upload-flows",
    ]
    steps = _steps(build)
    assert "pytest" in _script(steps["test"])
    assert "mhi package --tfvars --check" in _script(steps["test"])
    package = _script(steps["package"])
    assert "mhi package --all --out build/functions > build/bundles.tsv" in package
    assert "mhi package --flows build/flows" in package
    assert steps["deploy-functions"]["args"] == [
        "cloudbuild/deploy_functions.sh",
        "build/bundles.tsv",
    ]
    env = dict(e.split("=", 1) for e in steps["deploy-functions"]["env"])
    assert env == {"PROJECT": "$PROJECT_ID", "REGION": "$_REGION", "ENV_ACRONYM": "$_ENV"}
    upload = _script(steps["upload-flows"])
    assert 'gcloud storage rsync build/flows "gs://$_FLOWS_BUCKET"' in upload


def test_terraform_pipeline_plans_and_applies_with_fresh_bundles() -> None:
    steps = _steps(_load("terraform.yaml"))
    assert list(steps) == ["package", "init", "fmt", "validate", "plan", "apply"]
    package = _script(steps["package"])
    assert "mhi package --tfvars --check" in package
    out = re.search(r"mhi package --all --zip --out (\S+)", package)
    assert out, package
    variables = {name: body for block in tf.load()["variable"] for name, body in block.items()}
    bundles = (ROOT / "terraform" / variables["bundles_dir"]["default"]).resolve()
    assert bundles == (ROOT / out.group(1)).resolve()
    assert steps["fmt"]["args"] == ["fmt", "-check", "-recursive"]
    plan = steps["plan"]["args"]
    assert {"-var=region=$_REGION", "-var=env=$_ENV", "-var=project=$PROJECT_ID"} <= set(plan)
    assert "terraform apply -input=false tfplan" in _script(steps["apply"])


def test_terraform_triggers_fill_the_pipelines_substitutions() -> None:
    triggers = tf.of_type(tf.load(), "google_cloudbuild_trigger")
    for name, file in (("deploy", "deploy.yaml"), ("terraform", "terraform.yaml")):
        assert triggers[name]["filename"] == f"cloudbuild/{file}"
        given = set(triggers[name]["substitutions"])
        assert given <= set(_load(file)["substitutions"]), name


@pytest.fixture
def fake_gcloud(tmp_path: Path) -> Path:
    """A `gcloud` that records its arguments; `describe` answers from $FAKE_LABELS."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(
        "#!/usr/bin/env bash\n"
        'echo "$*" >> "$FAKE_LOG"\n'
        'if [ "$2" = describe ]; then\n'
        '  grep "^$3=" "$FAKE_LABELS" | cut -d= -f2 || true\n'
        "  exit 0\n"
        "fi\n"
        'if [ "$2" = deploy ] && [ "$3" = "$FAKE_FAIL" ]; then\n'
        '  echo "quota exceeded" >&2; exit 1\n'
        "fi\n"
    )
    script.chmod(0o755)
    return bin_dir


def _run_deploy(tmp_path: Path, bin_dir: Path, fail: str = "") -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "bundles.tsv"
    manifest.write_text(
        "echo\tmhi-echo\tpython312\thandle\taaa111\tbuild/functions/echo\n"
        "controller\tmhi-controller\tpython312\thandle\tbbb222\tbuild/functions/controller\n"
    )
    (tmp_path / "labels").write_text("mhi-echo-dev=aaa111\nmhi-controller-dev=old000\n")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin",
        "PROJECT": "acme-data",
        "REGION": "europe-southwest1",
        "ENV_ACRONYM": "dev",
        "FAKE_LOG": str(tmp_path / "calls"),
        "FAKE_LABELS": str(tmp_path / "labels"),
        "FAKE_FAIL": fail,
    }
    return subprocess.run(
        ["bash", str(ROOT / "cloudbuild" / "deploy_functions.sh"), str(manifest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_deploy_script_deploys_only_changed_bundles(tmp_path: Path, fake_gcloud: Path) -> None:
    proc = _run_deploy(tmp_path, fake_gcloud)
    assert proc.returncode == 0, proc.stderr
    deploys = [c for c in (tmp_path / "calls").read_text().splitlines() if " deploy " in c]
    assert deploys == [
        "functions deploy mhi-controller-dev --gen2 --project=acme-data "
        "--region=europe-southwest1 --source=build/functions/controller --runtime=python312 "
        "--entry-point=handle --update-labels=mhi-bundle=bbb222 --quiet"
    ]
    assert "mhi-echo-dev: unchanged (aaa111)" in proc.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_deploy_script_fails_with_the_log_of_a_failed_deploy(
    tmp_path: Path, fake_gcloud: Path
) -> None:
    proc = _run_deploy(tmp_path, fake_gcloud, fail="mhi-controller-dev")
    assert proc.returncode == 1
    assert "controller: FAILED" in proc.stderr and "quota exceeded" in proc.stderr
