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


def of_type_data(config: Mapping[str, list[Any]], dtype: str) -> dict[str, dict[str, Any]]:
    """Return `name -> body` of the data sources of one type."""
    out: dict[str, dict[str, Any]] = {}
    for block in config.get("data", []):
        for t, named in block.items():
            if t == dtype:
                out.update(named)
    return out


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


def _console(
    expressions: Mapping[str, str],
    variables: Mapping[str, Any],
    tf_dir: Path,
    generated: Mapping[str, Any] | None,
) -> subprocess.CompletedProcess[str]:
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
        return subprocess.run(
            [terraform, "console"],
            input=f"jsonencode({{{body}}})\n",
            capture_output=True,
            text=True,
            cwd=work,
            timeout=60,
            env={"TF_IN_AUTOMATION": "1", "PATH": "/usr/bin:/bin", "HOME": tmp},
            check=False,
        )


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
    proc = _console(expressions, variables, tf_dir, generated)
    # Console answers even when a variable is refused: its errors are only printed.
    errors = _errors(proc.stderr)
    assert proc.returncode == 0 and not errors, f"terraform console failed:\n{proc.stderr}"
    return json.loads(json.loads(proc.stdout.strip().splitlines()[-1]))  # type: ignore[no-any-return]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _errors(stderr: str) -> str:
    """Return the error text of terraform's output, boxes and colours removed ("" if none)."""
    text = _ANSI.sub("", stderr).replace("│", " ").replace("╷", " ").replace("╵", " ")
    return " ".join(text.split()) if "Error:" in text else ""


def refused(variables: Mapping[str, Any], tf_dir: Path = TF_DIR) -> str:
    """Return terraform's errors for `variables` (the test fails if they are accepted)."""
    proc = _console({"project": "var.project"}, variables, tf_dir, None)
    errors = _errors(proc.stderr)
    assert errors, f"terraform accepted {dict(variables)}"
    return errors


# ---- rendering one resource body: dynamic blocks expanded, provider-free expressions evaluated --

# References terraform console cannot resolve here (no provider, no resource state, no `each`).
_UNRESOLVABLE = re.compile(r"\b(?:each|count|data|self|path|google_[a-z0-9_]+|google-beta)\.")
_ONE_INTERPOLATION = re.compile(r"\$\{(.*)\}", re.S)


def _expression(value: Any, bound: Mapping[str, Any]) -> str | None:
    """Return the HCL expression of a parsed value with iterators bound, or None if it is a
    literal or needs what console cannot give."""
    if not isinstance(value, str) or "${" not in value:
        return None
    for label, item in bound.items():
        value = re.sub(rf"\b{re.escape(label)}\.value\b", json.dumps(item), value)
    if _UNRESOLVABLE.search(value):
        return None
    whole = _ONE_INTERPOLATION.fullmatch(value)
    if whole and "${" not in whole.group(1):
        return whole.group(1)
    return value if value.startswith('"') else json.dumps(value)


def _collect(node: Any, bound: Mapping[str, Any], path: str, out: dict[str, str]) -> None:
    """Record `path -> expression` for every evaluable value outside dynamic blocks."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k != "dynamic":
                _collect(v, bound, f"{path}/{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _collect(v, bound, f"{path}/{i}", out)
    else:
        expr = _expression(node, bound)
        if expr is not None:
            out[path] = expr


def _substitute(node: Any, path: str, values: Mapping[str, Any]) -> Any:
    if path in values:
        return values[path]
    if isinstance(node, dict):
        return {
            k: (v if k == "dynamic" else _substitute(v, f"{path}/{k}", values))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_substitute(v, f"{path}/{i}", values) for i, v in enumerate(node)]
    return node


def render(
    body: Mapping[str, Any], variables: Mapping[str, Any], bound: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return a resource body as terraform would build it from `variables`: every `dynamic`
    block expanded into the blocks its `for_each` gives, and every expression that needs only
    variables and provider-free locals evaluated (the rest stays as text)."""
    bound = dict(bound or {})
    exprs: dict[str, str] = {}
    _collect(dict(body), bound, "", exprs)
    values = evaluate(exprs, variables) if exprs else {}
    out = _expand(_substitute(dict(body), "", values), variables, bound)
    assert isinstance(out, dict)
    return out


def _expand(node: Any, variables: Mapping[str, Any], bound: dict[str, Any]) -> Any:
    """Replace the `dynamic` blocks found anywhere in `node` by the blocks they give."""
    if isinstance(node, list):
        return [_expand(v, variables, bound) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _expand(v, variables, bound) for k, v in node.items() if k != "dynamic"}
    dynamic = [(label, spec) for d in node.get("dynamic", []) for label, spec in d.items()]
    exprs = {}
    for i, (_, spec) in enumerate(dynamic):
        expr = _expression(spec["for_each"], bound)
        assert expr is not None, f"dynamic for_each {spec['for_each']!r} cannot be evaluated"
        exprs[str(i)] = expr
    values = evaluate(exprs, variables) if exprs else {}
    for i, (label, spec) in enumerate(dynamic):
        items = values[str(i)]
        items = list(items.values()) if isinstance(items, dict) else list(items or [])
        out.setdefault(label, []).extend(
            render(spec["content"][0], variables, {**bound, label: item}) for item in items
        )
    return out
