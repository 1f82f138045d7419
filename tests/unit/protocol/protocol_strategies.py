"""Hypothesis strategies that draw message bodies valid for one declared (API, version), and a
comparison that tolerates the defaults a decoder fills in for fields the version does not carry."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kafka_broker.protocol import primitives as p
from kafka_broker.protocol.schema import ArrayOf, Field, StructOf

_INTS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "varint": (-(2**31), 2**31 - 1),
    "varlong": (-(2**63), 2**63 - 1),
    "unsigned_varint": (0, 2**32 - 1),
}


def _primitive(t: p.Primitive, nullable: bool) -> st.SearchStrategy[Any]:
    if t.name in _INTS:
        lo, hi = _INTS[t.name]
        s: st.SearchStrategy[Any] = st.integers(lo, hi)
    elif t is p.BOOL:
        s = st.booleans()
    elif t is p.FLOAT64:
        s = st.floats(allow_nan=False)
    elif t is p.UUID:
        s = st.uuids()
    elif t is p.STRING:
        s = st.text(max_size=12)
    else:  # bytes, records
        s = st.binary(max_size=24)
    return st.none() | s if nullable else s


def field_strategy(f: Field, version: int, flexible: bool, tagged: bool = True) -> st.SearchStrategy[Any]:
    nullable = f.nullable_in(version)
    t = f.type
    if isinstance(t, p.Primitive):
        return _primitive(t, nullable)
    if isinstance(t, ArrayOf):
        item = t.item
        inner = (
            struct_strategy(item.fields, version, flexible, tagged)
            if isinstance(item, StructOf)
            else _primitive(item, False)
        )
        s = st.lists(inner, max_size=3)
        return st.none() | s if nullable else s
    return struct_strategy(t.fields, version, flexible, tagged)


def struct_strategy(
    fields: tuple[Field, ...], version: int, flexible: bool, tagged: bool = True
) -> st.SearchStrategy[dict]:
    """A dict holding every field that exists in ``version`` (tagged ones too, when flexible and
    ``tagged``)."""
    present = [f for f in fields if f.exists_in(version) and (f.tag is None or (flexible and tagged))]
    return st.fixed_dictionaries({f.name: field_strategy(f, version, flexible, tagged) for f in present})


def assert_matches(decoded: Any, expected: Any, path: str = "body") -> None:
    """``decoded`` equals ``expected`` on every key ``expected`` has (recursively); bytes compare by value."""
    if isinstance(expected, dict):
        assert isinstance(decoded, dict), f"{path}: {decoded!r} is not a dict"
        for key, value in expected.items():
            assert key in decoded, f"{path}.{key} missing from {sorted(decoded)}"
            assert_matches(decoded[key], value, f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(decoded, list), f"{path}: {decoded!r} is not a list"
        assert len(decoded) == len(expected), f"{path}: {len(decoded)} items, expected {len(expected)}"
        for i, (d, e) in enumerate(zip(decoded, expected, strict=True)):
            assert_matches(d, e, f"{path}[{i}]")
    elif isinstance(expected, bytes | bytearray | memoryview):
        assert isinstance(decoded, memoryview), f"{path}: byte fields decode to memoryview, got {decoded!r}"
        assert decoded.tobytes() == bytes(expected), f"{path}: {decoded.tobytes()!r} != {bytes(expected)!r}"
    else:
        assert decoded == expected and type(decoded) is type(expected), f"{path}: {decoded!r} != {expected!r}"
