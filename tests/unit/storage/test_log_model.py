"""Random appends, reads, rolls, truncations, deletions, retention and crashes against an in-memory model."""

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kafka_broker.storage.compression import Codec
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.records import Record, build_batch, validate_batches

from .helpers import read_all, records_of

CONFIG = LogConfig(
    segment_bytes=900,
    segment_index_bytes=96,
    index_interval_bytes=120,
    retention_ms=-1,
    file_delete_delay_ms=0,
)


class LogModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="kopfka-model-"))
        self.directory = self.root / "model.topic-3"
        self.log = PartitionLog(self.directory, config=CONFIG)
        self.batches: list[tuple[int, list[Record]]] = []  # (base offset, records) in the log
        self.start = 0
        self.epoch = 0
        self.truncated_end = 0  # the log end when no batch is left

    @property
    def end(self) -> int:
        return self.batches[-1][0] + len(self.batches[-1][1]) if self.batches else self.truncated_end

    def records(self) -> list[Record]:
        return [r for _, records in self.batches for r in records if r.offset >= self.start]

    @rule(
        values=st.lists(st.binary(max_size=120), min_size=1, max_size=6),
        codec=st.sampled_from(list(Codec)),
        new_epoch=st.booleans(),
    )
    def append(self, values, codec, new_epoch):
        self.epoch += new_epoch
        base = self.end
        sent = [Record(i, 1_000 + base + i, b"k%d" % (base + i), value) for i, value in enumerate(values)]
        info = self.log.append_as_leader(build_batch(sent, base_offset=0, compression=codec), leader_epoch=self.epoch)
        assert (info.first_offset, info.last_offset) == (base, base + len(values) - 1)
        stored = [Record(base + r.offset, r.timestamp, r.key, r.value) for r in sent]
        self.batches.append((base, stored))

    @precondition(lambda self: self.end > self.start)
    @rule(data=st.data(), max_bytes=st.integers(0, 2000))
    def read(self, data, max_bytes):
        offset = data.draw(st.integers(self.start, self.end))
        high_watermark = data.draw(st.none() | st.integers(self.start, self.end))
        result = self.log.read(offset, max_bytes=max_bytes, max_offset=high_watermark)
        if offset == self.end or (high_watermark is not None and offset >= high_watermark):
            assert result.slice is None
            return
        if result.slice is None:  # the batch holding ``offset`` reaches the high watermark
            assert any(base <= offset and base + len(rs) > high_watermark for base, rs in self.batches)
            return
        raw = result.slice.read()
        headers = validate_batches(raw, max_batch_bytes=1 << 20, from_client=False)
        assert headers[0].base_offset <= offset <= headers[0].last_offset
        assert len(headers) == 1 or len(raw) <= max(max_bytes, headers[0].length)
        assert high_watermark is None or headers[-1].last_offset < high_watermark
        assert result.next_offset == headers[-1].next_offset
        got = [r for r in records_of(raw) if r.offset >= offset]
        assert got == [r for r in self.records() if offset <= r.offset < result.next_offset]

    @rule()
    def roll(self):
        self.log.roll()

    @precondition(lambda self: self.end > self.start)
    @rule(data=st.data())
    def truncate(self, data):
        offset = data.draw(st.integers(self.start, self.end))
        self.log.truncate_to(offset)
        while self.batches and self.batches[-1][0] + len(self.batches[-1][1]) > offset:
            self.truncated_end = self.batches.pop()[0]
        if not self.batches:
            self.truncated_end = min(self.truncated_end, offset)
        self.start = min(self.start, self.end)

    @precondition(lambda self: self.end > self.start)
    @rule(data=st.data())
    def delete_records(self, data):
        offset = data.draw(st.integers(self.start, self.end))
        assert self.log.delete_records_before(offset) == offset
        self.start = offset

    @rule(retention_bytes=st.integers(0, 3000))
    def retention(self, retention_bytes):
        self.log.update_config(replace(CONFIG, retention_bytes=retention_bytes))
        self.log.enforce_retention(0)
        self.log.update_config(CONFIG)
        assert self.log.log_start_offset >= self.start
        assert self.log.log_start_offset == self.log.segments[0].base_offset or self.log.log_start_offset == self.start
        self.start = self.log.log_start_offset

    @rule()
    def reopen(self):
        self.log.close()
        self.log = PartitionLog(self.directory, config=CONFIG, log_start_offset=self.start)

    @precondition(lambda self: self.log.active_segment.size > 0)
    @rule(data=st.data())
    def crash_with_torn_tail(self, data):
        active = self.log.active_segment
        cut = data.draw(st.integers(0, active.size - 1))
        path = active.log_path
        self.log.close()
        with open(path, "r+b") as f:
            f.truncate(cut)
        self.log = PartitionLog(self.directory, config=CONFIG, log_start_offset=self.start)
        end = self.log.log_end_offset
        assert end < self.end
        while self.batches and self.batches[-1][0] >= end:
            self.batches.pop()
        assert self.end == end or not self.batches
        self.truncated_end = end
        self.start = min(self.start, end)

    @invariant()
    def matches_model(self):
        assert self.log.log_end_offset == self.end
        assert self.log.log_start_offset == self.start
        assert read_all(self.log) == self.records()
        for segment in self.log.segments:
            for header in segment.scan():
                assert header.partition_leader_epoch <= self.epoch

    def teardown(self):
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


LogModel.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_log_model = LogModel.TestCase
