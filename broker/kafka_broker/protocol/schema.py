"""The little language our API declarations are written in: fields, version ranges, nullability, tags.

A message body is a list of :class:`Field`. A field's type is a :class:`Primitive`, ``Array(item)``,
``Struct(*fields)``, or — the common case — a plain list of fields, which means *array of structs*::

    F("topics", [                       # array of structs, present in every version
        F("name", STRING),
        F("partitions", Array(INT32)),
    ]),
    F("rack", STRING, "1+", nullable="1+"),       # exists from v1, may be null from v1
    F("cluster_id", STRING, "12+", nullable="12+", tag=0),   # a tagged field

Version ranges use Kafka's notation: ``"3+"``, ``"0-7"``, ``"5"``. Names are the snake_case form of
Kafka's field names (``ThrottleTimeMs`` → ``throttle_time_ms``), and are the keys of the dicts the
codec reads and writes. A field missing from a dict, or absent from the version being decoded, takes
its default: the declared one, else None for a nullable string/bytes/records field, else the type's
zero (0, "", b"", False, empty array, a struct of defaults).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .api_keys import ApiKey
from .primitives import Primitive

__all__ = ["API", "EMPTY_ARRAY", "ApiSpec", "Array", "ArrayOf", "F", "Field", "Struct", "StructOf", "parse_versions"]

NO_MAX = 0x7FFF
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Versions = tuple[int, int]


def parse_versions(spec: str) -> Versions:
    """Kafka's version-range notation: ``"3+"`` → (3, NO_MAX), ``"0-7"`` → (0, 7), ``"5"`` → (5, 5)."""
    spec = spec.strip()
    if spec.endswith("+"):
        return int(spec[:-1]), NO_MAX
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo), int(hi)
    return int(spec), int(spec)


@dataclass(frozen=True, slots=True)
class StructOf:
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class ArrayOf:
    item: Primitive | StructOf


FieldType = Primitive | ArrayOf | StructOf


def Array(item: Primitive | StructOf | list[Field]) -> ArrayOf:
    """An array of a primitive (``Array(INT32)``) or of structs."""
    return ArrayOf(StructOf(tuple(item)) if isinstance(item, list) else item)


def Struct(*fields: Field) -> StructOf:
    """A single nested struct (Kafka uses these for tagged fields such as ``CurrentLeader``)."""
    return StructOf(fields)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message or struct, as Kafka's protocol documentation describes it."""

    name: str
    type: FieldType
    versions: Versions
    nullable: Versions | None
    default: Any
    tag: int | None

    def exists_in(self, version: int) -> bool:
        return self.versions[0] <= version <= self.versions[1]

    def nullable_in(self, version: int) -> bool:
        return self.nullable is not None and self.nullable[0] <= version <= self.nullable[1]


_UNSET: Any = object()
EMPTY_ARRAY: tuple[()] = ()
"""An array field's default unless it declares ``default=None`` (null)."""


def F(
    name: str,
    type: FieldType | list[Field],
    versions: str = "0+",
    *,
    nullable: str | None = None,
    default: Any = _UNSET,
    tag: int | None = None,
) -> Field:
    """Declare a field; a list of fields as ``type`` means an array of structs."""
    if not _NAME.match(name):
        raise ValueError(f"field names are snake_case: {name!r}")
    ftype: FieldType = Array(type) if isinstance(type, list) else type
    if default is _UNSET:
        if nullable is not None and isinstance(ftype, Primitive) and ftype.fmt is None:
            default = None
        elif isinstance(ftype, Primitive):
            default = ftype.default
        elif isinstance(ftype, ArrayOf):
            default = EMPTY_ARRAY
        else:
            default = None  # a struct of defaults, built by the codec
    return Field(
        name,
        ftype,
        parse_versions(versions),
        parse_versions(nullable) if nullable is not None else None,
        default,
        tag,
    )


@dataclass(frozen=True, slots=True)
class ApiSpec:
    """What we serve of one API: its version range, first flexible version, and both message bodies."""

    key: ApiKey
    name: str
    min_version: int
    max_version: int
    flexible_from: int | None
    request: tuple[Field, ...]
    response: tuple[Field, ...]

    def is_flexible(self, version: int) -> bool:
        return self.flexible_from is not None and version >= self.flexible_from

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


def API(
    key: ApiKey,
    versions: str,
    *,
    flexible: str | None,
    request: list[Field],
    response: list[Field],
) -> ApiSpec:
    """Declare an API; its name is the CamelCase form of the key (``LIST_OFFSETS`` → ``ListOffsets``)."""
    lo, hi = parse_versions(versions)
    flexible_from = parse_versions(flexible)[0] if flexible is not None else None
    name = "".join(part.capitalize() for part in key.name.split("_"))
    spec = ApiSpec(key, name, lo, hi, flexible_from, tuple(request), tuple(response))
    for body in (spec.request, spec.response):
        _check_tags(spec, body)
    return spec


def _check_tags(spec: ApiSpec, fields: tuple[Field, ...]) -> None:
    """Tagged fields only exist in flexible versions, and tags are unique within a struct."""
    seen: set[int] = set()
    for f in fields:
        if f.tag is not None:
            if spec.flexible_from is None or f.versions[0] < spec.flexible_from:
                raise ValueError(f"{spec.name}.{f.name}: tagged field outside flexible versions")
            if f.tag in seen:
                raise ValueError(f"{spec.name}.{f.name}: duplicate tag {f.tag}")
            seen.add(f.tag)
        inner = f.type.item if isinstance(f.type, ArrayOf) else f.type
        if isinstance(inner, StructOf):
            _check_tags(spec, inner.fields)
