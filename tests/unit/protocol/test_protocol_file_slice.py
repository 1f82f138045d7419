"""Zero-copy fetch responses: a FileSlice records value becomes its own chunk, preceded by the right
length prefix (int32 in Fetch v4, unsigned varint length+1 in flexible v12), never read."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from protocol_golden import Wire, i16, i32, i64, uvarint

from kafka_broker.protocol import FileSlice, RequestHeader, decode_response, encode_response
from kafka_broker.protocol.codec import SPLICE_MIN


@pytest.fixture
def log_file(tmp_path) -> Iterator[int]:
    path = tmp_path / "00000000000000000000.log"
    path.write_bytes(b"H" * 10 + b"A" * 300 + b"B" * 40)
    fd = os.open(path, os.O_RDONLY)
    yield fd
    os.close(fd)


class UnreadableSlice(FileSlice):
    """A FileSlice that fails the test if anyone reads it while encoding."""

    def read(self) -> bytes:
        raise AssertionError("encode_response must not read a FileSlice")


def _partition(index: int, records: object) -> dict:
    return {"partition_index": index, "error_code": 0, "high_watermark": 350, "last_stable_offset": 350,
            "aborted_transactions": None, "records": records}


def _frame(chunks: list) -> bytes:
    return b"".join(c.read() if isinstance(c, FileSlice) else c for c in chunks)


def test_fetch_v4_slice_is_its_own_chunk_with_int32_length(log_file: int) -> None:
    slice_a = UnreadableSlice(log_file, 10, 300)
    header = RequestHeader(1, 4, 77, "c")
    chunks = encode_response(header, {"responses": [{"topic": "t", "partitions": [_partition(0, slice_a)]}]})

    before = (
        i32(77) + i32(0)  # correlation id, throttle_time_ms
        + i32(1) + Wire(False).str("t") + i32(1)  # one topic named "t", with one partition
        + i32(0) + i16(0) + i64(350) + i64(350) + i32(-1)  # index, error, hw, lso, null aborted txns
        + i32(300)  # records length
    )
    assert chunks[0] == i32(len(before) + 300) + before
    assert chunks[1] is slice_a
    assert len(chunks) == 2  # records end the v4 response: no empty trailing chunk
    assert isinstance(chunks[0], bytes)


def test_fetch_v12_slice_gets_compact_length_and_following_bytes(log_file: int) -> None:
    slice_a = UnreadableSlice(log_file, 10, 300)
    slice_b = UnreadableSlice(log_file, 310, 40)
    header = RequestHeader(1, 12, 5, "c")
    body = {"responses": [{"topic": "t", "partitions": [_partition(0, slice_a), _partition(1, slice_b)]}]}
    chunks = encode_response(header, body)
    assert [type(c) for c in chunks] == [bytes, UnreadableSlice, bytes, UnreadableSlice, bytes]
    assert chunks[1] is slice_a and chunks[3] is slice_b
    assert chunks[0].endswith(uvarint(301))  # 300 bytes: two-byte varint of length+1
    assert chunks[2] == b"\x00" + i32(1) + i16(0) + i64(350) + i64(350) + i64(-1) + b"\x00" + i32(-1) + uvarint(41)
    assert chunks[4] == b"\x00" * 3  # empty tagged sections of the partition, the topic, the body
    total = sum(len(c) for c in chunks)
    assert int.from_bytes(chunks[0][:4], "big") == total - 4

    decoded = decode_response(1, 12, _frame([chunks[0], FileSlice(log_file, 10, 300), *chunks[2:3],
                                              FileSlice(log_file, 310, 40), chunks[4]])[4:])
    records = [p["records"].tobytes() for p in decoded[1]["responses"][0]["partitions"]]
    assert records == [b"A" * 300, b"B" * 40]


def test_large_bytes_records_are_spliced_not_copied() -> None:
    big = os.urandom(SPLICE_MIN)
    header = RequestHeader(1, 4, 1, "c")
    chunks = encode_response(header, {"responses": [{"topic": "t", "partitions": [_partition(0, big)]}]})
    assert len(chunks) == 2 and chunks[1] is big
    assert chunks[0].endswith(i32(len(big)))
    small = encode_response(header, {"responses": [{"topic": "t", "partitions": [_partition(0, b"x")]}]})
    assert len(small) == 1 and small[0].endswith(i32(1) + b"x")


def test_memoryview_records_are_copied_into_the_frame() -> None:
    chunks = encode_response(
        RequestHeader(1, 12, 1, "c"), {"responses": [{"topic": "t", "partitions": [_partition(0, memoryview(b"abc"))]}]}
    )
    assert len(chunks) == 1 and uvarint(4) + b"abc" in chunks[0]
