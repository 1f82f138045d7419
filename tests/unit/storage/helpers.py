"""Helpers for the storage tests: batches with known records, and reading a log back as records."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():  # kafka-python's import uses deprecated importlib.resources calls
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import codec as kafka_codec
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.records import Record, build_batch, decode_records, iter_batches

__all__ = ["DefaultRecordBatchBuilder", "MemoryRecords", "MemoryRecordsBuilder", "kafka_codec"]


def make_records(count: int, *, start: int = 0, timestamp: int = 1_000, value_size: int = 20) -> list[Record]:
    return [
        Record(
            start + i,
            timestamp + i,
            b"key-%d" % (start + i),
            bytes([(start + i) % 251]) * value_size,
            (("trace", b"%d" % i),),
        )
        for i in range(count)
    ]


def make_batch(count: int = 3, *, timestamp: int = 1_000, value_size: int = 20, **options: object) -> bytes:
    """A producer-style batch (base offset 0) of ``count`` records."""
    return build_batch(make_records(count, timestamp=timestamp, value_size=value_size), base_offset=0, **options)


def records_of(data: bytes) -> list[Record]:
    return [r for header in iter_batches(data) for r in decode_records(data[header.position : header.end])]


def read_all(log: PartitionLog, offset: int | None = None, *, max_bytes: int = 1 << 20) -> list[Record]:
    """Every record from ``offset`` (default: log start) to the log end, by repeated reads."""
    position = log.log_start_offset if offset is None else offset
    out: list[Record] = []
    while position < log.log_end_offset:
        result = log.read(position, max_bytes=max_bytes)
        if result.slice is None:
            break
        out.extend(r for r in records_of(result.slice.read()) if r.offset >= position)
        assert result.next_offset > position
        position = result.next_offset
    return out
