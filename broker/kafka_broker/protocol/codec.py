"""The one generic encoder/decoder: compiles a declared message body into a plan, once per
(API, version, request|response), and caches it.

Compiling a struct for one version:

1. keep the fields that exist in that version; in flexible versions, set tagged fields aside;
2. describe each remaining field by a :class:`~.codegen.FieldPlan` whose reader/writer is already
   chosen for classic vs compact encoding and for the field's nullability *in that version*;
3. let :mod:`.codegen` turn the plans into one encoder and one decoder function — consecutive
   fixed-width fields become a single ``struct.Struct`` — so encoding does no lookups of schema
   metadata and costs one Python call per struct;
4. in flexible versions, end the struct with its tagged-field section: on encode, each tagged field
   whose value differs from its default, in tag order; on decode, known tags are read (bounded by
   their declared size) and unknown ones skipped.

Decoding builds plain dicts holding every declared field: the version's fields from the frame, the
others with their defaults (fresh lists/dicts for mutable ones). Byte fields come back as
``memoryview`` slices of the frame; nothing large is copied.

Encoding appends to an :class:`Output` (a ``bytearray``); a ``records`` value that is a
:class:`FileSlice` — or ``bytes`` of at least ``SPLICE_MIN`` — is not copied but recorded as a
splice point, and :func:`chunks` later cuts the buffer there so the server can ``sendfile`` it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import primitives as p
from .apis import API_SPECS
from .codegen import FieldPlan, generate_decoder, generate_encoder
from .errors import ProtocolError
from .file_slice import FileSlice
from .schema import EMPTY_ARRAY, ArrayOf, Field, StructOf

__all__ = ["SPLICE_MIN", "MessagePlan", "Output", "chunks", "plan_for", "precompile"]

Writer = Callable[[bytearray, Any], None]
Reader = Callable[[memoryview, int], tuple[Any, int]]
EncodeStep = Callable[[bytearray, Mapping[str, Any]], None]

SPLICE_MIN = 64 * 1024
"""``bytes`` records at least this long become their own chunk instead of being copied."""

_EMPTY: Mapping[str, Any] = {}


class Output(bytearray):
    """The buffer a message is encoded into, plus the offsets where uncopied chunks go."""

    __slots__ = ("splices",)

    def __init__(self, initial: bytes = b"") -> None:
        super().__init__(initial)
        self.splices: list[tuple[int, bytes | FileSlice]] = []


def chunks(out: Output) -> list[bytes | FileSlice]:
    """Cut ``out`` at its splice points and fill in the leading int32 frame size."""
    splices = out.splices
    if not splices:
        struct.pack_into(">i", out, 0, len(out) - 4)
        return [bytes(out)]
    total = len(out) - 4 + sum(len(chunk) for _, chunk in splices)
    struct.pack_into(">i", out, 0, total)
    view = memoryview(out)
    result: list[bytes | FileSlice] = []
    start = 0
    for offset, chunk in splices:
        result.append(bytes(view[start:offset]))
        result.append(chunk)
        start = offset
    if start < len(out):
        result.append(bytes(view[start:]))
    return result


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """The compiled codec of one message body for one version."""

    api_key: int
    version: int
    is_response: bool
    flexible: bool
    encode: Callable[[Output, Mapping[str, Any]], None]
    decode: Callable[[memoryview, int], tuple[dict[str, Any], int]]
    source: str  # the generated code of the top-level struct, for reading and debugging


_PLANS: dict[tuple[int, int, bool], MessagePlan] = {}


def plan_for(api_key: int, version: int, is_response: bool) -> MessagePlan:
    """The cached plan; ProtocolError for an API we do not declare or a version outside its range."""
    key = (api_key, version, is_response)
    plan = _PLANS.get(key)
    if plan is None:
        spec = API_SPECS.get(api_key)
        if spec is None:
            raise ProtocolError(f"unsupported API key {api_key}")
        if not spec.supports(version):
            raise ProtocolError(
                f"{spec.name} v{version} unsupported (v{spec.min_version}-v{spec.max_version})"
            )
        flexible = spec.is_flexible(version)
        body = _compile_struct(spec.response if is_response else spec.request, version, flexible)
        plan = MessagePlan(api_key, version, is_response, flexible, body.encode, body.decode, body.source)
        _PLANS[key] = plan
    return plan


def precompile() -> int:
    """Compile every plan now (about 0.2 s) instead of on each one's first use; returns the count."""
    for key, spec in API_SPECS.items():
        for version in range(spec.min_version, spec.max_version + 1):
            plan_for(key, version, False)
            plan_for(key, version, True)
    return len(_PLANS)


# --- struct compilation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StructCodec:
    encode: Callable[[bytearray, Mapping[str, Any]], None]
    decode: Callable[[memoryview, int], tuple[dict[str, Any], int]]
    defaults: Callable[[], dict[str, Any]]
    is_default: Callable[[Mapping[str, Any]], bool]
    source: str


@dataclass(frozen=True, slots=True)
class _FieldCodec:
    plan: FieldPlan  # how generated code handles the field when it is a regular (untagged) one
    write: Writer  # standalone writer/reader, for tagged fields
    read: Reader
    fresh: Callable[[], Any] | None  # builds a mutable default for a decoded dict
    is_default: Callable[[Any], bool]


def _compile_struct(fields: tuple[Field, ...], version: int, flexible: bool) -> _StructCodec:
    codecs = {f.name: _field_codec(f, version, flexible) for f in fields}
    present = [f for f in fields if f.exists_in(version)]
    tagged = sorted((f for f in present if flexible and f.tag is not None), key=lambda f: f.tag or 0)
    regular = [f for f in present if not (flexible and f.tag is not None)]
    regular_names = {f.name for f in regular}

    result = [
        (f.name, f.name if f.name in regular_names else None, codecs[f.name].fresh or codecs[f.name].plan.missing)
        for f in fields
    ]
    plans = [codecs[f.name].plan for f in regular]
    encode, enc_source = generate_encoder(plans, flexible, _tags_writer(tagged, codecs))
    read_tags = _tags_reader({f.tag: (f.name, codecs[f.name].read) for f in tagged if f.tag is not None})
    decode, dec_source = generate_decoder(plans, result, flexible, read_tags)

    checks = tuple((f.name, codecs[f.name].is_default) for f in present)

    def is_default(value: Mapping[str, Any]) -> bool:
        for name, check in checks:
            v = value.get(name)
            if v is not None and not check(v):
                return False
        return True

    def defaults() -> dict[str, Any]:
        return {
            name: (default() if callable(default) else default) for name, _, default in result
        }

    return _StructCodec(encode, decode, defaults, is_default, enc_source + "\n\n" + dec_source)


def _tags_writer(tagged: list[Field], codecs: dict[str, _FieldCodec]) -> EncodeStep | None:
    """Writes the tagged fields that differ from their defaults, in increasing tag order."""
    if not tagged:
        return None
    entries = tuple((f.tag, f.name, codecs[f.name].write, codecs[f.name].is_default) for f in tagged)

    def write_tags(out: bytearray, d: Mapping[str, Any]) -> None:
        found: list[tuple[int, bytearray]] = []
        for tag, name, write, is_default in entries:
            v = d.get(name)
            if v is None or is_default(v):
                continue
            tmp = bytearray()
            write(tmp, v)
            assert tag is not None  # only tagged fields are listed
            found.append((tag, tmp))
        p.write_uvarint(out, len(found))
        for tag, tmp in found:
            p.write_uvarint(out, tag)
            p.write_uvarint(out, len(tmp))
            out += tmp

    return write_tags


def _tags_reader(
    by_tag: dict[int, tuple[str, Reader]],
) -> Callable[[memoryview, int, dict[str, Any]], int]:
    """Reads known tags within their declared size; skips unknown ones."""

    def read_tags(buf: memoryview, pos: int, d: dict[str, Any]) -> int:
        n, pos = p.read_uvarint(buf, pos)
        for _ in range(n):
            tag, pos = p.read_uvarint(buf, pos)
            size, pos = p.read_uvarint(buf, pos)
            end = pos + size
            if end > len(buf):
                raise ProtocolError("truncated tagged field")
            entry = by_tag.get(tag)
            if entry is not None:
                name, read = entry
                d[name] = read(buf[:end], pos)[0]
            pos = end
        return pos

    return read_tags


# --- field codecs ----------------------------------------------------------------------------------


def _field_codec(f: Field, version: int, flexible: bool) -> _FieldCodec:
    nullable = f.nullable_in(version)
    t = f.type
    name = f.name
    if isinstance(t, p.Primitive):
        read, write = _primitive_rw(t, flexible, nullable)
        default = f.default
        kind = "fixed" if t.fmt is not None else "string" if t is p.STRING else "other"
        plan = FieldPlan(name, kind, nullable, default, fmt=t.fmt, read=read, write=write)
        return _FieldCodec(plan, write, read, None, lambda v: v == default)
    if isinstance(t, ArrayOf):
        item = t.item
        if isinstance(item, StructOf):
            inner = _compile_struct(item.fields, version, flexible)
            read, write = _array_rw(inner.decode, inner.encode, "items", flexible, nullable)
            plan = FieldPlan(name, "array_struct", nullable, f.default, encode=inner.encode, decode=inner.decode)
        else:
            item_read, item_write = _primitive_rw(item, flexible, False)
            read, write = _array_rw(item_read, item_write, item.name, flexible, nullable)
            kind = "array_fixed" if item.fmt is not None else "array_other"
            plan = FieldPlan(name, kind, nullable, f.default, fmt=item.fmt, read=item_read, write=item_write)
        if f.default == EMPTY_ARRAY:
            return _FieldCodec(plan, write, read, list, lambda v: len(v) == 0)
        return _FieldCodec(plan, write, read, None, lambda v: v is None)
    inner = _compile_struct(t.fields, version, flexible)
    write = _struct_writer(inner)
    plan = FieldPlan(name, "struct", False, None, encode=inner.encode, decode=inner.decode)
    return _FieldCodec(plan, write, inner.decode, inner.defaults, inner.is_default)


def _struct_writer(inner: _StructCodec) -> Writer:
    encode = inner.encode

    def write(out: bytearray, v: Any) -> None:
        encode(out, _EMPTY if v is None else v)

    return write


def _array_rw(
    item_read: Reader, item_write: Writer, what: str, flexible: bool, nullable: bool
) -> tuple[Reader, Writer]:
    """Standalone array reader/writer (items are structs or primitives), used when the array is a tagged field."""
    read_len, write_len, write_null = _array_length_rw(flexible)

    def write(out: bytearray, items: Any) -> None:
        if items is None:
            if nullable:
                write_null(out)
                return
            items = EMPTY_ARRAY
        write_len(out, len(items))
        for v in items:
            item_write(out, v)

    def read(buf: memoryview, pos: int) -> tuple[list[Any] | None, int]:
        n, pos = read_len(buf, pos)
        if n < 0:
            if nullable:
                return None, pos
            raise ProtocolError("null array for a non-nullable field")
        if n > len(buf) - pos:
            raise ProtocolError(f"array of {n} {what} is longer than the frame")
        items: list[Any] = []
        append = items.append
        for _ in range(n):
            v, pos = item_read(buf, pos)
            append(v)
        return items, pos

    return read, write


def _array_length_rw(
    flexible: bool,
) -> tuple[Reader, Callable[[bytearray, int], None], Callable[[bytearray], None]]:
    if flexible:
        return p.read_compact_array_length, p.write_compact_array_length, p.write_compact_null_array
    return p.read_array_length, p.write_array_length, p.write_null_array


def _fixed_rw(fmt: str) -> tuple[Reader, Writer]:
    s = struct.Struct(">" + fmt)
    unpack, pack, size = s.unpack_from, s.pack, s.size

    def read(buf: memoryview, pos: int) -> tuple[Any, int]:
        end = pos + size
        if end > len(buf):
            raise ProtocolError("truncated fixed-width field")
        return unpack(buf, pos)[0], end

    def write(out: bytearray, v: Any) -> None:
        out += pack(v)

    return read, write


def _primitive_rw(t: p.Primitive, flexible: bool, nullable: bool) -> tuple[Reader, Writer]:
    """The reader/writer pair for one primitive in one encoding (classic/compact) and nullability."""
    if t.fmt is not None:
        return _fixed_rw(t.fmt)
    if t is p.STRING:
        if flexible:
            if nullable:
                return p.read_compact_nullable_string, p.write_compact_nullable_string
            return p.read_compact_string, p.write_compact_string
        if nullable:
            return p.read_nullable_string, p.write_nullable_string
        return p.read_string, p.write_string
    if t is p.BYTES:
        if flexible:
            if nullable:
                return p.read_compact_nullable_bytes, p.write_compact_nullable_bytes
            return p.read_compact_bytes, p.write_compact_bytes
        if nullable:
            return p.read_nullable_bytes, p.write_nullable_bytes
        return p.read_bytes, p.write_bytes
    if t is p.RECORDS:
        if flexible:
            read = p.read_compact_nullable_bytes if nullable else p.read_compact_bytes
            return read, _write_compact_records
        return (p.read_nullable_bytes if nullable else p.read_bytes), _write_records
    if t is p.UUID:
        return p.read_uuid, p.write_uuid
    if t is p.VARINT:
        return p.read_varint, p.write_varint
    if t is p.VARLONG:
        return p.read_varlong, p.write_varlong
    if t is p.UNSIGNED_VARINT:
        return p.read_uvarint, p.write_uvarint
    raise TypeError(f"no codec for {t!r}")


_I32 = struct.Struct(">i")


def _spliced(v: Any) -> bool:
    return isinstance(v, FileSlice) or (type(v) is bytes and len(v) >= SPLICE_MIN)


def _write_records(out: bytearray, v: Any) -> None:
    """Nullable int32-length records; a FileSlice (or large bytes) becomes its own chunk."""
    if v is None:
        out += b"\xff\xff\xff\xff"
    elif _spliced(v):
        out += _I32.pack(len(v))
        out.splices.append((len(out), v))  # type: ignore[attr-defined]
    else:
        out += _I32.pack(p.byte_length(v))
        out += v


def _write_compact_records(out: bytearray, v: Any) -> None:
    """Compact nullable records (unsigned varint length+1)."""
    if v is None:
        out.append(0)
    elif _spliced(v):
        p.write_uvarint(out, len(v) + 1)
        out.splices.append((len(out), v))  # type: ignore[attr-defined]
    else:
        p.write_uvarint(out, p.byte_length(v) + 1)
        out += v
