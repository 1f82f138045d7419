# cython: language_level=3, boundscheck=True, wraparound=False, annotation_typing=False
"""The record walk: check that a records section holds exactly ``count`` well-formed v2 records.

The leader calls :func:`walk_records` on every produced batch (:func:`.validation.validate_records`, which
decompresses first; its docstring lists the checks and the errors Kafka answers). The walk reads the
section's bytes with integer arithmetic and builds no Python object per record::

    per record: length varint (<= 5 bytes), the record inside the section, attributes byte (any value),
      timestampDelta varlong (<= 10 bytes), offsetDelta varint == the record's index, keyLength >= -1 and
      the key, valueLength >= -1 and the value, headerCount >= 0 and no more than the bytes left, each
      header: key length >= 0 and key, value length >= -1 and value, inside the record; the fields end
      exactly at the record's length
    then: no byte after the last record

Varints of one and two bytes (every length below 8 KiB, every offset delta below 8192) are decoded inline,
longer ones by :func:`_varint`, which refuses a varint longer than its type (5 bytes for an int32, 10 for
an int64) or carrying bits beyond it (Kafka's ``ByteUtils`` drops those silently). A read past the section
only happens after a field that overran its record, and the position only grows, so the record's end check
refuses it whatever was read: the buffer may extend past ``size`` (a reused scratch buffer), and a read
past the buffer itself is "premature EOF".

**Compiled, or plain Python.** This file is ordinary Python, and is also compiled to a C extension by
Cython in its "pure Python mode", with the C types of the variables declared apart, in ``record_walk.pxd``
beside it: a ``.pxd`` of the same name "augments" the module when Cython compiles it and is ignored
otherwise, so this file needs no ``import cython`` (nor Cython at run time) and runs unchanged where
nothing was compiled (``setup.py`` declares the extension optional, for an install without a C compiler).
The annotations are for mypy; Cython is told to ignore them (``annotation_typing=False``). Both ways run
the same source, so they answer the same, messages included (``tests/unit/storage/test_record_walk.py``
holds them to it on random and damaged input). Compiled, a record costs about 10 ns (25 with a header)
instead of 1.1 to 1.8 µs, whatever its layout. The plain-Python walk used to check runs of records of one
layout column by column to go faster on fixed-size records (about 20 ns a record there); the compiled walk
is faster than that on every layout, so it went, and as plain Python every layout costs the slow walk.

Hostile clients send these bytes. The compiled walk reads the section through a typed memoryview with
``boundscheck`` on (the directive line at the top of this file): every byte read is checked against the
buffer's length, and an index past it raises ``IndexError``, as indexing ``bytes`` does in Python. Every
position is a ``Py_ssize_t`` that only grows by the lengths of fields (less than 2**31 each, and checked
against the record's end after each header), so no C integer can overflow; ``wraparound`` is off because
no index is ever negative (and boundscheck refuses a negative one all the same).

Why Cython: mypyc compiled this same annotated source to a walk of about 450 ns a record, and a
hand-written C extension would be as fast as Cython's but a second implementation to keep in step with
this one.

After an edit, rebuild the extension (``make install`` does when this file or the ``.pxd`` changed, or
``pip install --no-deps -e .``): an editable install imports the compiled module, built from the source as
it was then, in preference to this file (the storage tests fail on a compiled module older than its
source).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_broker.protocol.errors import InvalidRecordError

if TYPE_CHECKING:
    from kafka_broker.storage.records import Buffer


class Malformed(Exception):
    """Internal: the walk found a fault; :func:`walk_records` adds where and raises INVALID_RECORD."""


def walk_records(
    records: Buffer, count: int, *, size: int | None = None, require_keys: bool = False, where: str = ""
) -> list[int]:
    """Check that ``records[:size]`` holds exactly ``count`` well-formed records (see the module docstring).

    Returns the indexes of keyless records when ``require_keys`` (else an empty list);
    a structural fault raises :class:`InvalidRecordError`, whose message ends with ``where``.
    """
    data = records
    if isinstance(data, memoryview) and (data.format != "B" or not data.c_contiguous):
        data = bytes(data)  # the walk reads a contiguous buffer of unsigned bytes
    try:
        return _walk(data, len(data) if size is None else size, count, require_keys)
    except Malformed as exc:
        raise InvalidRecordError(f"{exc} {where}".rstrip()) from None
    except IndexError:
        raise InvalidRecordError(f"Incorrect declared batch size, premature EOF reached {where}".rstrip()) from None


def _walk(data: Buffer, total: int, count: int, require_keys: bool) -> list[int]:
    # Zigzag decoding: (u >> 1) ^ -(u & 1).
    keyless: list[int] = []
    position = 0
    index = 0
    while index < count:
        # record length
        byte = data[position]
        if byte < 0x80:
            length = (byte >> 1) ^ -(byte & 1)
            position += 1
        elif data[position + 1] < 0x80:
            length = (byte & 0x7F) | (data[position + 1] << 7)
            length = (length >> 1) ^ -(length & 1)
            position += 2
        else:
            length, position = _varint(data, position, 5)
        end = position + length
        if length <= 0 or end > total:
            if length > 0:
                raise Malformed(
                    f"Invalid record size: expected {length} bytes in record payload, but instead the buffer has "
                    f"only {total - position} remaining bytes (record {index})"
                )
            raise Malformed(f"Invalid record size {length} (record {index})")
        length_end = position
        # attributes (any value), then timestampDelta (varlong, any value)
        position += 1
        if data[position] < 0x80:
            position += 1
        elif data[position + 1] < 0x80:
            position += 2
        else:
            _, position = _varint(data, position, 10)
        # offsetDelta
        byte = data[position]
        if byte < 0x80:
            offset_delta = (byte >> 1) ^ -(byte & 1)
            position += 1
        elif data[position + 1] < 0x80:
            offset_delta = (byte & 0x7F) | (data[position + 1] << 7)
            offset_delta = (offset_delta >> 1) ^ -(offset_delta & 1)
            position += 2
        else:
            offset_delta, position = _varint(data, position, 5)
        if offset_delta != index:
            raise Malformed(f"Record {index} has offset delta {offset_delta}, not {index}")
        # key
        byte = data[position]
        null_key = byte == 1
        if null_key:
            position += 1
        elif byte < 0x80 and not byte & 1:
            position += 1 + (byte >> 1)
        else:
            size, position = _varint(data, position, 5)
            if size >= 0:
                position += size
            elif size == -1:
                null_key = True
            else:
                raise Malformed(f"Invalid key size {size} (record {index})")
        if null_key and require_keys:
            keyless.append(index)
        # value
        byte = data[position]
        if byte < 0x80 and not byte & 1:
            position += 1 + (byte >> 1)
        elif byte & 1 == 0 and data[position + 1] < 0x80:
            position += 2 + (((byte & 0x7F) | (data[position + 1] << 7)) >> 1)
        elif byte == 1:  # null
            position += 1
        else:
            size, position = _varint(data, position, 5)
            if size >= 0:
                position += size
            elif size != -1:
                raise Malformed(f"Invalid value size {size} (record {index})")
        # headers
        if position >= end:
            raise Malformed(f"Invalid record size: record {index} ends before its header count")
        headers = data[position]
        if headers == 0:
            position += 1
        else:
            headers, position = _varint(data, position, 5)
            if headers < 0:
                raise Malformed(f"Found invalid number of record headers {headers} (record {index})")
            if headers > end - position:
                raise Malformed(
                    f"Found invalid number of record headers. {headers} is larger than the remaining size of the "
                    f"buffer (record {index})"
                )
            position = _skip_headers(data, position, end, headers, index)
        if position != end:
            raise Malformed(
                f"Invalid record size: expected to read {length} bytes in record payload, but instead read "
                f"{position - length_end} (record {index})"
            )
        index += 1
    if position != total:
        raise Malformed(f"Incorrect declared batch size, records still remaining in file ({total - position} bytes)")
    return keyless


def _varint(data: Buffer, position: int, max_bytes: int) -> tuple[int, int]:
    """The zigzag varint of at most ``max_bytes`` bytes (5: int32, 10: int64) at ``position``, and the
    position after it. Bits beyond 32 (64) are refused; Kafka's ``ByteUtils`` drops them silently."""
    bits = 32 if max_bytes == 5 else 64
    value = 0
    shift = 0
    for _ in range(max_bytes):
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            # Only the last byte a type allows can carry bits beyond it (the 5th: 28 + 7 > 32; the 10th:
            # 63 + 7 > 64), and ``value`` holds only the low 64 of them when compiled: test the byte.
            if shift + 7 > bits and byte >> (bits - shift):
                raise Malformed("Found invalid record structure: varint beyond its type's range")
            return (value >> 1) ^ -(value & 1), position
        shift += 7
    raise Malformed("Found invalid record structure: varint longer than its type allows")


def _skip_headers(data: Buffer, position: int, end: int, count: int, index: int) -> int:
    """The position after the record's ``count`` headers (``index``: the record's, for the messages)."""
    for _ in range(count):
        size, position = _varint(data, position, 5)
        if size < 0:
            raise Malformed(f"Invalid negative header key size {size} (record {index})")
        position += size
        size, position = _varint(data, position, 5)
        if size >= 0:
            position += size
        elif size != -1:
            raise Malformed(f"Invalid header value size {size} (record {index})")
        if position > end:
            raise Malformed(f"Invalid record size: record {index}'s headers run past its end")
    return position
