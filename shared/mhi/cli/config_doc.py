"""Every option of a step type's config model, nested ones included, as plain data.

`describe_config` walks the model's JSON schema: each property becomes one `OptionDoc`, named by
its JSON path in a flow (`qrs.server_url`, `series[].measure`), with a readable type (allowed
values of an enum, bounds, formats), `required` or its default, and its description. Defaults
built by a `default_factory` are shown too (pydantic leaves them out of the schema).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

Schema = dict[str, Any]

_FORMATS = {"date": "date (YYYY-MM-DD)", "date-time": "date-time (ISO 8601)"}
_MAX_DEPTH = 6  # a self-referencing model is documented this deep, not forever


@dataclass(frozen=True)
class OptionDoc:
    """One config option: where it goes, what it takes, whether it must be given."""

    name: str
    depth: int  # 0 for a top-level option, 1 for an option of a sub-object or list item, ...
    type: str
    required: bool
    default: str | None  # the default as JSON text; None when required or without default
    description: str


class _WithFactoryDefaults(GenerateJsonSchema):
    """Schema generator that also reports defaults made by a `default_factory`."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        """Return the static default, else the factory's value when it takes no arguments."""
        factory = schema.get("default_factory")
        takes_data = schema.get("default_factory_takes_data")
        if "default" not in schema and factory is not None and not takes_data:
            return factory()  # type: ignore[call-arg]  # a factory that takes no data
        return super().get_default_value(schema)


def config_schema(model: type[BaseModel]) -> Schema:
    """Return the JSON schema of a config model, with `default_factory` defaults filled in."""
    return model.model_json_schema(schema_generator=_WithFactoryDefaults)


def describe_config(model: type[BaseModel]) -> list[OptionDoc]:
    """Return every option of a config model, each nested option after its parent."""
    schema = config_schema(model)
    return list(_options(schema, schema.get("$defs", {}), "", 0))


def extra_keys(model: type[BaseModel]) -> str:
    """Say what the model does with keys it does not declare."""
    extra = model.model_config.get("extra")
    if extra == "allow":
        return "other keys are accepted"
    if extra == "forbid":
        return "unknown keys are errors"
    return "unknown keys are ignored"


def _options(schema: Schema, defs: Schema, prefix: str, depth: int) -> Iterator[OptionDoc]:
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        path = prefix + name
        has_default = "default" in prop
        yield OptionDoc(
            name=path,
            depth=depth,
            type=type_text(prop, defs),
            required=name in required,
            default=json.dumps(prop["default"]) if has_default else None,
            description=_description(prop, defs),
        )
        if depth < _MAX_DEPTH:
            for sub, sub_prefix in _nested(prop, defs, path):
                yield from _options(sub, defs, sub_prefix, depth + 1)


def _resolve(schema: Schema, defs: Schema) -> Schema:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target: Schema = defs.get(ref.removeprefix("#/$defs/"), {})
        return target
    return schema


def _branches(schema: Schema, defs: Schema) -> list[Schema]:
    """The alternatives of a schema (`anyOf`/`oneOf`), each resolved; else the schema itself."""
    schema = _resolve(schema, defs)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return [b for alt in alternatives for b in _branches(alt, defs)]
    return [schema]


def _nested(prop: Schema, defs: Schema, path: str) -> Iterator[tuple[Schema, str]]:
    """Object schemas whose options are documented under `path` (sub-object, items, values)."""
    for branch in _branches(prop, defs):
        if branch.get("properties"):
            yield branch, f"{path}."
        items = branch.get("items")
        if isinstance(items, dict):
            for item in _branches(items, defs):
                if item.get("properties"):
                    yield item, f"{path}[]."
        values = branch.get("additionalProperties")
        if isinstance(values, dict):
            for value in _branches(values, defs):
                if value.get("properties"):
                    yield value, f"{path}.<key>."


def _description(prop: Schema, defs: Schema) -> str:
    text = prop.get("description")
    if isinstance(text, str) and text:
        return " ".join(text.split())
    for branch in _branches(prop, defs):  # a sub-model's own docstring describes the option
        text = branch.get("description")
        if isinstance(text, str) and text:
            return " ".join(text.split())
    return ""


def type_text(schema: Schema, defs: Schema) -> str:
    """Render a JSON schema as a short type: `integer (1..20) | null`, `"a" | "b"`, ..."""
    alternatives = [_one_type(b, defs) for b in _branches(schema, defs)]
    return " | ".join(dict.fromkeys(alternatives)) or "any"


def _one_type(schema: Schema, defs: Schema) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        items = schema.get("items")
        text = "list of " + (_element(items, defs) if isinstance(items, dict) else "any")
    elif kind == "object" or "properties" in schema:
        text = _object_type(schema, defs)
    elif kind == "string" and schema.get("format") in _FORMATS:
        text = _FORMATS[schema["format"]]
    elif isinstance(kind, str):
        text = kind if "format" not in schema else f"{kind} ({schema['format']})"
    else:
        text = "any"
    bounds = _bounds(schema)
    return f"{text} ({bounds})" if bounds else text


def _element(schema: Schema, defs: Schema) -> str:
    text = type_text(schema, defs)
    return f"({text})" if " | " in text else text


def _object_type(schema: Schema, defs: Schema) -> str:
    if schema.get("properties"):
        return "object"
    values = schema.get("additionalProperties")
    if isinstance(values, dict) and values:
        return f"map of string to {_element(values, defs)}"
    return "map of string to any"


def _limits(
    schema: Schema, low: str, high: str, xlow: str = "", xhigh: str = "", unit: str = ""
) -> str | None:
    """`1..365`, `>= 1`, `> 0, <= 600` (with a unit such as ` chars`), or None without bounds."""
    lo, hi = schema.get(low), schema.get(high)
    if lo is not None and hi is not None:
        return f"{lo}..{hi}{unit}"
    parts = []
    if lo is not None:
        parts.append(f">= {lo}")
    elif xlow in schema:
        parts.append(f"> {schema[xlow]}")
    if hi is not None:
        parts.append(f"<= {hi}")
    elif xhigh in schema:
        parts.append(f"< {schema[xhigh]}")
    return ", ".join(parts) + unit if parts else None


def _bounds(schema: Schema) -> str:
    parts = [
        _limits(schema, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
        _limits(schema, "minLength", "maxLength", unit=" chars"),
        _limits(schema, "minItems", "maxItems", unit=" items"),
    ]
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    return ", ".join(p for p in parts if p)
