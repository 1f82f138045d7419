import os
import random

from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from kafka_broker.storage.records import (
    assign_offsets,
    build_batch,
    decode_records,
    iter_batches,
    validate_batches,
)
from kafka_broker.storage.segment import Segment

from .helpers import make_batch, make_records, records_of


def new_segment(directory, base_offset=0, *, interval=0, index_bytes=4096):
    directory.mkdir(parents=True, exist_ok=True)
    segment = Segment(
        directory,
        base_offset,
        index_interval_bytes=interval,
        max_index_bytes=index_bytes,
        create=True,
        now_ms=0,
    )
    segment.make_active()
    return segment


def append(segment, batch, first_offset):
    data = bytearray(batch)
    headers = assign_offsets(data, first_offset, 0)
    segment.append(data, headers)
    return headers


def fill(segment, sizes, *, start=None):
    """Append a batch of n records per entry of ``sizes``; returns the stored headers."""
    offset = segment.next_offset if start is None else start
    stored = []
    for i, count in enumerate(sizes):
        (header,) = append(segment, make_batch(count, timestamp=10_000 + 100 * i), offset)
        stored.append(header._replace(position=segment.size - header.length))
        offset = header.next_offset
    return stored


def test_files_named_by_base_offset(tmp_path):
    segment = new_segment(tmp_path, 1234)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000000000000001234.index",
        "00000000000000001234.log",
        "00000000000000001234.timeindex",
    ]
    segment.close()


def test_read_whole_batches(tmp_path):
    segment = new_segment(tmp_path, 0, interval=100)
    stored = fill(segment, [3, 1, 4, 1, 5, 9, 2, 6])
    assert segment.offset_index.entries > 2
    # from the middle of a batch: that whole batch first
    result = segment.read(5, max_bytes=1)
    third = stored[2]
    assert (result.slice.position, result.slice.length) == (third.position, third.length)
    assert (result.first_offset, result.next_offset) == (4, 8)
    # max_bytes ends on a batch boundary, never inside a batch
    result = segment.read(0, max_bytes=stored[2].end - 1)
    assert result.slice.length == stored[1].end and result.next_offset == 4
    result = segment.read(0, max_bytes=10**9)
    assert result.slice.length == segment.size and result.next_offset == segment.next_offset == 31
    # high watermark: no batch reaching max_offset
    result = segment.read(0, max_bytes=10**9, max_offset=9)
    assert result.next_offset == 9 and result.slice.length == stored[3].end
    assert segment.read(9, max_bytes=10**9, max_offset=9) is None
    assert segment.read(9, max_bytes=10**9, max_offset=10) is None  # batch 9..13 reaches it
    assert segment.read(31, max_bytes=100) is None
    assert segment.read(0, max_bytes=10**9, max_position=stored[0].end - 1) is None
    segment.close()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=25),
    st.integers(0, 600),
    st.integers(0, 3000),
    st.data(),
)
def test_read_matches_brute_force(tmp_path_factory, sizes, interval, max_bytes, data):
    segment = new_segment(tmp_path_factory.mktemp("seg"), 50, interval=interval)
    stored = fill(segment, sizes)
    start = data.draw(st.integers(50, stored[-1].next_offset))
    max_offset = data.draw(st.none() | st.integers(50, stored[-1].next_offset + 2))
    result = segment.read(start, max_bytes=max_bytes, max_offset=max_offset)
    chosen = []
    for header in stored:
        if header.last_offset < start:
            continue
        if max_offset is not None and header.last_offset >= max_offset:
            break
        if chosen and header.end - chosen[0].position > max_bytes:
            break
        chosen.append(header)
    if not chosen:
        assert result is None
    else:
        assert (result.slice.position, result.slice.length) == (chosen[0].position, chosen[-1].end - chosen[0].position)
        following = stored[stored.index(chosen[-1]) + 1 :]
        assert result.next_offset == (following[0].base_offset if following else chosen[-1].next_offset)
    segment.close()


def test_find_offset_by_timestamp(tmp_path):
    segment = new_segment(tmp_path, 0, interval=50)
    timestamps = [[100, 300, 200], [250, 260], [900, 400], [500]]
    offset = 0
    for batch_timestamps in timestamps:
        records = [
            r.__class__(offset + i, ts, r.key, r.value, r.headers)
            for i, (r, ts) in enumerate(zip(make_records(len(batch_timestamps)), batch_timestamps, strict=True))
        ]
        append(segment, build_batch(records, base_offset=offset), offset)
        offset += len(batch_timestamps)
    assert segment.find_offset_by_timestamp(0, start_offset=0) == (0, 100)
    assert segment.find_offset_by_timestamp(150, start_offset=0) == (1, 300)
    assert segment.find_offset_by_timestamp(300, start_offset=0) == (1, 300)
    assert segment.find_offset_by_timestamp(301, start_offset=0) == (5, 900)
    assert segment.find_offset_by_timestamp(450, start_offset=0) == (5, 900)
    assert segment.find_offset_by_timestamp(150, start_offset=2) == (2, 200)
    assert segment.find_offset_by_timestamp(450, start_offset=6) == (7, 500)
    assert segment.find_offset_by_timestamp(901, start_offset=0) is None
    assert (segment.max_timestamp, segment.offset_of_max_timestamp) == (900, 6)


def _reopen(directory, base_offset=0, *, interval=0):
    segment = Segment(
        directory, base_offset, index_interval_bytes=interval, max_index_bytes=4096, create=False, now_ms=0
    )
    return segment


def test_recover_truncates_torn_and_corrupt_tails(tmp_path):
    segment = new_segment(tmp_path, 0, interval=64)
    stored = fill(segment, [2, 3, 4, 5])
    segment.close()
    log_path = tmp_path / "00000000000000000000.log"
    intact = log_path.read_bytes()

    for damage in ("cut", "flip", "garbage"):
        data = bytearray(intact)
        if damage == "cut":
            data = data[: stored[-1].position + 30]
        elif damage == "flip":
            data[stored[-1].position + 70] ^= 0x40
        else:
            data += os.urandom(100)
        log_path.write_bytes(data)
        good_end = len(intact) if damage == "garbage" else stored[-1].position
        segment = _reopen(tmp_path, interval=64)
        result = segment.recover()
        assert result.truncated_bytes == len(data) - good_end
        assert segment.size == good_end == log_path.stat().st_size
        assert segment.next_offset == (stored[-1] if damage == "garbage" else stored[-2]).next_offset
        assert segment.read(0, max_bytes=10**6).slice.read() == intact[:good_end]
        assert segment.offset_index.lookup(6) == (stored[1].last_offset, stored[1].position)
        segment.close()


def test_load_rebuilds_a_corrupt_index(tmp_path):
    segment = new_segment(tmp_path, 0, interval=0)
    stored = fill(segment, [2] * 20)
    segment.on_roll()
    segment.close()
    index_path = tmp_path / "00000000000000000000.index"
    good = index_path.read_bytes()
    index_path.write_bytes(bytes(random.Random(1).randbytes(len(good))))
    segment = _reopen(tmp_path)
    segment.load()
    segment.on_roll()
    assert index_path.read_bytes() == good  # rebuilt, same entries
    assert segment.next_offset == 40 and segment.max_timestamp == stored[-1].max_timestamp
    assert records_of(segment.read(10, max_bytes=1).slice.read())[0].offset == 10
    segment.close()


def test_truncate_to(tmp_path):
    segment = new_segment(tmp_path, 0, interval=0)
    stored = fill(segment, [3, 3, 3, 3])
    assert segment.truncate_to(7) == stored[-2].length + stored[-1].length  # 7 is inside 6..8
    assert segment.next_offset == 6 and segment.size == stored[1].end
    assert segment.offset_index.last_entry[0] < 6
    assert segment.max_timestamp == stored[1].max_timestamp
    fill(segment, [2])
    data = segment.read(0, max_bytes=10**6).slice.read()
    assert [h.base_offset for h in validate_batches(data, max_batch_bytes=10**6)] == [0, 3, 6]
    assert [r.offset for r in decode_records(data[stored[1].end :])] == [6, 7]
    crc = [h.crc == crc32c(data[h.position + 21 : h.end]) for h in iter_batches(data)]
    assert all(crc)
    segment.close()
