"""One log segment: a ``.log`` file of whole record batches plus its sparse ``.index`` and ``.timeindex``.

Files are named by the segment's base offset, zero-padded to 20 digits
(``00000000000000000000.log``). The ``.log`` is append-only: batches arrive validated and stamped
with their final offsets and are written with one ``os.write`` on an ``O_APPEND`` descriptor, which
stays open so reads can hand out :class:`FileSlice` ranges for ``sendfile``.

Indexing (as Kafka's ``LogSegment``): after more than ``index_interval_bytes`` of log since the
previous entry, the next batch gets an offset-index entry ``(batch last offset, batch position)``
and the time index gets ``(max timestamp so far, last offset of the batch that set it)`` when that
maximum grew.

Reading ``start_offset``: the offset index gives the last indexed batch at or before it; batch
headers (never records) are scanned from there to the first batch whose last offset reaches
``start_offset``. That batch is always returned whole, even beyond ``max_bytes``; further batches
are added while they end within ``max_bytes`` (and below ``max_position`` / ``max_offset``). The end
boundary is found the same way: the offset index gives the last batch starting at or before the
byte limit, and a short header scan finds the last batch that ends within it.

Recovery scans the whole file batch by batch (magic, length, increasing offsets, CRC-32C),
rebuilds both indexes from what it sees and truncates the file at the first bad or torn batch.
A segment that is not the newest is only recovered when its indexes fail their sanity check.

Failed writes (ENOSPC, EIO, EDQUOT…): an append is all or nothing. When writing the bytes or an
index entry raises :class:`OSError`, the file is cut back to where the append started, the index
entries it added are dropped and the bookkeeping restored, and :class:`KafkaStorageError`
(KAFKA_STORAGE_ERROR) is raised: the log is as before, and the next append tries again. Where an
index entry is only a shortcut — rebuilt by recovery, the final time-index entry at roll — a failed
write leaves the index sparser (a lookup scans a little further) rather than failing the operation,
so a broker starts, and rolls, on a full disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from crc32c import crc32c

from kafka_broker.protocol.errors import KafkaStorageError
from kafka_broker.protocol.file_slice import FileSlice
from kafka_broker.storage.index import CorruptIndexError, OffsetIndex, TimeIndex
from kafka_broker.storage.records import (
    ATTRIBUTES_OFFSET,
    HEADER_SIZE,
    MAGIC,
    MAGIC_OFFSET,
    MIN_BATCH_LENGTH,
    BatchHeader,
    decode_records,
    parse_header,
)

log = logging.getLogger(__name__)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
DELETED_SUFFIX = ".deleted"
INT32_MAX = 2**31 - 1

_SCAN_WINDOW = 16 * 1024  # header scans read this much at once (many small batches per read)
_RECOVERY_WINDOW = 8 * 1024 * 1024


def segment_file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


class SegmentRead(NamedTuple):
    """Whole batches ``slice`` of one segment; ``next_offset`` follows the last of them."""

    slice: FileSlice
    first_offset: int
    next_offset: int


class RecoveryResult(NamedTuple):
    truncated_bytes: int
    epochs: list[tuple[int, int]]  # (leader epoch, first offset) wherever the epoch changes


class Segment:
    """A ``.log`` file and its two indexes; see the module docstring for the algorithms."""

    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_bytes: int,
        create: bool,
        now_ms: int,
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.log_path = directory / segment_file_name(base_offset, LOG_SUFFIX)
        if create and self.log_path.exists() and self.log_path.stat().st_size:
            raise FileExistsError(f"{self.log_path} already holds data")
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
        self._fd = os.open(self.log_path, flags, 0o644)
        self._closed = False
        try:
            self.size = os.fstat(self._fd).st_size
            self.offset_index = OffsetIndex(
                directory / segment_file_name(base_offset, INDEX_SUFFIX),
                base_offset=base_offset,
                max_index_bytes=max_index_bytes,
            )
            try:
                self.time_index = TimeIndex(
                    directory / segment_file_name(base_offset, TIME_INDEX_SUFFIX),
                    base_offset=base_offset,
                    max_index_bytes=max_index_bytes,
                )
            except BaseException:
                if create:
                    self.offset_index.delete()
                else:
                    self.offset_index.close()
                raise
        except BaseException:  # a full disk, or a file system gone: nothing stays open (or created)
            os.close(self._fd)
            self._closed = True
            if create:
                for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                    (directory / segment_file_name(base_offset, suffix)).unlink(missing_ok=True)
            raise
        self.next_offset = base_offset
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self._bytes_since_index = 0
        self.dirty = False
        self._uncut_tail = False
        """A failed append could not be cut back: the file is longer than ``size`` until the next append."""
        self._index_entries_left_out = 0
        """Index entries recovery could not write (a full disk): the index is that much sparser."""
        self._index_error: OSError | None = None
        self.created_ms = now_ms
        if not create and self.size >= HEADER_SIZE:
            first = parse_header(os.pread(self._fd, HEADER_SIZE, 0), 0)
            self.created_ms = first.max_timestamp if first.max_timestamp >= 0 else now_ms

    # -- properties ---------------------------------------------------------------------------

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def is_empty(self) -> bool:
        return self.size == 0

    @property
    def last_offset(self) -> int:
        return self.next_offset - 1

    @property
    def largest_timestamp(self) -> int:
        """The largest record timestamp, or the file's modification time without timestamps."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return int(os.fstat(self._fd).st_mtime * 1000)

    @property
    def indexes_full(self) -> bool:
        return self.offset_index.is_full or self.time_index.is_full

    # -- writing ------------------------------------------------------------------------------

    def append(self, data: bytes | bytearray | memoryview, batches: Sequence[BatchHeader]) -> None:
        """Write ``data`` (the ``batches``, positioned relative to ``data``, final offsets) at the end.

        All or nothing: when a write fails the segment is left as it was and :class:`KafkaStorageError`
        is raised (see the module docstring).
        """
        view = memoryview(data)
        start = self.size
        saved = self._bookkeeping()
        written = 0
        try:
            if self._uncut_tail:  # a failed append's bytes are still there (see _undo_append)
                os.ftruncate(self._fd, start)
                self._uncut_tail = False
            while written < len(view):
                written += os.write(self._fd, view[written:])
            self.size = start + written
            self.dirty = True
            for header in batches:
                self._track(header._replace(position=start + header.position))
        except OSError as exc:
            self._undo_append(start, saved)
            raise KafkaStorageError(f"write to {self.log_path} failed: {exc}") from exc

    def _bookkeeping(self) -> tuple[int, int, int, int, int, bool, int, int]:
        return (self.size, self.next_offset, self.max_timestamp, self.offset_of_max_timestamp,
                self._bytes_since_index, self.dirty, self.offset_index.entries, self.time_index.entries)

    def _undo_append(self, start: int, saved: tuple[int, int, int, int, int, bool, int, int]) -> None:
        """Cut the file back to ``start`` and restore what :meth:`_bookkeeping` saved."""
        (self.size, self.next_offset, self.max_timestamp, self.offset_of_max_timestamp,
         self._bytes_since_index, self.dirty, offset_entries, time_entries) = saved
        self.offset_index.truncate_entries(offset_entries)
        self.time_index.truncate_entries(time_entries)
        try:
            os.ftruncate(self._fd, start)
        except OSError as exc:
            # Reads stop at ``self.size``, so the bytes past it are never served; the next append cuts
            # them first (its O_APPEND write would land after them), and recovery would drop them.
            log.error("%s: could not cut a failed append back to %d: %s", self.log_path, start, exc)
            self._uncut_tail = True

    def _track(self, header: BatchHeader, *, index_required: bool = True) -> None:
        """Bookkeeping for a batch now at ``header.position``: timestamps, indexes, next offset.

        A failed index write raises, unless ``index_required`` is False (recovery): the entry is then
        left out and the index is sparser there.
        """
        if header.max_timestamp > self.max_timestamp:
            self.max_timestamp = header.max_timestamp
            self.offset_of_max_timestamp = header.last_offset
        if self._bytes_since_index > self.index_interval_bytes and not self.offset_index.is_full:
            try:
                self.offset_index.append(header.last_offset, header.position)
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            except OSError as exc:
                if index_required:
                    raise
                self._index_entries_left_out += 1
                self._index_error = exc
            self._bytes_since_index = 0
        self._bytes_since_index += header.length
        self.next_offset = header.next_offset

    # -- reading ------------------------------------------------------------------------------

    def scan(self, position: int = 0, end: int | None = None) -> Iterator[BatchHeader]:
        """Headers of the batches from ``position`` (a batch start) up to ``end``, read in windows."""
        end = self.size if end is None else end
        window = b""
        window_start = position
        last_length = 0
        while position + HEADER_SIZE <= end:
            relative = position - window_start
            if relative + HEADER_SIZE > len(window):
                want = HEADER_SIZE if last_length > _SCAN_WINDOW else _SCAN_WINDOW
                window = os.pread(self._fd, want, position)
                window_start, relative = position, 0
                if len(window) < HEADER_SIZE:
                    return
            header = parse_header(window, relative, at=position)
            if header.batch_length < MIN_BATCH_LENGTH:
                return
            yield header
            last_length = header.length
            position += header.length

    def locate(self, offset: int) -> BatchHeader | None:
        """The first batch whose last offset is ≥ ``offset``, None when the segment ends before it."""
        _, position = self.offset_index.lookup(offset)
        for header in self.scan(position):
            if header.last_offset >= offset:
                return header
        return None

    def read(
        self,
        start_offset: int,
        *,
        max_bytes: int,
        max_position: int | None = None,
        max_offset: int | None = None,
    ) -> SegmentRead | None:
        """Whole batches from the one holding ``start_offset``; None if there is nothing to return.

        The first batch is returned whole even beyond ``max_bytes``; no batch ends after
        ``max_position``, and no batch with an offset ≥ ``max_offset`` (the high watermark) is
        included.
        """
        first = self.locate(start_offset)
        if first is None or (max_offset is not None and first.last_offset >= max_offset):
            return None
        limit = self.size if max_position is None else min(self.size, max_position)
        if first.end > limit:
            return None
        limit = min(limit, first.position + max(max_bytes, first.length))
        next_offset = None
        if max_offset is not None and max_offset <= self.last_offset:
            fence = self.locate(max_offset)
            if fence is not None and fence.position <= limit:
                limit, next_offset = fence.position, fence.base_offset
        if next_offset is None and limit == self.size:
            next_offset = self.next_offset
        end = limit
        if next_offset is None:
            # Batches before an indexed position ≤ limit all fit: scan only from there.
            _, indexed = self.offset_index.lookup_by_position(limit)
            end = max(indexed, first.end)
            next_offset = first.next_offset if end == first.end else None
            for header in self.scan(end, limit + HEADER_SIZE):
                if header.end > limit:
                    next_offset = header.base_offset
                    break
                end, next_offset = header.end, header.next_offset
            if next_offset is None:  # pragma: no cover - a batch always starts at ``end`` < size
                next_offset = self.next_offset
        return SegmentRead(FileSlice(self._fd, first.position, end - first.position), first.base_offset, next_offset)

    def read_batch(self, header: BatchHeader) -> bytes:
        return os.pread(self._fd, header.length, header.position)

    def find_offset_by_timestamp(self, timestamp: int, *, start_offset: int) -> tuple[int, int] | None:
        """``(offset, timestamp)`` of the first record at or after ``start_offset`` stamped ≥ ``timestamp``."""
        if self.max_timestamp < timestamp:
            return None
        _, below = self.time_index.lookup(timestamp - 1)  # every record up to ``below`` is older
        _, position = self.offset_index.lookup(max(below, start_offset))
        for header in self.scan(position):
            if header.last_offset < start_offset or header.max_timestamp < timestamp:
                continue
            for record in decode_records(self.read_batch(header)):
                if record.offset >= start_offset and record.timestamp >= timestamp:
                    return record.offset, record.timestamp
        return None

    # -- loading and recovery -----------------------------------------------------------------

    def load(self) -> None:
        """Trust the indexes of a closed segment after a sanity check, else rebuild them (recover)."""
        try:
            self.offset_index.check()
            self.time_index.check()
            if self.offset_index.entries:
                offset, position = self.offset_index.last_entry
                window = os.pread(self._fd, HEADER_SIZE, position)
                if len(window) < HEADER_SIZE:
                    raise CorruptIndexError(f"{self.offset_index.path}: entry past the end of the log")
                header = parse_header(window, 0)
                if window[MAGIC_OFFSET] != MAGIC or header.last_offset != offset:
                    raise CorruptIndexError(f"{self.offset_index.path}: last entry does not match the log")
            if self._load_tail() != self.size:
                raise CorruptIndexError(f"{self.log_path}: batches do not end at the end of the file")
        except CorruptIndexError:
            self.recover()

    def _load_tail(self) -> int:
        """Set next offset and max timestamp from the index ends plus a header scan; returns the end."""
        timestamp, offset = self.time_index.last_entry
        self.max_timestamp = timestamp
        self.offset_of_max_timestamp = offset if timestamp >= 0 else -1
        indexed_offset, position = self.offset_index.last_entry
        self.next_offset = indexed_offset + 1 if self.offset_index.entries else self.base_offset
        end = position
        for header in self.scan(position):
            if header.max_timestamp > self.max_timestamp:
                self.max_timestamp = header.max_timestamp
                self.offset_of_max_timestamp = header.last_offset
            self.next_offset = header.next_offset
            end = header.end
        self._bytes_since_index = end - position
        return end

    def recover(self) -> RecoveryResult:
        """Validate every batch, rebuild the indexes, cut the file at the first bad or torn batch."""
        self.offset_index.reset()
        self.time_index.reset()
        self.offset_index.resize()
        self.time_index.resize()
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.next_offset = self.base_offset
        self._bytes_since_index = 0
        self._index_entries_left_out, self._index_error = 0, None
        file_size = os.fstat(self._fd).st_size
        epochs: list[tuple[int, int]] = []
        window = b""
        window_start = 0
        position = 0
        while position + HEADER_SIZE <= file_size:
            if position + HEADER_SIZE > window_start + len(window):
                window, window_start = os.pread(self._fd, _RECOVERY_WINDOW, position), position
            header = parse_header(window, position - window_start, at=position)
            if (
                header.magic != MAGIC
                or header.batch_length < MIN_BATCH_LENGTH
                or header.end > file_size
                or header.base_offset < self.next_offset
                or header.last_offset_delta < 0
                or header.last_offset - self.base_offset > INT32_MAX
            ):
                break
            if header.end > window_start + len(window):
                window, window_start = os.pread(self._fd, max(_RECOVERY_WINDOW, header.length), position), position
            view = memoryview(window)
            try:
                start = position - window_start
                crc = crc32c(view[start + ATTRIBUTES_OFFSET : start + header.length])
            finally:
                view.release()
            if crc != header.crc:
                break
            if not epochs or header.partition_leader_epoch > epochs[-1][0]:
                epochs.append((header.partition_leader_epoch, header.base_offset))
            self._track(header, index_required=False)
            position = header.end
        if self._index_entries_left_out:
            log.warning("%s: %d index entries left out: %s", self.log_path, self._index_entries_left_out,
                        self._index_error)
        truncated = file_size - position
        if truncated:
            os.ftruncate(self._fd, position)
            self.dirty = True
        self.size = position
        return RecoveryResult(truncated, epochs)

    # -- changing ------------------------------------------------------------------------------

    def truncate_to(self, offset: int) -> int:
        """Remove the batch holding ``offset`` and everything after it; returns the bytes removed."""
        header = self.locate(offset)
        if header is None:
            return 0
        removed = self.size - header.position
        self.offset_index.truncate_to(header.base_offset)
        self.time_index.truncate_to(header.base_offset)
        os.ftruncate(self._fd, header.position)
        self.size = header.position
        self._uncut_tail = False
        self.dirty = True
        self._load_tail()
        self._bytes_since_index = 0
        return removed

    def make_active(self) -> None:
        """Preallocate the indexes again so the segment can take appends."""
        self.offset_index.resize()
        self.time_index.resize()

    def on_roll(self) -> None:
        """The segment stops being active: final time-index entry, indexes trimmed to their entries.

        The final entry is a shortcut (loading finds the largest timestamp by scanning from the last
        offset-index entry): when it cannot be written the roll goes on without it.
        """
        if self.max_timestamp >= 0:
            try:
                self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp, at_roll=True)
            except OSError as exc:
                log.warning("%s: final time-index entry left out: %s", self.log_path, exc)
        self.offset_index.trim()
        self.time_index.trim()

    def set_index_options(self, *, index_interval_bytes: int, max_index_bytes: int) -> None:
        self.index_interval_bytes = index_interval_bytes
        self.offset_index.max_index_bytes = max_index_bytes
        self.time_index.max_index_bytes = max_index_bytes

    def flush(self) -> None:
        if self.dirty:
            os.fsync(self._fd)
            self.offset_index.flush()
            self.time_index.flush()
            self.dirty = False

    def change_directory(self, directory: Path) -> None:
        """Follow a rename of the partition directory (descriptors and mappings stay valid)."""
        self.directory = directory
        self.log_path = directory / self.log_path.name
        for index in (self.offset_index, self.time_index):
            index.path = directory / index.path.name

    def rename_for_delete(self, suffix: str = DELETED_SUFFIX) -> None:
        """Give the files the ``.deleted`` (or ``suffix``) suffix; the descriptor stays valid for in-flight reads."""
        new_log = self.log_path.with_name(self.log_path.name + suffix)
        os.replace(self.log_path, new_log)
        self.log_path = new_log
        for index in (self.offset_index, self.time_index):
            index.rename(index.path.with_name(index.path.name + suffix))

    def restore_name(self, suffix: str) -> None:
        """Undo :meth:`rename_for_delete` with ``suffix`` for whichever files carry it."""
        if self.log_path.name.endswith(suffix):
            original = self.log_path.with_name(self.log_path.name.removesuffix(suffix))
            os.replace(self.log_path, original)
            self.log_path = original
        for index in (self.offset_index, self.time_index):
            if index.path.name.endswith(suffix):
                index.rename(index.path.with_name(index.path.name.removesuffix(suffix)))

    def move_to(self, directory: Path) -> None:
        """Move the three files into ``directory`` (same file system; descriptors and mappings stay valid)."""
        for index in (self.offset_index, self.time_index):
            index.rename(directory / index.path.name)
        target = directory / self.log_path.name
        os.replace(self.log_path, target)
        self.log_path = target
        self.directory = directory

    def unlink_files(self) -> None:
        """Remove the files from the directory now; the open descriptor and mappings keep serving reads."""
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Trim the indexes and close every file; the descriptors are closed even if trimming fails."""
        if self._closed:
            return
        self._closed = True
        try:
            self.offset_index.close()
        finally:
            try:
                self.time_index.close()
            finally:
                os.close(self._fd)

    def delete(self) -> None:
        """Close and remove the three files."""
        if not self._closed:
            os.close(self._fd)
            self._closed = True
        self.offset_index.delete()
        self.time_index.delete()
        self.log_path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"Segment({self.log_path.name}, size={self.size}, next_offset={self.next_offset})"
