"""Java properties text (``server.properties``) and ``--override key=value`` arguments."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .definition import ConfigError

__all__ = ["parse_overrides", "parse_properties"]

_LINE = re.compile(r"([^=:\s]+)\s*[=:\s]\s*(.*)$")


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java-style properties text: ``key=value`` or ``key: value``, ``#``/``!`` comments,
    backslash line continuations."""
    props: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + lines[i].strip()
            i += 1
        if not line or line[0] in "#!":
            continue
        match = _LINE.match(line)
        if match is None:
            props[line] = ""
            continue
        props[match.group(1)] = match.group(2).strip()
    return props


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``["key=value", …]`` as given to ``kafka-server-start.sh --override``."""
    out: dict[str, str] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--override expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out
