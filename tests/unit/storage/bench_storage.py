"""Micro benchmark of the storage hot paths (not collected by pytest): ``python tests/unit/storage/bench_storage.py``.

Measures leader appends of 1 MiB batches (writable and read-only input), of 1 KiB batches (with an
index entry every 4 KiB of log, and with one for every batch), the configured recompression /
LogAppendTime paths, and the rate of fetch-slice reads (FileSlice lookups) over
big and small batches. Writes go to the page cache (no fsync, Kafka's default flush policy).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

from kafka_broker.storage.compression import Codec
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.records import Record, build_batch

MIB = 1 << 20


def batch_of(total: int, record_size: int, *, codec: int = Codec.NONE) -> bytes:
    rng = random.Random(7)
    words = [rng.randbytes(8).hex().encode() for _ in range(64)]
    count = max(1, total // (record_size + 12))
    records = [
        Record(i, 1_700_000_000_000 + i, None, b" ".join(rng.choices(words, k=record_size // 17))[:record_size])
        for i in range(count)
    ]
    return build_batch(records, base_offset=0, compression=codec)


def timed(label: str, count: int, nbytes: int, fn) -> None:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    elapsed = time.perf_counter() - start
    rate = f"{nbytes * count / elapsed / MIB:8.0f} MiB/s" if nbytes else ""
    print(f"{label:52s} {count / elapsed:10.0f} ops/s {elapsed / count * 1e6:9.1f} us/op {rate}")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="kopfka-bench-"))
    try:
        config = LogConfig(segment_bytes=256 * MIB, retention_ms=-1, file_delete_delay_ms=0)
        big = batch_of(MIB - 100, 1024)
        print(f"1 MiB batch: {len(big)} bytes")

        log = PartitionLog(root / "bench-0", config=config)
        writable = bytearray(big)
        timed(
            "append 1 MiB batch (writable buffer)",
            512,
            len(big),
            lambda i: log.append_as_leader(memoryview(writable), leader_epoch=1),
        )
        timed(
            "append 1 MiB batch (read-only bytes: +1 copy)",
            512,
            len(big),
            lambda i: log.append_as_leader(big, leader_epoch=1),
        )
        end = log.log_end_offset
        rng = random.Random(1)
        offsets = [rng.randrange(end) for _ in range(20_000)]
        timed(
            "read 1 MiB slice at a random offset (1 MiB batches)",
            len(offsets),
            0,
            lambda i: log.read(offsets[i], max_bytes=MIB),
        )
        timed("read at the log end (caught-up consumer)", 20_000, 0, lambda i: log.read(end, max_bytes=MIB))
        log.delete()

        small = batch_of(1024, 100)
        log = PartitionLog(root / "small-0", config=config)
        for _ in range(200_000):
            log.append_as_leader(small, leader_epoch=1)
        end = log.log_end_offset
        offsets = [rng.randrange(end) for _ in range(20_000)]
        timed(
            "read 1 MiB slice at a random offset (1 KiB batches)",
            len(offsets),
            0,
            lambda i: log.read(offsets[i], max_bytes=MIB),
        )
        timed(
            "read 64 KiB slice at a random offset (1 KiB batches)",
            len(offsets),
            0,
            lambda i: log.read(offsets[i], max_bytes=64 * 1024),
        )
        timed("append 1 KiB batch", 50_000, len(small), lambda i: log.append_as_leader(small, leader_epoch=1))
        log.delete()
        # Index entries are written with os.pwrite (storage/index.py): one call per entry. Here every batch
        # gets an offset-index and a time-index entry (its timestamps are newer than the previous batch's).
        stamped = [build_batch([Record(r, 1_700_000_000_000 + 16 * i + r, None, b"v" * 100) for r in range(9)],
                               base_offset=0) for i in range(20_000)]
        log = PartitionLog(root / "indexed-0", config=LogConfig(segment_bytes=256 * MIB, index_interval_bytes=0))
        timed(
            "append 1 KiB batch, 2 index entries for every batch",
            len(stamped),
            len(stamped[0]),
            lambda i: log.append_as_leader(stamped[i], leader_epoch=1),
        )
        assert log.active_segment.time_index.entries == len(stamped) - 1
        log.delete()

        gzip_batch = batch_of(MIB - 100, 1024, codec=Codec.GZIP)
        log = PartitionLog(root / "lz4-0", config=LogConfig(compression_type="lz4", segment_bytes=256 * MIB))
        timed(
            "append 1 MiB (uncompressed) gzip batch into an lz4 topic",
            50,
            len(big),
            lambda i: log.append_as_leader(gzip_batch, leader_epoch=1),
        )
        log.delete()
        log = PartitionLog(root / "lat-0", config=LogConfig(message_timestamp_type="LogAppendTime"))
        timed(
            "append 1 MiB batch with LogAppendTime", 256, len(big), lambda i: log.append_as_leader(big, leader_epoch=1)
        )
        log.delete()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
