"""The log of one partition: ordered segments in ``<topic>-<partition>/``, appended, read, rolled, retained.

Offsets: ``log_start_offset`` is the first offset a client may read, ``log_end_offset`` the next
offset to assign. Segments are sorted by base offset; only the newest (active) one takes appends.

Append as leader: :func:`validate_batches` (one CRC pass per batch), then :func:`validate_records`
walks every record (compressed batches decompressed, within a bound) so that nothing a consumer
cannot read is stored; then — only when the topic asks for it — the records section is recompressed
into the topic's codec and/or the batch is stamped with LogAppendTime (new CRC); :func:`assign_offsets`
writes the base offsets and the leader epoch in place, and the active segment writes the bytes with
one ``os.write``. A read-only input buffer is copied once so the header can be stamped; pass a
writable view to avoid that copy.
Append as follower keeps the offsets the batches carry (they must follow the log end).

Roll: before an append, a new active segment starts at the append's first offset when the active
one would exceed ``segment.bytes``, is older than ``segment.ms``, has a full index, or the append's
offsets would not fit a 32-bit offset relative to the segment's base.

Read: the one segment holding the offset answers with whole batches (see :mod:`.segment`),
the first batch always, further ones within ``max_bytes``, none at or above ``max_offset``.

Retention (never the active segment): whole segments are deleted oldest first while their newest
record is older than ``retention.ms``, while the partition is larger than ``retention.bytes`` by at
least the segment's size, and while they end at or before ``log_start_offset`` (DeleteRecords).
Deleted segments are renamed ``*.deleted`` and their files closed and removed after
``file.delete.delay.ms``, so fetches already holding a slice of them still read valid data.

Recovery on open: a cleaner swap interrupted by a crash is rolled back or finished
(:func:`.swap.recover_interrupted_swap`), stray ``*.deleted``/``*.tmp`` files go, every older segment's indexes are
sanity-checked (rebuilt if wrong), and the newest segment is scanned in full — CRC of every batch —
and cut at the first torn or corrupt batch; the log end is where its last good batch ends.

Idempotent producers (:mod:`.producer_state`): a leader append first checks the batches that carry
a producer id against the partition's producer state (epoch, sequence, last five batches); a retry
of a batch already in the log is answered with its original offsets and appends nothing. Leader
and follower appends then record the producer batches, so a follower promoted to leader knows
every producer. The state is rebuilt from batch headers on load and after a truncation.

Leader epochs: ``leader-epoch-checkpoint`` records where each leader epoch started, updated on
leader and follower appends, truncation and log-start moves; :meth:`PartitionLog.end_offset_for_epoch`
answers OffsetForLeaderEpoch.

Storage errors (a full disk, EIO, EDQUOT…): the broker never dies of a failed write, and the log never
keeps part of one. An append, leader or follower, whose roll or write fails raises
:class:`KafkaStorageError` (Produce answers KAFKA_STORAGE_ERROR for that partition; a follower retries
after its backoff and, not catching up, drops out of the ISR like any lagging follower) and leaves the
log as it was: the segment cuts its file back and drops the index entries it added, a half-created
segment is removed, and the producer state and epochs are only updated after the write succeeded.
Reads go on as before. There is no offline state: the next append simply tries again, so appends work
again as soon as space returns, without a restart. This holds for EIO as well — Kafka takes a failed
log dir offline for good (until a restart) and moves its leaders away; here a dir whose device really
failed keeps refusing appends while its replicas fall out of the ISRs, and what can still be read is
served. Writes that only save work for later are not allowed to fail an operation: the leader-epoch
checkpoint (kept in memory, written again at the next change or flush), index entries rebuilt by
recovery, the final time-index entry at roll, growing the active indexes, and fsyncs (logged, tried
again at the next flush; replication, not fsync, is the durability mechanism). So a broker whose disk
is full starts — recovery writes nothing it cannot do without — and serves reads, read-only until
space returns.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from kafka_broker.protocol.errors import (
    InvalidRecordError,
    KafkaStorageError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
)
from kafka_broker.protocol.file_slice import FileSlice
from kafka_broker.storage.checkpoint import fsync_dir
from kafka_broker.storage.leader_epoch import LeaderEpochCache
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.producer_state import ProducerStateManager
from kafka_broker.storage.records import (
    BatchHeader,
    assign_offsets,
    iter_batches,
    recompress_batch,
    set_log_append_time,
    validate_batches,
)
from kafka_broker.storage.segment import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    INT32_MAX,
    TIME_INDEX_SUFFIX,
    Segment,
)
from kafka_broker.storage.swap import CLEANED_DIR, SWAP_SUFFIX, recover_interrupted_swap
from kafka_broker.storage.validation import validate_records

log = logging.getLogger(__name__)

LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3

_SEGMENT_NAME = re.compile(r"(\d{20})\.(log|index|timeindex)")
_STRAY_SUFFIXES = (DELETED_SUFFIX, ".tmp", CLEANED_DIR, SWAP_SUFFIX)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """``(topic, partition)`` from a directory name ``<topic>-<partition>``; None for other names."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit() or not partition.isascii():
        return None
    return topic, int(partition)


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


class AppendInfo(NamedTuple):
    """What an append stored: offsets, timestamps, and the stored batches' headers.

    ``batches`` carry their final offsets; positions are relative to the appended bytes.
    ``log_append_time`` is the broker time stamped into the batches, -1 with CreateTime.
    """

    first_offset: int
    last_offset: int
    max_timestamp: int
    log_append_time: int
    record_count: int
    batches: list[BatchHeader]


class ReadResult(NamedTuple):
    """``slice`` holds whole batches (None: nothing to return); ``next_offset`` follows them."""

    slice: FileSlice | None
    next_offset: int
    log_start_offset: int
    log_end_offset: int


class PartitionLog:
    """The segments of one partition directory; see the module docstring for the algorithms."""

    def __init__(
        self,
        directory: Path,
        *,
        config: LogConfig,
        log_start_offset: int | None = None,
        now_ms: int | None = None,
    ) -> None:
        parsed = parse_partition_dir(directory.name)
        if parsed is None:
            raise ValueError(f"{directory.name!r} is not a <topic>-<partition> directory name")
        self.topic, self.partition = parsed
        self.directory = directory
        self.config = config
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        self._pending_deletes: list[tuple[int, Segment]] = []
        self._unflushed_records = 0
        self._last_flush_ms = now_ms if now_ms is not None else wall_clock_ms()
        self._closed = False
        self.cleaning = False
        """True while the cleaner reads old segments in a worker thread: closing their files waits."""
        self.on_log_start_moved: Callable[[PartitionLog], None] | None = None
        """Called after :meth:`delete_records_before` moved the log start (the log manager checkpoints it)."""
        self._load(log_start_offset, self._last_flush_ms)

    # -- state ---------------------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._log_end_offset

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def active_segment(self) -> Segment:
        return self._segments[-1]

    @property
    def size(self) -> int:
        """Bytes of all segments."""
        return sum(segment.size for segment in self._segments)

    @property
    def latest_epoch(self) -> int:
        return self._epochs.latest_epoch

    @property
    def leader_epochs(self) -> LeaderEpochCache:
        return self._epochs

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """``(epoch, end offset)`` for OffsetForLeaderEpoch: where ``epoch`` ended in this log."""
        return self._epochs.end_offset_for(epoch, log_end_offset=self._log_end_offset)

    # -- loading -------------------------------------------------------------------------------

    def _load(self, log_start_offset: int | None, now: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        recover_interrupted_swap(self.directory)
        bases: set[int] = set()
        names: dict[int, set[str]] = {}
        for path in self.directory.iterdir():
            if path.name.endswith(_STRAY_SUFFIXES):
                path.unlink(missing_ok=True)
                continue
            match = _SEGMENT_NAME.fullmatch(path.name)
            if match:
                names.setdefault(int(match[1]), set()).add(match[2])
        for base, kinds in names.items():
            if "log" in kinds:
                bases.add(base)
            else:  # an index without its log
                for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                    (self.directory / f"{base:020d}{suffix}").unlink(missing_ok=True)
        ordered = sorted(bases)
        epochs: list[tuple[int, int]] = []
        for i, base in enumerate(ordered):
            segment = self._open_segment(base, create=False, now=now)
            if i < len(ordered) - 1:
                segment.load()
                segment.on_roll()
            else:
                epochs = segment.recover().epochs
            self._add_segment(segment)
        if not self._segments:
            self._add_segment(self._open_segment(log_start_offset or 0, create=True, now=now))
        self._make_active(self.active_segment)
        self._log_end_offset = max(self.active_segment.next_offset, self.active_segment.base_offset)
        start = self._segments[0].base_offset
        if log_start_offset is not None:
            start = max(start, log_start_offset)
        self._log_start_offset = min(start, self._log_end_offset)
        self._epochs = LeaderEpochCache(self.directory)
        for epoch, offset in epochs:
            if epoch > self._epochs.latest_epoch:
                self._epochs.assign(epoch, offset)
        self._epochs.truncate_from_end(self._log_end_offset)
        self._epochs.truncate_from_start(self._log_start_offset)
        self.producer_state = ProducerStateManager()
        self.rebuild_producer_state()

    def rebuild_producer_state(self) -> None:
        """Replay every batch header of the log into the producer state (no record is decoded)."""
        self.producer_state.rebuild(
            header for segment in self._segments for header in segment.scan() if header.producer_id >= 0
        )

    def _open_segment(self, base_offset: int, *, create: bool, now: int) -> Segment:
        return Segment(
            self.directory,
            base_offset,
            index_interval_bytes=self.config.index_interval_bytes,
            max_index_bytes=self.config.segment_index_bytes,
            create=create,
            now_ms=now,
        )

    def _add_segment(self, segment: Segment) -> None:
        self._segments.append(segment)
        self._bases.append(segment.base_offset)

    def _new_segment(self, base_offset: int, now: int) -> Segment:
        """A new, empty active segment at ``base_offset``; raises :class:`KafkaStorageError` and leaves
        no file behind when it cannot be created."""
        try:
            segment = self._open_segment(base_offset, create=True, now=now)
        except OSError as exc:
            raise KafkaStorageError(f"{self.directory.name}: cannot create a segment at {base_offset}: {exc}") from exc
        self._make_active(segment)
        return segment

    def _make_active(self, segment: Segment) -> None:
        """Grow the indexes of ``segment`` for appends; when that fails an index grows at its first append."""
        try:
            segment.make_active()
        except OSError as exc:
            log.warning("%s: could not grow the indexes of %s: %s", self.directory.name, segment, exc)

    # -- appending -----------------------------------------------------------------------------

    def append_as_leader(
        self,
        records: bytes | bytearray | memoryview,
        *,
        leader_epoch: int,
        now_ms: int | None = None,
        from_client: bool = True,
    ) -> AppendInfo:
        """Validate, check producer sequences, (recompress / LogAppendTime when configured,) assign offsets, append.

        ``from_client=False`` is for the broker's own writers (coordinators): control batches allowed.
        A duplicate of producer batches already written appends nothing and answers their offsets
        (``record_count`` 0, no ``batches``).
        """
        now = now_ms if now_ms is not None else wall_clock_ms()
        config = self.config
        view = records if isinstance(records, memoryview) else memoryview(records)
        headers = validate_batches(view, max_batch_bytes=config.max_message_bytes, from_client=from_client)
        if not headers:
            return AppendInfo(-1, -1, -1, -1, 0, [])
        sections = validate_records(view, headers, max_batch_bytes=config.max_message_bytes,
                                    require_keys=from_client and config.compacts, partition=self.directory.name,
                                    keep_sections=config.codec is not None)
        if any(header.producer_id >= 0 for header in headers):
            duplicate = self.producer_state.check(headers)
            if duplicate is not None:
                log.info("%s: duplicate producer batch, already at offsets %d..%d",
                         self.directory.name, duplicate.first_offset, duplicate.last_offset)
                return AppendInfo(duplicate.first_offset, duplicate.last_offset, -1, -1, 0, [])
        buf: bytearray | memoryview = view
        codec = config.codec
        if codec is not None and any(h.compression != codec and not h.is_control for h in headers):
            buf = self._recompressed(view, headers, codec, sections)
            headers = list(iter_batches(buf))
            for header in headers:
                if header.length > config.max_message_bytes:
                    raise RecordTooLargeError(
                        f"recompressed batch of {header.length} bytes exceeds {config.max_message_bytes}"
                    )
        elif view.readonly:
            buf = bytearray(view)
        log_append_time = -1
        if config.log_append_time:
            log_append_time = now
            headers = [set_log_append_time(buf, header, now) for header in headers]
        first_offset = self._log_end_offset
        offset_count = sum(header.last_offset_delta + 1 for header in headers)
        self._maybe_roll(len(buf), first_offset, first_offset + offset_count - 1, now)
        headers = assign_offsets(buf, first_offset, leader_epoch, batches=headers)
        self.active_segment.append(buf, headers)  # all or nothing; KafkaStorageError when it fails
        self._log_end_offset = headers[-1].next_offset
        self.producer_state.update(headers)
        if leader_epoch > self._epochs.latest_epoch:
            self._epochs.assign(leader_epoch, first_offset)
        return self._appended(headers, log_append_time, now)

    @staticmethod
    def _recompressed(
        view: memoryview, headers: list[BatchHeader], codec: int, sections: list[bytes | None]
    ) -> bytearray:
        parts: list[bytes | memoryview] = []
        for header, section in zip(headers, sections, strict=True):
            batch = view[header.position : header.end]
            if header.compression == codec or header.is_control:
                parts.append(batch)
            else:  # ``section``: the records validate_records decompressed (None: uncompressed)
                parts.append(recompress_batch(batch, codec=codec, records=section))
        return bytearray(b"".join(parts))

    def append_as_follower(self, records: bytes | bytearray | memoryview, *, now_ms: int | None = None) -> AppendInfo:
        """Append replicated batches with the offsets and epochs they carry (after the log end)."""
        now = now_ms if now_ms is not None else wall_clock_ms()
        view = records if isinstance(records, memoryview) else memoryview(records)
        headers = validate_batches(view, max_batch_bytes=INT32_MAX, from_client=False)
        if not headers:
            return AppendInfo(-1, -1, -1, -1, 0, [])
        expected = self._log_end_offset
        for header in headers:
            if header.base_offset < expected:
                raise InvalidRecordError(
                    f"replicated batch at offset {header.base_offset} does not follow offset {expected - 1}"
                )
            expected = header.next_offset
        self._maybe_roll(len(view), headers[0].base_offset, headers[-1].last_offset, now)
        self.active_segment.append(view, headers)
        self._log_end_offset = headers[-1].next_offset
        self.producer_state.update(headers)
        for header in headers:
            if header.partition_leader_epoch > self._epochs.latest_epoch:
                self._epochs.assign(header.partition_leader_epoch, header.base_offset)
        return self._appended(headers, -1, now)

    def _appended(self, headers: list[BatchHeader], log_append_time: int, now: int) -> AppendInfo:
        record_count = sum(header.record_count for header in headers)
        self._unflushed_records += record_count
        if self._epochs.dirty:
            self._epochs.write_pending()
        try:
            self.maybe_flush(now)
        except OSError as exc:  # the records are written; the next due flush tries again
            log.warning("%s: flush failed: %s", self.directory.name, exc)
        return AppendInfo(
            headers[0].base_offset,
            headers[-1].last_offset,
            max(header.max_timestamp for header in headers),
            log_append_time,
            record_count,
            headers,
        )

    def _maybe_roll(self, size: int, first_offset: int, last_offset: int, now: int) -> None:
        active = self.active_segment
        if active.is_empty:
            if last_offset - active.base_offset > INT32_MAX:
                self.roll(base_offset=first_offset, now_ms=now)
            return
        if (
            active.size + size > self.config.segment_bytes
            or active.size + size > INT32_MAX
            or now - active.created_ms > self.config.segment_ms
            or active.indexes_full
            or last_offset - active.base_offset > INT32_MAX
        ):
            self.roll(base_offset=first_offset, now_ms=now)

    def roll(self, *, base_offset: int | None = None, now_ms: int | None = None) -> Segment:
        """Start a new active segment at ``base_offset`` (default: the log end offset)."""
        now = now_ms if now_ms is not None else wall_clock_ms()
        base = self._log_end_offset if base_offset is None else base_offset
        active = self.active_segment
        if active.is_empty:
            if active.base_offset == base:
                return active
            segment = self._new_segment(base, now)
            self._segments.pop()
            self._bases.pop()
            active.delete()
        else:
            time_entries = active.time_index.entries
            try:
                active.on_roll()
                segment = self._new_segment(base, now)
            except (OSError, KafkaStorageError) as exc:  # it stays active, without the roll's final time entry
                active.time_index.truncate_entries(time_entries)
                self._make_active(active)
                if isinstance(exc, OSError):
                    raise KafkaStorageError(f"{self.directory.name}: cannot roll: {exc}") from exc
                raise
        self._add_segment(segment)
        return segment

    # -- reading -------------------------------------------------------------------------------

    def read(self, offset: int, *, max_bytes: int, max_offset: int | None = None) -> ReadResult:
        """Whole batches from the one holding ``offset``: the first always, more within ``max_bytes``.

        ``max_offset`` (the high watermark for consumers) excludes batches reaching it.
        Raises :class:`OffsetOutOfRangeError` outside ``[log_start_offset, log_end_offset]``.
        """
        start, end = self._log_start_offset, self._log_end_offset
        if offset < start or offset > end:
            raise OffsetOutOfRangeError(f"offset {offset} is outside [{start}, {end}] of {self.directory.name}")
        if offset == end or (max_offset is not None and offset >= max_offset):
            return ReadResult(None, offset, start, end)
        index = max(0, bisect.bisect_right(self._bases, offset) - 1)
        for segment in self._segments[index:]:
            found = segment.read(offset, max_bytes=max_bytes, max_offset=max_offset)
            if found is not None:
                return ReadResult(found.slice, found.next_offset, start, end)
            if segment.next_offset > offset and not segment.is_empty:  # data is there but above max_offset
                break
        return ReadResult(None, offset, start, end)

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the first record stamped ≥ ``timestamp`` (ListOffsets).

        -1 (latest) and -2 (earliest) answer the log end and start with timestamp -1; -3 the record
        with the largest timestamp. None when no record qualifies.
        """
        if timestamp == LATEST_TIMESTAMP:
            return self._log_end_offset, -1
        if timestamp == EARLIEST_TIMESTAMP:
            return self._log_start_offset, -1
        live = [s for s in self._segments if s.next_offset > self._log_start_offset and s.max_timestamp >= 0]
        if timestamp == MAX_TIMESTAMP:
            if not live:
                return None
            best = max(live, key=lambda s: s.max_timestamp)  # the first one on ties
            return best.find_offset_by_timestamp(best.max_timestamp, start_offset=self._log_start_offset)
        if timestamp < 0:
            raise ValueError(f"unsupported special timestamp {timestamp}")
        for segment in live:
            if segment.max_timestamp >= timestamp:
                found = segment.find_offset_by_timestamp(timestamp, start_offset=self._log_start_offset)
                if found is not None:
                    return found
        return None

    # -- truncation and deletion ------------------------------------------------------------

    def truncate_to(self, offset: int, *, now_ms: int | None = None) -> None:
        """Remove every batch at or beyond ``offset`` (a follower dropping a divergent tail).

        A batch holding ``offset`` goes entirely, so the log end may land below ``offset``.
        """
        if offset >= self._log_end_offset:
            return
        now = now_ms if now_ms is not None else wall_clock_ms()
        if offset < self._segments[0].base_offset:
            self.truncate_fully_and_start_at(offset, now_ms=now)
            return
        while len(self._segments) > 1 and self._segments[-1].base_offset >= offset:
            self._bases.pop()
            self._schedule_delete(self._segments.pop(), now)
        active = self.active_segment
        try:
            active.truncate_to(offset)
        except OSError as exc:  # the log then ends where the active segment ends; the caller tries again
            raise KafkaStorageError(f"{self.directory.name}: cannot truncate to {offset}: {exc}") from exc
        finally:
            self._make_active(active)
            self._log_end_offset = max(active.next_offset, active.base_offset)
            self._log_start_offset = min(self._log_start_offset, self._log_end_offset)
            self._epochs.truncate_from_end(self._log_end_offset)
            self.rebuild_producer_state()

    def truncate_fully_and_start_at(self, offset: int, *, now_ms: int | None = None) -> None:
        """Drop every segment and restart the log, empty, at ``offset``."""
        now = now_ms if now_ms is not None else wall_clock_ms()
        if offset in self._bases:  # that segment is emptied and kept: a new one would take its file names
            segment = self._segments[self._bases.index(offset)]
            try:
                segment.truncate_to(offset)
            except OSError as exc:
                raise KafkaStorageError(f"{self.directory.name}: cannot empty {segment}: {exc}") from exc
            self._make_active(segment)
        else:
            segment = self._new_segment(offset, now)  # first: when it fails the log stays as it was
        for old in self._segments:
            if old is not segment:
                self._schedule_delete(old, now)
        self._segments.clear()
        self._bases.clear()
        self._add_segment(segment)
        self._log_start_offset = self._log_end_offset = offset
        self._epochs.clear()
        self.producer_state.clear()

    def delete_records_before(self, offset: int, *, now_ms: int | None = None) -> int:
        """Advance the log start to ``offset`` (DeleteRecords on a leader, the leader's start on a follower);
        whole segments below it go, and :attr:`on_log_start_moved` is told. Returns the log start."""
        if offset > self._log_end_offset or offset < 0:
            raise OffsetOutOfRangeError(f"cannot delete records before {offset}: log end is {self._log_end_offset}")
        if offset > self._log_start_offset:
            self._log_start_offset = offset
            self._epochs.truncate_from_start(offset)
            self._delete_oldest(lambda segment, following: following.base_offset <= offset, now_ms)
            if self.on_log_start_moved is not None:
                self.on_log_start_moved(self)
        return self._log_start_offset

    def enforce_retention(self, now_ms: int) -> int:
        """Delete whole non-active segments beyond retention; returns how many were deleted."""
        self._run_pending_deletes(now_ms)
        start = self._log_start_offset
        deleted = self._delete_oldest(lambda segment, following: following.base_offset <= start, now_ms)
        config = self.config
        if config.deletes and config.retention_ms >= 0:
            limit = config.retention_ms
            deleted += self._delete_oldest(lambda segment, _: now_ms - segment.largest_timestamp > limit, now_ms)
        if config.deletes and config.retention_bytes >= 0:
            excess = self.size - config.retention_bytes

            def over_size(segment: Segment, _: Segment) -> bool:
                nonlocal excess
                if excess - segment.size < 0:
                    return False
                excess -= segment.size
                return True

            deleted += self._delete_oldest(over_size, now_ms)
        return deleted

    def _delete_oldest(self, predicate: Callable[[Segment, Segment], bool], now_ms: int | None) -> int:
        """Delete segments from the oldest while ``predicate(segment, next segment)`` holds."""
        now = now_ms if now_ms is not None else wall_clock_ms()
        deleted = 0
        while len(self._segments) > 1 and predicate(self._segments[0], self._segments[1]):
            self._bases.pop(0)
            self._schedule_delete(self._segments.pop(0), now)
            deleted += 1
        if deleted:
            start = max(self._log_start_offset, self._segments[0].base_offset)
            if start != self._log_start_offset:
                self._log_start_offset = start
                self._epochs.truncate_from_start(start)
        return deleted

    def _schedule_delete(self, segment: Segment, now: int) -> None:
        try:
            segment.rename_for_delete()
        except OSError as exc:  # it goes all the same: its files are removed under whatever name they have
            log.warning("%s: could not rename %s for deletion: %s", self.directory.name, segment, exc)
        self.retire(segment, now)

    def retire(self, segment: Segment, now: int) -> None:
        """Close and remove an already renamed segment after ``file.delete.delay.ms`` (not while cleaning)."""
        if self.config.file_delete_delay_ms <= 0 and not self.cleaning:
            segment.delete()
        else:
            self._pending_deletes.append((now + self.config.file_delete_delay_ms, segment))

    def replace_segments(self, old: list[Segment], new: Segment | None) -> bool:
        """Put ``new`` (None: nothing) in place of the consecutive segments ``old`` (the cleaner's swap).

        False, and nothing changes, when ``old`` is no longer a run of non-active segments of the log.
        """
        try:
            index = next(i for i, segment in enumerate(self._segments) if segment is old[0])
        except StopIteration:
            return False
        if index + len(old) >= len(self._segments):  # never the active segment
            return False
        if any(a is not b for a, b in zip(self._segments[index : index + len(old)], old, strict=True)):
            return False
        self._segments[index : index + len(old)] = [] if new is None else [new]
        self._bases[index : index + len(old)] = [] if new is None else [new.base_offset]
        return True

    def _run_pending_deletes(self, now: int | None) -> None:
        if self.cleaning and now is not None:
            return
        keep = []
        for due, segment in self._pending_deletes:
            if now is None or due <= now:
                segment.delete()
            else:
                keep.append((due, segment))
        self._pending_deletes = keep

    # -- configuration, durability, lifecycle -------------------------------------------------

    def update_config(self, config: LogConfig) -> None:
        """Use ``config`` from now on (segment sizes apply from the next roll)."""
        self.config = config
        active = self.active_segment
        active.set_index_options(
            index_interval_bytes=config.index_interval_bytes, max_index_bytes=config.segment_index_bytes
        )
        self._make_active(active)

    def maybe_flush(self, now_ms: int) -> None:
        """fsync when ``flush.messages`` records or ``flush.ms`` have passed since the last fsync."""
        if self._unflushed_records and (
            self._unflushed_records >= self.config.flush_messages
            or now_ms - self._last_flush_ms >= self.config.flush_ms
        ):
            self.flush(now_ms=now_ms)

    def flush(self, *, now_ms: int | None = None) -> None:
        """fsync every segment written since the last flush, and the directory (a leader-epoch checkpoint
        that could not be written is tried again first). Raises OSError when an fsync fails."""
        if self._epochs.dirty:
            self._epochs.write_pending()
        for segment in self._segments:
            segment.flush()
        fsync_dir(self.directory)
        self._unflushed_records = 0
        self._last_flush_ms = now_ms if now_ms is not None else wall_clock_ms()

    def rename_directory(self, directory: Path) -> None:
        """Move the partition directory (as deletion does first); open files stay valid."""
        os.replace(self.directory, directory)
        self.directory = directory
        for segment in self._segments:
            segment.change_directory(directory)
        for _, segment in self._pending_deletes:
            segment.change_directory(directory)
        self._epochs.change_directory(directory)

    def close(self) -> None:
        """Flush, write the final time-index entry, trim indexes, close files; pending deletes finish."""
        if self._closed:
            return
        self._closed = True
        self._run_pending_deletes(None)
        try:
            self.flush()
            self.active_segment.on_roll()
        except OSError as exc:  # a full or failing disk: the files are closed all the same
            log.warning("%s: flushing on close failed: %s", self.directory.name, exc)
        for segment in self._segments:
            try:
                segment.close()
            except OSError as exc:
                log.warning("%s: closing %s failed: %s", self.directory.name, segment, exc)

    def delete(self) -> None:
        """Close and remove the whole partition directory."""
        if not self._closed:
            self._run_pending_deletes(None)
            for segment in self._segments:
                segment.delete()
            self._closed = True
        shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        return (
            f"PartitionLog({self.directory.name}, start={self._log_start_offset}, "
            f"end={self._log_end_offset}, segments={len(self._segments)})"
        )
