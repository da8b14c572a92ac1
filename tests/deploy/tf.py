"""Read the terraform configuration: parsed HCL (python-hcl2) and locals evaluated by terraform.

python-hcl2 keeps expressions as text, so resource wiring is checked on normalized expression
strings. What the `for` expressions of `locals` produce is evaluated by `terraform console` on a
copy of the variables and of every locals block that needs no provider (no init, no network).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "terraform"
_META = ("__is_block__", "__comments__", "__inline_comments__")


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        return inner if "${" not in inner else value
    return value


def normalize(node: Any) -> Any:
    """Drop python-hcl2's bookkeeping keys and the quotes of literal strings and labels."""
    if isinstance(node, dict):
        return {_unquote(k): normalize(v) for k, v in node.items() if k not in _META}
    if isinstance(node, list):
        return [normalize(v) for v in node]
    return _unquote(node)


def load(tf_dir: Path = TF_DIR) -> dict[str, list[Any]]:
    """Parse every `*.tf` file of a folder into one dict of block lists."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(tf_dir.glob("*.tf")):
        with path.open(encoding="utf-8") as f:
            parsed = normalize(hcl2.load(f))
        for key, blocks in parsed.items():
            merged.setdefault(key, []).extend(blocks if isinstance(blocks, list) else [blocks])
    return merged


def resources(config: Mapping[str, list[Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Return `(type, name) -> body` of every resource block."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for block in config.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                out[(rtype, name)] = body
    return out


def of_type(config: Mapping[str, list[Any]], rtype: str) -> dict[str, dict[str, Any]]:
    """Return `name -> body` of the resources of one type."""
    return {name: body for (t, name), body in resources(config).items() if t == rtype}


def block(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the single nested block `name` of a resource body (KeyError if absent)."""
    value = body[name]
    assert isinstance(value, list) and len(value) == 1, f"{name}: expected one block"
    return value[0]  # type: ignore[no-any-return]


def walk(node: Any, key: str) -> Iterator[Any]:
    """Yield every value stored under `key` anywhere in a parsed tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


_TOP_BLOCK = re.compile(r"^locals \{\n.*?^\}\n", re.S | re.M)
_NEEDS_PROVIDER = re.compile(r"\b(data\.[a-z]|google_[a-z0-9_]+\.[a-z])")


def locals_source(tf_dir: Path = TF_DIR) -> str:
    """Return every top-level `locals` block that needs no provider, as HCL text."""
    out = []
    for path in sorted(tf_dir.glob("*.tf")):
        for match in _TOP_BLOCK.finditer(path.read_text(encoding="utf-8")):
            if not _NEEDS_PROVIDER.search(match.group(0)):
                out.append(match.group(0))
    return "\n".join(out)


def evaluate(
    expressions: Mapping[str, str],
    variables: Mapping[str, Any],
    tf_dir: Path = TF_DIR,
    generated: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate HCL expressions (over the config's locals) with `terraform console`.

    Args:
        expressions: result key -> HCL expression, e.g. {"triggers": "local.triggers"}.
        variables: values of the hand-set variables (project, accounts, ...).
        tf_dir: the configuration folder.
        generated: the generated variables; default: the committed functions.auto.tfvars.json.
    """
    terraform = shutil.which("terraform")
    assert terraform, "terraform binary not found"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(tf_dir / "variables.tf", work / "variables.tf")
        (work / "locals.tf").write_text(locals_source(tf_dir), encoding="utf-8")
        if generated is None:
            shutil.copy(tf_dir / "functions.auto.tfvars.json", work / "generated.auto.tfvars.json")
        else:
            (work / "generated.auto.tfvars.json").write_text(json.dumps(generated))
        (work / "given.auto.tfvars.json").write_text(json.dumps(dict(variables)))
        body = ", ".join(f"{json.dumps(k)} = {v}" for k, v in expressions.items())
        proc = subprocess.run(
            [terraform, "console"],
            input=f"jsonencode({{{body}}})\n",
            capture_output=True,
            text=True,
            cwd=work,
            timeout=60,
            env={"TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin", "HOME": tmp},
            check=False,
        )
    assert proc.returncode == 0, f"terraform console failed:\n{proc.stderr}"
    return json.loads(json.loads(proc.stdout.strip().splitlines()[-1]))  # type: ignore[no-any-return]
