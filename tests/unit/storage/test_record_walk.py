"""The record walk compiled and interpreted (``storage/record_walk.py``): one source, one behaviour.

The compiled walk must answer exactly what the plain-Python one answers — the same keyless indexes, or the
same error and message — on good records sections, damaged ones and random bytes, and must never fail in
any other way (a read outside the buffer is an ``IndexError`` there too: boundscheck). Sections that end
where an unreadable page begins show that it reads nothing outside its buffer. Varints at the edges of
their types are checked by hand. ``test_record_validation.py`` runs the whole validation suite against
both walks besides.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafka_broker.protocol.errors import InvalidRecordError
from kafka_broker.storage.records import Buffer

from . import damaged_batches as damaged
from .conftest import compiled_walk, interpreted_walk

EXAMPLES = 3000 if os.environ.get("CI") == "true" else 600
Outcome = tuple[str, object]


@pytest.fixture(autouse=True)
def _compiled() -> None:
    """Without a compiled walk there is nothing to compare: skipped (failed under CI=true)."""
    compiled_walk()


def _outcome(walk: ModuleType, data: Buffer, count: int, size: int | None, require_keys: bool) -> Outcome:
    try:
        return "ok", walk.walk_records(data, count, size=size, require_keys=require_keys, where="(here)")
    except InvalidRecordError as error:
        return type(error).__name__, str(error)


def _agree(data: bytes | bytearray, count: int, *, size: int | None = None, require_keys: bool = False) -> Outcome:
    """Both walks' outcome on the same input, which must be the same; any other exception fails the test."""
    compiled = _outcome(compiled_walk(), data, count, size, require_keys)
    interpreted = _outcome(interpreted_walk(), data, count, size, require_keys)
    assert compiled == interpreted
    return compiled


# -- strategies: records sections, good and damaged ----------------------------------------------------------

_lengths = st.one_of(st.integers(0, 60), st.integers(61, 300), st.integers(8180, 8200), st.integers(16_380, 20_000))
_BLOB = bytes(i % 251 for i in range(20_000))
_blobs = st.one_of(st.none(), _lengths.map(lambda n: _BLOB[:n]))
_timestamps = st.one_of(st.integers(-70, 70), st.integers(-(2**63), 2**63 - 1))
_headers = st.lists(st.tuples(st.binary(max_size=12), st.one_of(st.none(), st.binary(max_size=40))), max_size=3)


@st.composite
def sections(draw: st.DrawFn) -> tuple[bytes, int]:
    """A well-formed records section (offset deltas 0, 1, ...) and its record count."""
    records = draw(st.lists(st.tuples(_blobs, _blobs, _timestamps, _headers), max_size=12))
    section = b"".join(
        damaged.raw_record(index, value, key=key, timestamp_delta=timestamp, headers=tuple(headers))
        for index, (key, value, timestamp, headers) in enumerate(records)
    )
    return section, len(records)


def _flip(data: bytearray, draw: st.DrawFn) -> None:
    if data:
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))


def _insert(data: bytearray, draw: st.DrawFn) -> None:
    position = draw(st.integers(0, len(data)))
    data[position:position] = draw(st.binary(min_size=1, max_size=6))


def _delete(data: bytearray, draw: st.DrawFn) -> None:
    position = draw(st.integers(0, len(data)))
    del data[position : position + draw(st.integers(1, 6))]


def _varint_at(data: bytearray, draw: st.DrawFn) -> None:
    """A varint of any length (up to 11 bytes) and value written over the bytes at some position."""
    position = draw(st.integers(0, len(data)))
    raw = damaged.zigzag(draw(st.integers(-(2**63), 2**63 - 1)))
    raw = draw(st.sampled_from([raw, b"\xff" * draw(st.integers(1, 11)) + b"\x00", raw[:-1]]))
    data[position : position + len(raw)] = raw


MUTATIONS: list[Callable[[bytearray, st.DrawFn], None]] = [_flip, _insert, _delete, _varint_at]


@st.composite
def damaged_sections(draw: st.DrawFn) -> tuple[bytearray, int, int | None]:
    """A section damaged 0 to 4 times, the count it claims (perhaps off), and perhaps a size below its end
    (the walk's buffer may be a reused one, with stale bytes past the section)."""
    section, count = draw(sections())
    data = bytearray(section)
    for _ in range(draw(st.integers(0, 4))):
        draw(st.sampled_from(MUTATIONS))(data, draw)
    count += draw(st.sampled_from([0, 0, 0, -1, 1, 2]))
    size = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return data, count, size


# -- the properties --------------------------------------------------------------------------------------------

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(section=sections(), require_keys=st.booleans())
def test_good_sections_are_accepted_alike(section: tuple[bytes, int], require_keys: bool) -> None:
    data, count = section
    kind, _ = _agree(data, count, require_keys=require_keys)
    assert kind == "ok"


@SETTINGS
@given(case=damaged_sections(), require_keys=st.booleans())
def test_damaged_sections_get_the_same_answer(case: tuple[bytearray, int, int | None], require_keys: bool) -> None:
    data, count, size = case
    _agree(data, count, size=size, require_keys=require_keys)


@SETTINGS
@given(data=st.binary(max_size=400), count=st.integers(-2, 60), cut=st.integers(0, 400), require_keys=st.booleans())
def test_random_bytes_never_crash_the_walk(data: bytes, count: int, cut: int, require_keys: bool) -> None:
    """Whatever the bytes, the walk answers (accepted, or InvalidRecordError), in C as in Python."""
    _agree(data, count, size=min(cut, len(data)), require_keys=require_keys)
    _agree(data, count, require_keys=require_keys)


class GuardedBuffer:
    """Bytes placed flush against a page that no one may read (and after one): a read past either end of
    the buffer kills the process (SIGSEGV) instead of reading whatever lies there."""

    PAGE = mmap.PAGESIZE

    def __init__(self, capacity: int) -> None:
        self.pages = -(-capacity // self.PAGE) or 1
        self.map = mmap.mmap(-1, (self.pages + 2) * self.PAGE)
        libc = ctypes.CDLL(None, use_errno=True)
        anchor = ctypes.c_char.from_buffer(self.map)
        base = ctypes.addressof(anchor)
        del anchor  # the map can be closed again once no ctypes object holds it
        for page in (0, self.pages + 1):
            if libc.mprotect(ctypes.c_void_p(base + page * self.PAGE), self.PAGE, 0) != 0:  # PROT_NONE
                raise OSError(ctypes.get_errno(), "mprotect")

    def holding(self, data: bytes) -> memoryview:
        end = (self.pages + 1) * self.PAGE
        self.map[end - len(data) : end] = data
        return memoryview(self.map)[end - len(data) : end]


@pytest.fixture(scope="module")
def guarded() -> Iterator[GuardedBuffer]:
    if not sys.platform.startswith("linux"):
        message = "mprotect through ctypes: Linux only"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # CI runs on Linux: never skipped there
            pytest.fail(message)
        pytest.skip(message)
    buffer = GuardedBuffer(64 << 10)
    yield buffer
    buffer.map.close()


@SETTINGS
@given(case=damaged_sections(), require_keys=st.booleans())
def test_the_compiled_walk_reads_nothing_outside_the_buffer(
    guarded: GuardedBuffer, case: tuple[bytearray, int, int | None], require_keys: bool
) -> None:
    """Sections (good, damaged, cut anywhere) that end at an unreadable page: the compiled walk answers."""
    data, count, size = case
    section = bytes(data[: size if size is not None else len(data)])[: guarded.pages * guarded.PAGE]
    view = guarded.holding(section)
    try:
        assert _outcome(compiled_walk(), view, count, None, require_keys) == _outcome(
            interpreted_walk(), section, count, None, require_keys
        )
    finally:
        view.release()


# -- varints at the edges of their types, by hand ------------------------------------------------------------


def _record(fields: bytes) -> bytes:
    """A one-record section: its length, then ``fields`` (everything after the length)."""
    return damaged.zigzag(len(fields)) + fields


INT32_MIN_IN_5 = b"\xff\xff\xff\xff\x0f"  # zigzag 2**32 - 1: -2**31, the lowest int32
INT64_MIN_IN_10 = b"\xff" * 9 + b"\x01"  # zigzag 2**64 - 1: -2**63, the lowest int64
INT32_MAX = damaged.zigzag(2**31 - 1)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (b"\x00" + INT64_MIN_IN_10 + b"\x00\x01\x01\x00", None),  # timestamp delta -2**63: fine
        (b"\x00" + b"\xff" * 9 + b"\x02" + b"\x00\x01\x01\x00", "varint beyond its type's range"),
        (b"\x00" + b"\xff" * 10 + b"\x00" + b"\x00\x01\x01\x00", "varint longer than its type allows"),
        (b"\x00\x00\x00" + INT32_MIN_IN_5 + b"\x01\x00", "Invalid key size -2147483648 (record 0)"),
        (b"\x00\x00\x00" + b"\xff\xff\xff\xff\x1f" + b"\x01\x00", "varint beyond its type's range"),
        (b"\x00\x00\x00" + INT32_MAX + b"\x01\x00", "premature EOF reached"),  # a key of 2**31-1 bytes
        (b"\x00\x00\x00\x01" + INT32_MAX + b"\x00", "ends before its header count"),  # a value of 2**31-1 bytes
        (b"\x00\x00\x00\x01\x01" + INT32_MAX, "2147483647 is larger than the remaining size"),  # header count
        (b"\x00\x00\x00\x01\x01\x02" + INT32_MAX + b"\x00", "premature EOF reached"),  # a header key
        (b"\x00\x00\x00\x01\x01\x02\x02a\x0aabc", "headers run past its end"),  # a header value of 5 bytes, 3 there
        (b"\x00\x00\x00\x01\x01\x02\x00" + INT32_MIN_IN_5, "Invalid header value size -2147483648"),
        (b"\x00\x00\x80\x80\x80\x80\x80\x00\x01\x01\x00", "varint longer than its type allows"),  # offset delta
        (b"\x00\x00\x80\x80\x80\x80\x00\x01\x01\x00", None),  # offset delta 0 in five bytes: allowed, as Kafka
    ],
)
def test_varints_at_the_edges_of_their_types(fields: bytes, error: str | None) -> None:
    kind, answer = _agree(_record(fields), 1)
    if error is None:
        assert (kind, answer) == ("ok", [])
    else:
        assert kind == "InvalidRecordError" and error in str(answer) and str(answer).endswith("(here)")


def test_a_length_prefix_longer_than_five_bytes_is_refused() -> None:
    kind, answer = _agree(b"\x80\x80\x80\x80\x80\x01" + bytes(40), 1)
    assert kind == "InvalidRecordError" and "varint longer than its type allows" in str(answer)


def test_a_memoryview_or_a_reused_buffer_is_walked_as_its_bytes() -> None:
    section = damaged.records_section(damaged.good_values(3, "v"), key=None)
    for walk in (compiled_walk(), interpreted_walk()):
        assert walk.walk_records(memoryview(section), 3, require_keys=True) == [0, 1, 2]
        assert walk.walk_records(memoryview(section).cast("c"), 3, require_keys=True) == [0, 1, 2]
        assert walk.walk_records(memoryview(bytes(x for b in section for x in (b, 0)))[::2], 3) == []
        assert walk.walk_records(bytearray(section) + b"stale", 3, size=len(section)) == []
        with pytest.raises(InvalidRecordError, match="premature EOF"):  # a fourth record read past the end
            walk.walk_records(bytearray(section), 4)
