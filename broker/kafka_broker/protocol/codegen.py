"""Writes the Python source of one struct's encoder and decoder for one version, and compiles it.

Why generate source rather than chain closures: a Metadata response with 100 partitions runs the
partition struct 100 times, and a chain of per-field closures costs several Python calls per field.
A generated function does the whole struct in one call — one ``Struct.pack`` per run of fixed-width
fields, strings and array lengths written inline, nested structs called directly — which is about
three times faster. Only what the declaration says becomes code: names are checked snake_case
identifiers, every other value (defaults, ``struct.Struct`` objects, nested functions) is passed in
through the namespace, never spelled into the source. ``source`` is kept on the result for reading.

Shape of a generated encoder (Metadata response partition, v12)::

    def encode(out, d):
        get = d.get
        out += _k0.pack(get('error_code', 0), get('partition_index', 0), get('leader_id', 0), ...)
        v = get('replica_nodes', ())
        ...
        out.append(0)                       # empty tagged-field section

and of a decoder: bounds check, ``unpack_from`` into locals, then one dict literal.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import primitives as p
from .errors import ProtocolError

__all__ = ["FieldPlan", "generate_decoder", "generate_encoder"]

_LITERALS = (int, bool, str, type(None))


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """What the generator needs to know about one field in one version.

    ``kind`` is one of: ``fixed`` (``fmt`` set), ``string``, ``other`` (``read``/``write`` helpers),
    ``struct`` (``encode``/``decode`` of the nested struct), ``array_struct``, ``array_fixed``,
    ``array_other`` (item helpers in ``read``/``write``).
    """

    name: str
    kind: str
    nullable: bool
    missing: Any
    fmt: str | None = None
    read: Callable[..., Any] | None = None
    write: Callable[..., Any] | None = None
    encode: Callable[..., Any] | None = None
    decode: Callable[..., Any] | None = None


def _truncated(what: str) -> ProtocolError:
    return ProtocolError(f"truncated {what}")


_ARRAY_STRUCTS: dict[tuple[str, int], struct.Struct] = {}


def _array_struct(fmt: str, n: int) -> struct.Struct:
    s = _ARRAY_STRUCTS.get((fmt, n))
    if s is None:
        s = struct.Struct(f">{n}{fmt}")
        if n <= 1024:
            _ARRAY_STRUCTS[(fmt, n)] = s
    return s


_SHORT = 64
"""Arrays of fixed-width items shorter than this use structs built in advance, count included."""


def _counted_structs(fmt: str, flexible: bool) -> list[struct.Struct]:
    """``[n] -> Struct`` packing an array's count (int32, or a one-byte varint when compact) and n items."""
    return [struct.Struct(f">{'B' if flexible else 'i'}{n}{fmt}") for n in range(_SHORT)]


_BASE_NAMESPACE: dict[str, Any] = {
    "_I16": struct.Struct(">h"),
    "_I32": struct.Struct(">i"),
    "_wuv": p.write_uvarint,
    "_ruv": p.read_uvarint,
    "_arr": _array_struct,
    "_T": _truncated,
    "_P": ProtocolError,
    "_EMPTY": {},
}


class _Source:
    """Lines of one function plus the namespace its constants live in."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = dict(_BASE_NAMESPACE)

    def const(self, value: Any) -> str:
        """A name for ``value`` in the generated code (a literal when it is one)."""
        if type(value) in _LITERALS:
            return repr(value)
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def build(self, name: str) -> tuple[Callable[..., Any], str]:
        source = "\n".join(self.lines)
        exec(compile(source, f"<kafka codec {name}>", "exec"), self.namespace)
        return self.namespace[name], source


# --- encoder ---------------------------------------------------------------------------------------


def generate_encoder(
    fields: Sequence[FieldPlan], flexible: bool, write_tags: Callable[..., None] | None
) -> tuple[Callable[..., None], str]:
    src = _Source()
    src.emit(0, "def encode(out, d):")
    src.emit(1, "get = d.get")
    for group in _groups(fields):
        if group[0].kind == "fixed":
            s = src.const(struct.Struct(">" + "".join(f.fmt or "" for f in group)))
            args = ", ".join(f"get({f.name!r}, {src.const(f.missing)})" for f in group)
            src.emit(1, f"out += {s}.pack({args})")
        else:
            _encode_field(src, group[0], flexible)
    if flexible:
        if write_tags is None:
            src.emit(1, "out.append(0)")
        else:
            src.emit(1, f"{src.const(write_tags)}(out, d)")
    if len(src.lines) == 2:
        src.emit(1, "pass")
    return src.build("encode")


def _encode_field(src: _Source, f: FieldPlan, flexible: bool) -> None:
    src.emit(1, f"v = get({f.name!r}, {src.const(f.missing)})")
    if f.kind == "string":
        _encode_string(src, f, flexible)
    elif f.kind == "other":
        src.emit(1, f"{src.const(f.write)}(out, v)")
    elif f.kind == "struct":
        src.emit(1, f"{src.const(f.encode)}(out, _EMPTY if v is None else v)")
    else:
        _encode_array(src, f, flexible)


def _encode_length(src: _Source, indent: int, expr: str, flexible: bool) -> None:
    if flexible:
        src.emit(indent, f"n = {expr} + 1")
        src.emit(indent, "if n < 128:")
        src.emit(indent + 1, "out.append(n)")
        src.emit(indent, "else:")
        src.emit(indent + 1, "_wuv(out, n)")
    else:
        src.emit(indent, f"out += _I32.pack({expr})")


def _encode_string(src: _Source, f: FieldPlan, flexible: bool) -> None:
    """Inline string write; a None in a version where the field is not nullable is written as ""."""
    indent = 1
    if f.nullable:
        src.emit(1, "if v is None:")
        src.emit(2, "out.append(0)" if flexible else "out += b'\\xff\\xff'")
        src.emit(1, "else:")
        src.emit(2, "b = v.encode()")
        indent = 2
    else:
        src.emit(1, "b = v.encode() if v else b''")
    if flexible:
        src.emit(indent, "n = len(b) + 1")
        src.emit(indent, "if n < 128:")
        src.emit(indent + 1, "out.append(n)")
        src.emit(indent, "else:")
        src.emit(indent + 1, "_wuv(out, n)")
    else:
        src.emit(indent, "out += _I16.pack(len(b))")
    src.emit(indent, "out += b")


def _encode_array(src: _Source, f: FieldPlan, flexible: bool) -> None:
    indent = 1
    src.emit(1, "if v is None:")
    if f.nullable:
        src.emit(2, "out.append(0)" if flexible else "out += b'\\xff\\xff\\xff\\xff'")
        src.emit(1, "else:")
        indent = 2
    else:
        src.emit(2, "v = ()")
    if f.kind == "array_fixed":
        # short arrays (replica lists): count and items in one precompiled pack
        with_count = src.const(_counted_structs(f.fmt or "", flexible))
        src.emit(indent, "m = len(v)")
        src.emit(indent, f"if m < {_SHORT}:")
        src.emit(indent + 1, f"out += {with_count}[m].pack({'m + 1' if flexible else 'm'}, *v)")
        src.emit(indent, "else:")
        _encode_length(src, indent + 1, "m", flexible)
        src.emit(indent + 1, f"out += _arr({f.fmt!r}, m).pack(*v)")
        return
    _encode_length(src, indent, "len(v)", flexible)
    item = src.const(f.encode if f.kind == "array_struct" else f.write)
    src.emit(indent, "for x in v:")
    src.emit(indent + 1, f"{item}(out, x)")


# --- decoder ---------------------------------------------------------------------------------------


def generate_decoder(
    fields: Sequence[FieldPlan],
    result: Sequence[tuple[str, str | None, Any]],
    flexible: bool,
    read_tags: Callable[..., int] | None,
) -> tuple[Callable[..., Any], str]:
    """``result`` lists every key of the decoded dict in declaration order as (name, local, default):
    ``local`` names the variable holding a decoded value, else ``default`` is a value or a factory
    (called per decode, for mutable defaults) marked by being callable.
    """
    src = _Source()
    src.emit(0, "def decode(buf, pos):")
    src.emit(1, "size = len(buf)")
    locals_by_name: dict[str, str] = {}
    for group in _groups(fields):
        names = [f"f{len(locals_by_name) + i}" for i in range(len(group))]
        for f, variable in zip(group, names, strict=True):
            locals_by_name[f.name] = variable
        if group[0].kind == "fixed":
            s = struct.Struct(">" + "".join(f.fmt or "" for f in group))
            what = group[0].name if len(group) == 1 else f"{group[0].name}..{group[-1].name}"
            src.emit(1, f"end = pos + {s.size}")
            src.emit(1, "if end > size:")
            src.emit(2, f"raise _T({what!r})")
            src.emit(1, f"{', '.join(names)}, = {src.const(s)}.unpack_from(buf, pos)")
            src.emit(1, "pos = end")
        else:
            _decode_field(src, group[0], names[0], flexible)
    entries = []
    for name, local, default in result:
        if local is not None:
            value = locals_by_name[name]
        elif callable(default):
            value = f"{src.const(default)}()"
        else:
            value = src.const(default)
        entries.append(f"{name!r}: {value}")
    src.emit(1, "d = {" + ", ".join(entries) + "}")
    if flexible:
        src.emit(1, "if pos >= size:")
        src.emit(2, "raise _T('tagged fields')")
        src.emit(1, "if buf[pos] == 0:")
        src.emit(2, "pos += 1")
        src.emit(1, "else:")
        src.emit(2, f"pos = {src.const(read_tags)}(buf, pos, d)")
    src.emit(1, "return d, pos")
    return src.build("decode")


def _decode_length(src: _Source, indent: int, what: str, flexible: bool, width: int = 4) -> None:
    """Leaves the declared length (or count) in ``n``; -1 means null."""
    if flexible:
        src.emit(indent, "if pos >= size:")
        src.emit(indent + 1, f"raise _T({what!r})")
        src.emit(indent, "n = buf[pos]")
        src.emit(indent, "if n < 128:")
        src.emit(indent + 1, "pos += 1")
        src.emit(indent, "else:")
        src.emit(indent + 1, "n, pos = _ruv(buf, pos)")
        src.emit(indent, "n -= 1")
    else:
        src.emit(indent, f"if pos + {width} > size:")
        src.emit(indent + 1, f"raise _T({what!r})")
        src.emit(indent, f"n = {'_I16' if width == 2 else '_I32'}.unpack_from(buf, pos)[0]")
        src.emit(indent, f"pos += {width}")


def _decode_null(src: _Source, f: FieldPlan, local: str) -> None:
    src.emit(1, "if n < 0:")
    if f.nullable:
        src.emit(2, f"{local} = None")
    else:
        src.emit(2, f"raise _P('null or negative length for non-nullable {f.name}')")
    src.emit(1, "else:")


def _decode_field(src: _Source, f: FieldPlan, local: str, flexible: bool) -> None:
    if f.kind == "other":
        src.emit(1, f"{local}, pos = {src.const(f.read)}(buf, pos)")
    elif f.kind == "struct":
        src.emit(1, f"{local}, pos = {src.const(f.decode)}(buf, pos)")
    elif f.kind == "string":
        _decode_length(src, 1, f.name, flexible, width=2)
        _decode_null(src, f, local)
        src.emit(2, "end = pos + n")
        src.emit(2, "if end > size:")
        src.emit(3, f"raise _T({f.name!r})")
        src.emit(2, f"{local} = buf[pos:end].tobytes().decode('utf-8', 'replace')")
        src.emit(2, "pos = end")
    else:
        _decode_length(src, 1, f.name, flexible)
        _decode_null(src, f, local)
        if f.kind == "array_fixed":
            src.emit(2, f"end = pos + n * {struct.calcsize('>' + (f.fmt or ''))}")
            src.emit(2, "if end > size:")
            src.emit(3, f"raise _T({f.name!r})")
            items = src.const([_array_struct(f.fmt or "", n) for n in range(_SHORT)])
            src.emit(2, f"{local} = list(({items}[n] if n < {_SHORT} else _arr({f.fmt!r}, n)).unpack_from(buf, pos))")
            src.emit(2, "pos = end")
            return
        item = src.const(f.decode if f.kind == "array_struct" else f.read)
        src.emit(2, "if n > size - pos:")
        src.emit(3, f"raise _P('{f.name}: array longer than the frame')")
        src.emit(2, f"{local} = []")
        src.emit(2, f"append = {local}.append")
        src.emit(2, "for _ in range(n):")
        src.emit(3, f"x, pos = {item}(buf, pos)")
        src.emit(3, "append(x)")


def _groups(fields: Sequence[FieldPlan]) -> list[list[FieldPlan]]:
    """Runs of consecutive fixed-width fields become one group; every other field is its own."""
    groups: list[list[FieldPlan]] = []
    for f in fields:
        if f.kind == "fixed" and groups and groups[-1][0].kind == "fixed":
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups
