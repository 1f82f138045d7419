"""Sparse indexes of one segment: offset → file position, and timestamp → offset.

Both are arrays of fixed-size big-endian entries in a file, in Kafka's formats:

* ``.index`` — :class:`OffsetIndex`, 8-byte entries ``relativeOffset int32 | position int32``:
  the batch whose last offset is ``base + relativeOffset`` starts at ``position`` of the ``.log``.
* ``.timeindex`` — :class:`TimeIndex`, 12-byte entries ``timestamp int64 | relativeOffset int32``:
  up to ``base + relativeOffset`` no record has a timestamp above ``timestamp``.

The segment adds an entry every ``index.interval.bytes`` of log, so both keys only grow and a lookup
is a binary search for the last entry at or below the target, followed by a short scan of batch
headers in the log. While its segment is active an index file is grown (sparse) to
``segment.index.bytes``; a full index makes the log roll (the time index keeps one slot for the
final entry written at roll). On roll or close the file is trimmed to its entries, so the number of
entries of a closed index is its size / entry size. :meth:`check` catches an index left untrimmed or
torn by a crash (size not a multiple of the entry size, a hole before its end, last entries not
increasing); the segment then rebuilds it from the log.

**Writes go through ``os.pwrite``, reads through a read-only memory map.** Storing into a shared
mapping faults in a page of the file, and when the file system cannot back that page (a full disk:
the file is sparse) the kernel answers with SIGBUS, which kills the process. ``pwrite`` answers the
same situation with ENOSPC, an :class:`OSError` the segment undoes and reports (the append is refused
with KAFKA_STORAGE_ERROR and retried later). The other way out, really preallocating the blocks
(``posix_fallocate``) when the index is created or grown, would reserve ``segment.index.bytes`` (10 MiB
by default) twice per partition of real disk — a gigabyte for the 50 partitions of
``__consumer_offsets`` — where a sparse file costs only the pages written. The price of ``pwrite``:
one system call per index entry, i.e. per ``index.interval.bytes`` (4 KiB) of log. Measured against
the store into the map (CPU time, best of five): 2.8 instead of 1.4 µs per offset-index entry, 3.2
instead of 1.7 µs per time-index entry; a leader append of a 1 KiB batch (~38 µs) shows no difference
at the default interval, and 3-8 µs more when every batch gets both entries (``index.interval.bytes``
0; ``tests/unit/storage/bench_storage.py``). Reads only ever touch entries written before (on tmpfs
even a *read* fault on a hole allocates a page, and would SIGBUS on a full disk), which is also why a
file with a hole before its end is treated as untrimmed at load.

The descriptor used for writing is open only while the index takes entries (from :meth:`resize` to
:meth:`trim`), so a closed segment holds no descriptor for its indexes.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
from pathlib import Path


class CorruptIndexError(Exception):
    """An index file that does not describe its log; it is rebuilt from the log."""


def _has_hole(fd: int, size: int) -> bool:
    """Whether the file has a hole before ``size`` (an index left preallocated by a crash)."""
    if not size:
        return False
    try:
        return os.lseek(fd, 0, os.SEEK_HOLE) < size
    except OSError:  # a file system without SEEK_HOLE: the entry checks still catch zero entries
        return False


class _MappedIndex:
    """An array of ``ENTRY`` records in a file: written with ``pwrite``, read through a read-only mapping."""

    ENTRY: struct.Struct

    def __init__(self, path: Path, *, base_offset: int, max_index_bytes: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._max_index_bytes = max_index_bytes
        self._mm: mmap.mmap | None = None
        self._capacity = 0
        self._fd = -1
        """The descriptor entries are written with, open while the index takes entries (-1: closed)."""
        self._dirty = False
        """Entries written since the last :meth:`flush`."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            self._size_error: str | None = None
            """Why the file cannot be an index as it stands (checked by :meth:`check`)."""
            if size % self.ENTRY.size:
                self._size_error = f"size is not a multiple of {self.ENTRY.size}"
            elif _has_hole(fd, size):
                self._size_error = "a hole before its end (left preallocated)"
            self._entries = size // self.ENTRY.size
            self._map(fd, size)
        finally:
            os.close(fd)

    # -- size and mapping ------------------------------------------------------------------

    @property
    def entries(self) -> int:
        return self._entries

    @property
    def max_index_bytes(self) -> int:
        return self._max_index_bytes

    @max_index_bytes.setter
    def max_index_bytes(self, value: int) -> None:
        """Takes effect at the next :meth:`resize` (the active segment's indexes are resized at once)."""
        self._max_index_bytes = value

    @property
    def max_entries(self) -> int:
        return self._max_index_bytes // self.ENTRY.size

    @property
    def size_in_bytes(self) -> int:
        return self._entries * self.ENTRY.size

    @property
    def is_full(self) -> bool:
        return self._entries >= self.max_entries

    def _map(self, fd: int, size: int) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._capacity = size // self.ENTRY.size
        if size:
            self._mm = mmap.mmap(fd, size, access=mmap.ACCESS_READ)

    def resize(self, max_index_bytes: int | None = None) -> None:
        """Grow the (sparse) file for appends (``max_index_bytes``, default the configured size)."""
        if max_index_bytes is not None:
            self._max_index_bytes = max_index_bytes
        self._set_file_size(max(self.max_entries, self._entries) * self.ENTRY.size)

    def trim(self) -> None:
        """Shrink the file to its entries (on roll and close); the write descriptor is closed."""
        self._set_file_size(self._entries * self.ENTRY.size)
        self._close_writer()

    def _set_file_size(self, size: int) -> None:
        if size == self._capacity * self.ENTRY.size and not self._size_error:
            return
        fd = self._fd if self._fd >= 0 else os.open(self.path, os.O_RDWR)
        try:
            if self._mm is not None:
                self._mm.close()
                self._mm = None
            os.ftruncate(fd, size)
            self._size_error = None
        finally:
            try:
                self._map(fd, os.fstat(fd).st_size)  # the old size if the truncation failed
            finally:
                if fd != self._fd:
                    os.close(fd)

    def _writer(self) -> int:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDWR)
        return self._fd

    def _close_writer(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def flush(self) -> None:
        """fsync the entries written since the last flush."""
        if not self._dirty:
            return
        fd = self._fd if self._fd >= 0 else os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            if fd != self._fd:
                os.close(fd)
        self._dirty = False

    def close(self) -> None:
        """Trim and unmap; the object is unusable afterwards."""
        try:
            self.trim()
        finally:
            self._close_writer()
            if self._mm is not None:
                self._mm.close()
                self._mm = None

    def delete(self) -> None:
        self._close_writer()
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self.path.unlink(missing_ok=True)

    def rename(self, path: Path) -> None:
        os.replace(self.path, path)
        self.path = path

    # -- entries -----------------------------------------------------------------------------

    def _entry(self, n: int) -> tuple[int, int]:
        assert self._mm is not None
        return self.ENTRY.unpack_from(self._mm, n * self.ENTRY.size)

    def _append(self, *fields: int) -> None:
        """Write one entry after the last; an OSError (a full disk…) leaves the index as it was."""
        if self._entries >= self._capacity:
            self.resize()
            if self._entries >= self._capacity:
                raise OverflowError(f"index {self.path} is full ({self._entries} entries)")
        entry = self.ENTRY.pack(*fields)
        written = os.pwrite(self._writer(), entry, self._entries * self.ENTRY.size)
        if written != len(entry):  # the rest of the entry found no room; it is not counted
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: short write to {self.path}")
        self._entries += 1
        self._dirty = True

    def _floor(self, field: int, target: int) -> int:
        """Index of the last entry whose ``field`` is ≤ ``target`` (-1 if none); entries ascend."""
        low, high = 0, self._entries - 1
        unpack, size, mm = self.ENTRY.unpack_from, self.ENTRY.size, self._mm
        if mm is None:
            return -1
        found = -1
        while low <= high:
            mid = (low + high) // 2
            if unpack(mm, mid * size)[field] <= target:
                found = mid
                low = mid + 1
            else:
                high = mid - 1
        return found

    def truncate_entries(self, count: int) -> None:
        self._entries = max(0, min(count, self._entries))

    def reset(self) -> None:
        self._entries = 0

    def _check_ascending(
        self, *, offset_field: int, strict_fields: tuple[int, ...], loose_fields: tuple[int, ...]
    ) -> None:
        if self._size_error:
            raise CorruptIndexError(f"{self.path}: {self._size_error}")
        if self._entries >= 2:
            last, previous = self._entry(self._entries - 1), self._entry(self._entries - 2)
            for field in strict_fields:
                if last[field] <= previous[field]:
                    raise CorruptIndexError(f"{self.path}: last entries do not ascend")
            for field in loose_fields:
                if last[field] < previous[field]:
                    raise CorruptIndexError(f"{self.path}: last entries do not ascend")
        if self._entries and self._entry(self._entries - 1)[offset_field] < 0:
            raise CorruptIndexError(f"{self.path}: negative relative offset")


class OffsetIndex(_MappedIndex):
    """``.index``: the last offset of an indexed batch → the batch's position in the ``.log``."""

    ENTRY = struct.Struct(">ii")

    def append(self, offset: int, position: int) -> None:
        if self._entries and offset - self.base_offset <= self._entry(self._entries - 1)[0]:
            raise ValueError(f"index offsets must grow: {offset} after {self.last_entry[0]}")
        self._append(offset - self.base_offset, position)

    @property
    def last_entry(self) -> tuple[int, int]:
        """``(offset, position)`` of the last entry, ``(base_offset, 0)`` when empty."""
        if not self._entries:
            return self.base_offset, 0
        relative, position = self._entry(self._entries - 1)
        return self.base_offset + relative, position

    def lookup(self, offset: int) -> tuple[int, int]:
        """The last entry with an offset ≤ ``offset``; scanning the log from its position finds it."""
        found = self._floor(0, offset - self.base_offset)
        if found < 0:
            return self.base_offset, 0
        relative, position = self._entry(found)
        return self.base_offset + relative, position

    def lookup_by_position(self, position: int) -> tuple[int, int]:
        """The last entry whose batch starts at or before ``position``."""
        found = self._floor(1, position)
        if found < 0:
            return self.base_offset, 0
        relative, start = self._entry(found)
        return self.base_offset + relative, start

    def truncate_to(self, offset: int) -> None:
        """Drop the entries for offsets ≥ ``offset``."""
        self._entries = self._floor(0, offset - self.base_offset - 1) + 1

    def check(self) -> None:
        self._check_ascending(offset_field=0, strict_fields=(0, 1), loose_fields=())


class TimeIndex(_MappedIndex):
    """``.timeindex``: the largest timestamp so far → the last offset of the batch that carried it."""

    ENTRY = struct.Struct(">qi")

    @property
    def is_full(self) -> bool:
        return self._entries >= self.max_entries - 1  # one slot stays free for the entry at roll

    def maybe_append(self, timestamp: int, offset: int, *, at_roll: bool = False) -> bool:
        """Add ``(timestamp, offset)`` if the timestamp is a new maximum; True when added."""
        if self._entries:
            last_timestamp, last_relative = self._entry(self._entries - 1)
            if timestamp <= last_timestamp or offset - self.base_offset < last_relative:
                return False
        if self._entries >= (self.max_entries if at_roll else self.max_entries - 1):
            return False
        self._append(timestamp, offset - self.base_offset)
        return True

    @property
    def last_entry(self) -> tuple[int, int]:
        """``(timestamp, offset)`` of the last entry, ``(-1, base_offset)`` when empty."""
        if not self._entries:
            return -1, self.base_offset
        timestamp, relative = self._entry(self._entries - 1)
        return timestamp, self.base_offset + relative

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """The last entry with a timestamp ≤ ``timestamp``, ``(-1, base_offset)`` if none."""
        found = self._floor(0, timestamp)
        if found < 0:
            return -1, self.base_offset
        entry_timestamp, relative = self._entry(found)
        return entry_timestamp, self.base_offset + relative

    def truncate_to(self, offset: int) -> None:
        """Drop the entries for offsets ≥ ``offset``."""
        self._entries = self._floor(1, offset - self.base_offset - 1) + 1

    def check(self) -> None:
        self._check_ascending(offset_field=1, strict_fields=(0,), loose_fields=(1,))
