"""How one configuration key is declared, parsed and validated — the rules of Kafka's ``ConfigDef``.

A :class:`ConfigDef` names a key, its :class:`ConfigType`, its default (as Kafka prints it), its
bounds or allowed values and a one-line description. :meth:`ConfigDef.parse` turns the text a user
wrote into a typed value the way Kafka's ``ConfigDef.parseType`` does — ``Integer.parseInt`` for
INT (so ``1_000_000``, ``1e6`` and ``3000000000`` are refused), case-insensitive booleans, comma
separated LISTs — then applies the bounds, and raises :class:`ConfigError` with Kafka's own message
(``Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT``).

Settings dataclasses declare their fields with :func:`setting`: the field's default is the parsed
table default and its metadata names the key, so :func:`settings_from` can fill a dataclass from
properties generically and no default is ever written twice.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

__all__ = ["ConfigDef", "ConfigError", "ConfigType", "Value", "config_of", "format_value", "setting", "settings_from"]


class ConfigError(ValueError):
    """An invalid or missing configuration value; the message names the key."""


class ConfigType(IntEnum):
    """Kafka's config types, numbered as DescribeConfigs (v3+) reports them."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


Value = bool | int | float | str | tuple[str, ...] | None
"""A parsed value: bool, int (INT/SHORT/LONG), float (DOUBLE), str, tuple of str (LIST) or None (no value)."""

_BITS = {ConfigType.SHORT: 16, ConfigType.INT: 32, ConfigType.LONG: 64}
_JAVA_INTEGER = re.compile(r"[+-]?[0-9]+")
_JAVA_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[dDfF]?")
_LIST_SEPARATOR = re.compile(r"\s*,\s*")


@dataclass(frozen=True, slots=True)
class ConfigDef:
    """One configuration key: type, default, validation and documentation."""

    name: str
    type: ConfigType
    default: str | None
    """The default as Kafka prints it; None when the key has no default (null)."""
    doc: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[str, ...] = ()
    """Allowed values of a STRING, or of every item of a LIST."""
    check: Callable[[Value], str | None] | None = None
    """A further rule: returns why a parsed value is refused, or None."""
    applied: bool = True
    """False for a key kopfka accepts, stores and reports but does not act on (README lists them)."""

    def parse(self, raw: object) -> Value:
        """The typed value of ``raw`` (text, or None for the default); ConfigError with Kafka's message."""
        text = self.default if raw is None else str(raw)
        if text is None:
            return None
        value = self._parse_type(text)
        self._validate(text, value)
        return value

    def _parse_type(self, text: str) -> Value:
        trimmed = text.strip()
        kind = self.type
        if kind == ConfigType.BOOLEAN:
            if trimmed.lower() not in ("true", "false"):
                raise self.error(text, "Expected value to be either true or false")
            return trimmed.lower() == "true"
        if kind in _BITS:
            bits = _BITS[kind]
            if not _JAVA_INTEGER.fullmatch(trimmed) or not -(2 ** (bits - 1)) <= int(trimmed) < 2 ** (bits - 1):
                raise self.error(text, f"Not a number of type {kind.name}")
            return int(trimmed)
        if kind == ConfigType.DOUBLE:
            if not _JAVA_DOUBLE.fullmatch(trimmed):
                raise self.error(text, f"Not a number of type {kind.name}")
            return float(trimmed.rstrip("dDfF"))
        if kind == ConfigType.LIST:
            return tuple(_LIST_SEPARATOR.split(trimmed)) if trimmed else ()
        if kind == ConfigType.PASSWORD:
            return text
        return trimmed

    def _validate(self, text: str, value: Value) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise self.error(text, f"Value must be at least {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise self.error(text, f"Value must be no more than {self.maximum}")
        if self.choices:
            allowed = f"String must be one of: {', '.join(self.choices)}"
            if isinstance(value, tuple):
                if any(item not in self.choices for item in value):
                    raise self.error(f"[{', '.join(value)}]", allowed)
            elif value not in self.choices:
                raise self.error(text, allowed)
        if self.check is not None:
            reason = self.check(value)
            if reason is not None:
                raise self.error(text, reason)

    def error(self, value: object, reason: str) -> ConfigError:
        """Kafka's ``ConfigException(name, value, message)`` text."""
        return ConfigError(f"Invalid value {value} for configuration {self.name}: {reason}")

    def format(self, value: Value) -> str | None:
        """``value`` as Kafka prints it (DescribeConfigs, ZooKeeper)."""
        return format_value(value)


def format_value(value: Value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` prints it (``0.9``, ``1.0E7``, ``1.7976931348623157E308``):
    the shortest digits that read back the same, in scientific notation outside [10^-3, 10^7)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else f"{text}.0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    return f"{'-' if sign else ''}{digits[0]}.{digits[1:] or '0'}E{len(digits) - 1 + exponent}"


def setting(definition: ConfigDef) -> Any:
    """A dataclass field for ``definition``: its parsed default, and the key in the field's metadata."""
    return dataclasses.field(default=definition.parse(None), metadata={"config": definition})


def config_of(field: dataclasses.Field[Any]) -> ConfigDef | None:
    """The ConfigDef a dataclass field was declared with by :func:`setting`, if any."""
    definition = field.metadata.get("config")
    return definition if isinstance(definition, ConfigDef) else None


T = TypeVar("T")


def settings_from(cls: type[T], props: Mapping[str, str], **given: Any) -> T:
    """An instance of the settings dataclass ``cls`` whose :func:`setting` fields are read from ``props``
    (Kafka's keys; missing keys take the table default); ``given`` fills the other fields."""
    values = dict(given)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        definition = config_of(field)
        if definition is not None and field.name not in values:
            values[field.name] = definition.parse(props.get(definition.name))
    return cls(**values)
