"""A small JSON Schema validator for the subset docs/schemas/alert.v1.schema.json uses
(``jsonschema`` is not a dependency): type, const, enum, pattern, maxLength, properties, required,
additionalProperties: false, items, local ``$ref``, allOf, if/then. An unknown keyword is an
error, so the schema cannot silently use something this does not check."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "alert.v1.schema.json"

_ANNOTATIONS = {"description", "title", "$schema", "$id", "$defs"}
_KNOWN = _ANNOTATIONS | {
    "type",
    "const",
    "enum",
    "pattern",
    "maxLength",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "$ref",
    "allOf",
    "if",
    "then",
}


def load_schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text()))


def _is_type(value: Any, name: str) -> bool:
    match name:
        case "null":
            return value is None
        case "boolean":
            return isinstance(value, bool)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string":
            return isinstance(value, str)
        case "array":
            return isinstance(value, list)
        case "object":
            return isinstance(value, dict)
    raise ValueError(f"unsupported type {name!r}")


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value`` (empty: valid)."""
    unknown = {k for k in schema if not k.startswith("x-")} - _KNOWN
    if unknown:
        raise ValueError(f"{at}: the validator does not support {sorted(unknown)}")
    found: list[str] = []
    if "$ref" in schema:
        ref = str(schema["$ref"])
        assert ref.startswith("#/$defs/"), ref
        found += errors(value, root["$defs"][ref.removeprefix("#/$defs/")], root, at)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            return [*found, f"{at}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{at}: longer than {schema['maxLength']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{at}: {name!r} is required")
        for name, item in value.items():
            if name in props:
                found += errors(item, props[name], root, f"{at}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{at}: {name!r} is not in the schema")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            found += errors(item, schema["items"], root, f"{at}[{n}]")
    for sub in schema.get("allOf", []):
        found += errors(value, sub, root, at)
    if "if" in schema and not errors(value, schema["if"], root, at):
        found += errors(value, schema.get("then", {}), root, at)
    return found


def validate(value: Any, schema: dict[str, Any] | None = None) -> None:
    """AssertionError listing the violations, if any."""
    root = schema if schema is not None else load_schema()
    problems = errors(value, root, root)
    assert not problems, "\n".join(problems)
