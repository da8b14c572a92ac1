"""`mhi package`: the bundle Cloud Build deploys, its requirements, the terraform map, flows."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from mhi.catalog import CATALOG, StepType
from mhi.cli.commands.package import (
    export_flows,
    scheduled_flows,
)
from mhi.cli.main import main
from mhi.packaging import (
    CONTROLLER,
    PackagingError,
    build_bundle,
    bundle_hash,
    function_specs,
    requirements_txt,
    service_account_id,
    zip_bundle,
)
from tests.deploy import imports
from tests.deploy.secret_scan import secrets_read

ROOT = Path(__file__).resolve().parents[2]
FLOW = json.loads((ROOT / "flows" / "daily-avalon-extract.json").read_text())


def _names(requirements: str) -> set[str]:
    lines = [x for x in requirements.splitlines() if x and not x.startswith("#")]
    return {re.match(r"[A-Za-z0-9._-]+", x).group(0) for x in lines}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def specs():  # type: ignore[no-untyped-def]
    return function_specs()


def test_controller_needs_only_the_runtime_packages(specs) -> None:  # type: ignore[no-untyped-def]
    text = requirements_txt(specs[CONTROLLER])
    assert _names(text) == {
        "pydantic",
        "croniter",
        "google-cloud-pubsub",
        "google-cloud-storage",
        "functions-framework",
        "requests",  # google-cloud-storage's transport, imported by the GCS adapters
        "google-cloud-tasks",  # the controller sets its timers on Cloud Tasks
    }
    assert "pydantic>=2.6" in text.splitlines()  # the pin of pyproject.toml, not a copy


def test_analytics_and_extractors_need_more(specs) -> None:  # type: ignore[no-untyped-def]
    kpi = _names(requirements_txt(specs["kpi_engine"]))
    assert {"pandas", "statsmodels", "google-cloud-bigquery"} <= kpi
    assert "duckdb" not in kpi  # the local warehouse never runs in a function
    avalon = _names(requirements_txt(specs["extractor_avalon"]))
    assert {"requests", "google-cloud-secret-manager", "google-cloud-bigquery"} <= avalon
    assert "pandas" not in _names(requirements_txt(specs["notifications"]))


def test_every_import_of_a_function_is_in_its_requirements(specs) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for name, spec in specs.items():
        have = _names(requirements_txt(spec))
        found = imports.third_party(imports.roots_of(spec), ROOT / "functions" / name / "main.py")
        for module in sorted(found):
            if module.split(".")[0] in imports.NEVER_LOADED:
                continue
            dist = imports.distribution(module)
            ok = dist in have or (
                dist == "google-cloud-*" and any(h.startswith("google-cloud-") for h in have)
            )
            if not ok:
                problems.append(f"{name}: imports {module} ({dist or 'unknown package'})")
    assert not problems, "\n".join(problems)


def test_bundle_is_main_plus_mhi_plus_requirements(tmp_path: Path) -> None:
    folder = build_bundle("echo", tmp_path)
    assert (folder / "main.py").read_bytes() == (ROOT / "functions/echo/main.py").read_bytes()
    shipped = {p.relative_to(folder / "mhi") for p in (folder / "mhi").rglob("*.py")}
    source = {
        p.relative_to(ROOT / "shared" / "mhi") for p in (ROOT / "shared" / "mhi").rglob("*.py")
    }
    dev_only = {p for p in source if p.parts[0] == "dev"}
    assert dev_only, "the dev tooling moved: update this test"
    assert shipped == source - dev_only
    assert not (folder / "mhi" / "dev").exists()
    assert not list(folder.rglob("__pycache__")) and not list(folder.rglob("*.pyc"))
    assert _names((folder / "requirements.txt").read_text()) >= {"functions-framework"}


def test_no_deployed_module_imports_the_dev_tooling() -> None:
    # Bundles leave mhi/dev out, so a function importing it would fail only once deployed.
    package = ROOT / "shared" / "mhi"
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.relative_to(package).parts[0] not in ("dev", "cli")
        and re.search(r"^\s*(from|import)\s+mhi\.dev\b", path.read_text(), re.MULTILINE)
    ]
    assert not offenders, f"deployed modules import mhi.dev: {offenders}"


def test_dev_only_subpackage_is_left_out_at_the_top_only(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "functions" / "echo").mkdir(parents=True)
    (root / "functions" / "echo" / "main.py").write_text("x = 1\n")
    for rel in ("__init__.py", "dev/__init__.py", "dev/stack.py", "steps/dev/keep.py"):
        (root / "shared" / "mhi" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "shared" / "mhi" / rel).write_text("")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    folder = build_bundle("echo", tmp_path / "out", root=root, specs=function_specs())
    shipped = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py"))
    assert shipped == ["main.py", "mhi/__init__.py", "mhi/steps/dev/keep.py"]


def test_bundle_hash_and_zip_depend_on_content_only(tmp_path: Path) -> None:
    a = build_bundle("echo", tmp_path / "a")
    b = tmp_path / "b" / "echo"
    shutil.copytree(a, b, copy_function=shutil.copy)  # same bytes, other path and times
    os.utime(b / "main.py", (0, 0))
    assert bundle_hash(a) == bundle_hash(b)
    assert zip_bundle(a, tmp_path / "a.zip").read_bytes() == (
        zip_bundle(b, tmp_path / "b.zip").read_bytes()
    )
    (b / "main.py").write_text((b / "main.py").read_text() + "\n# changed\n")
    assert bundle_hash(a) != bundle_hash(b)


def test_clear_errors(tmp_path: Path, specs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PackagingError, match=r"unknown function 'nope' \(known: .*controller"):
        build_bundle("nope", tmp_path)
    bad = dataclasses.replace(specs["echo"], requirements=("leftpad",))
    with pytest.raises(PackagingError, match=r"leftpad, not declared in pyproject\.toml"):
        requirements_txt(bad)


def test_unknown_handler_family_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import mhi.packaging as packaging

    odd = StepType("ms-odd", "mhi.elsewhere.odd:KIND", "mhi.elsewhere.odd:Config", "odd", "")
    monkeypatch.setattr(packaging, "CATALOG", (odd,))
    with pytest.raises(PackagingError, match="no packaging profile for handler module"):
        packaging.function_specs()


def test_service_account_ids_fit_with_an_env_suffix(specs) -> None:  # type: ignore[no-untyped-def]
    ids = [s.service_account_id for s in specs.values()]
    assert len(set(ids)) == len(ids)
    assert all(len(i) <= 22 and re.fullmatch(r"[a-z][a-z0-9-]+[a-z0-9]", i) for i in ids)
    assert service_account_id("extractor_businesscentral") == "mhi-x-businesscentral"
    long = service_account_id("a_really_long_function_name_here")
    assert len(long) <= 22 and long != service_account_id("a_really_long_function_name_there")


def test_secret_names_are_read_from_the_handler_source(tmp_path: Path) -> None:
    pkg = tmp_path / "shared" / "mhi" / "things"
    pkg.mkdir(parents=True)
    (pkg / "kind.py").write_text(
        'SECRETS = ("webhook-signing-key",)\n'
        "def handler(ctx, config):\n"
        '    token = ctx.secret("things-api-token")\n'
        "    return {}\n"
    )
    assert secrets_read("mhi.things.kind:KIND", tmp_path) == (
        "things-api-token",
        "webhook-signing-key",
    )
    with pytest.raises(LookupError, match="not found"):
        secrets_read("mhi.things.missing:KIND", tmp_path)


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.type)
def test_every_secret_a_handler_reads_is_declared_in_the_catalog(entry: StepType) -> None:
    # terraform grants the declared secrets only: an undeclared read would fail in production.
    undeclared = set(secrets_read(entry.target)) - set(entry.secrets)
    assert not undeclared, (
        f"{entry.type} reads {sorted(undeclared)}: declare them in shared/mhi/catalog.py"
    )


def test_function_secrets_are_the_union_of_its_step_types_declared_secrets(specs) -> None:  # type: ignore[no-untyped-def]
    for spec in specs.values():
        declared = {s for e in CATALOG if e.function == spec.name for s in e.secrets}
        assert set(spec.secrets) == declared


def _write(folder: Path, name: str, flow: dict) -> None:  # type: ignore[type-arg]
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(flow))


def test_flows_that_cannot_be_scheduled_are_named(tmp_path: Path) -> None:
    _write(tmp_path / "six", "f.json", {**FLOW, "schedule": {"cron": "0 0 5 * * *"}})
    with pytest.raises(
        PackagingError, match=r"f\.json: invalid flow:\n  \$\.schedule\.cron: .*5-field"
    ):
        scheduled_flows(tmp_path / "six")
    _write(tmp_path / "dup", "a.json", FLOW)
    _write(tmp_path / "dup", "b.json", FLOW)
    with pytest.raises(PackagingError, match="both define flow 'daily-avalon-extract'"):
        scheduled_flows(tmp_path / "dup")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.json").write_text("{")
    with pytest.raises(PackagingError, match=r"x\.json: not valid JSON"):
        scheduled_flows(tmp_path / "broken")


def test_export_flows_names_files_by_flow_id(tmp_path: Path) -> None:
    _write(tmp_path / "src", "renamed-file.json", FLOW)
    written = export_flows(tmp_path / "src", tmp_path / "out")
    assert [p.name for p in written] == ["daily-avalon-extract.json"]
    from mhi.adapters.gcp.gcs_flow_source import flow_object

    assert written[0].name == flow_object("daily-avalon-extract")


def test_cli_package_prints_the_deploy_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["package", "echo", "controller", "--out", str(tmp_path), "--zip"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("\t") for line in lines]
    assert [r[:4] for r in rows] == [
        ["echo", "mhi-echo", "python312", "handle"],
        ["controller", "mhi-controller", "python312", "handle"],
    ]
    assert rows[0][4] == bundle_hash(Path(rows[0][5]))
    assert (tmp_path / "echo.zip").is_file() and (tmp_path / "controller" / "main.py").is_file()


def test_cli_errors_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package"]) == 2
    assert "name at least one FUNCTION" in capsys.readouterr().err
    assert main(["package", "--check", "echo"]) == 2
    assert "--check only goes with --tfvars" in capsys.readouterr().err
    assert main(["package", "--list"]) == 0
    assert "controller\tmhi-controller" in capsys.readouterr().out.splitlines()


def test_cli_tfvars_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["package", "--tfvars", "--check"]) == 0, capsys.readouterr().err
