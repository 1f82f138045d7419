"""Checks that a handler's response dict has the fields of the (API, version) it answers.

The encoder fills a missing field with its default, so a misspelt key (``eror_code``) would go out as
0 = success without any error. :func:`assert_response_shape` walks the response against our
declaration of the API (:data:`kafka_broker.protocol.API_SPECS`):

- every key must be a field the struct declares in *some* version (one dict may answer several
  versions, so fields of other versions are allowed);
- every field the struct has *in this version* must be present, tagged fields excepted (they are
  optional by nature);
- nested structs and arrays of structs are checked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafka_broker.protocol import API_SPECS
from kafka_broker.protocol.schema import ArrayOf, Field, StructOf


class ShapeError(AssertionError):
    pass


def response_shape_errors(api_key: int, version: int, body: Mapping[str, Any]) -> list[str]:
    spec = API_SPECS[api_key]
    errors: list[str] = []
    _check(spec.response, version, body, f"{spec.name}Response v{version}", errors)
    return errors


def assert_response_shape(api_key: int, version: int, body: Mapping[str, Any]) -> None:
    errors = response_shape_errors(api_key, version, body)
    if errors:
        raise ShapeError("\n".join(errors))


def _check(fields: Sequence[Field], version: int, value: object, path: str, errors: list[str]) -> None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: expected a struct (dict), got {type(value).__name__}")
        return
    declared = {f.name: f for f in fields}
    for key in value:
        if key not in declared:
            errors.append(f"{path}: unknown field {key!r} (declared: {', '.join(sorted(declared))})")
    for f in fields:
        if not f.exists_in(version):
            continue
        if f.name not in value:
            if f.tag is None:
                errors.append(f"{path}: missing field {f.name!r}")
            continue
        item = value[f.name]
        if isinstance(f.type, StructOf):
            if item is not None:
                _check(f.type.fields, version, item, f"{path}.{f.name}", errors)
        elif isinstance(f.type, ArrayOf) and isinstance(f.type.item, StructOf) and item is not None:
            for i, element in enumerate(item):
                _check(f.type.item.fields, version, element, f"{path}.{f.name}[{i}]", errors)
