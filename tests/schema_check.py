"""A validator for the subset of JSON Schema (2020-12) that docs/schemas/*.schema.json use.

The ``jsonschema`` package is not a dependency of the project (not in the venv), so the tests
check the schemas with this: ``type``, ``const``, ``required``, ``properties``,
``additionalProperties`` (boolean or schema), ``propertyNames``, ``pattern``, ``items``,
``minItems``, ``maxItems``, ``minimum``, ``anyOf`` and local ``$ref`` (``#/$defs/NAME``).
Any other keyword is refused, so a schema cannot silently use one this does not check.
"""

from __future__ import annotations

import re
from typing import Any

SUPPORTED = frozenset(
    {
        "$schema", "$id", "$defs", "title", "description",  # annotations
        "type", "const", "required", "properties", "additionalProperties", "propertyNames",
        "pattern", "items", "minItems", "maxItems", "minimum", "anyOf", "$ref",
    }
)  # fmt: skip

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "null":
        return value is None
    return isinstance(value, _TYPES[name])


def errors(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None, at: str = "$"):  # type: ignore[no-untyped-def]
    """Every violation of ``schema`` by ``value``, as ``"path: problem"`` strings."""
    root = schema if root is None else root
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise ValueError(f"{at}: schema keywords this validator does not support: {unknown}")
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/"), ref
        yield from errors(root["$defs"][ref.removeprefix("#/$defs/")], value, root, at)
    if "type" in schema and not _is_type(value, schema["type"]):
        yield f"{at}: expected {schema['type']}, got {type(value).__name__}"
        return
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        yield f"{at}: expected {schema['const']!r}"
    if "anyOf" in schema and not any(not list(errors(s, value, root, at)) for s in schema["anyOf"]):
        yield f"{at}: matches none of anyOf"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{at}: {value[:40]!r} does not match {schema['pattern']}"
    if _is_type(value, "number") and "minimum" in schema and value < schema["minimum"]:
        yield f"{at}: below {schema['minimum']}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield f"{at}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{at}: more than {schema['maxItems']} items"
        if "items" in schema:
            for k, item in enumerate(value):
                yield from errors(schema["items"], item, root, f"{at}[{k}]")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                yield f"{at}: missing {key!r}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if "propertyNames" in schema:
                yield from errors(schema["propertyNames"], key, root, f"{at}.<{key}>")
            if key in properties:
                yield from errors(properties[key], item, root, f"{at}.{key}")
            elif extra is False:
                yield f"{at}: unknown key {key!r}"
            elif isinstance(extra, dict):
                yield from errors(extra, item, root, f"{at}.{key}")
