"""The leader epoch cache of one partition: at which offset each leader epoch started.

Entries ``(epoch, start_offset)`` grow in both fields. The leader adds one when it appends its
first batch in a new epoch; a follower adds one whenever a replicated batch carries a higher
``partitionLeaderEpoch``. After a leader change a follower asks the leader for
:meth:`LeaderEpochCache.end_offset_for` its latest epoch and truncates there, which is how
divergent tails are removed. The cache is persisted as Kafka's ``leader-epoch-checkpoint``
(version 0, count, ``epoch startOffset`` lines) on every change; changes are rare.

The entries in memory are what the broker acts on; the file is for the next start. A write that
fails (a full disk) is logged and the cache marked :attr:`~LeaderEpochCache.dirty`; the log writes it
again at its next append or flush, and every later change writes the whole file anyway. Nothing
raises, so becoming leader, truncating or starting up on a full disk goes on. Should the broker
crash before the file is written, the epochs of the newest segment's batches are restored from the
log on load, and entries past the log end dropped.

Algorithms follow Kafka's ``LeaderEpochFileCache``:

* assign: ignored when it repeats the latest epoch at a later offset; otherwise entries that
  conflict (epoch ≥ new epoch, or start ≥ new start) are dropped and the entry appended.
* end_offset_for(e): the latest epoch ends at the log end; otherwise ``e`` ends where the first
  higher epoch starts, reported with the largest known epoch ≤ ``e``; an epoch above every entry
  is unknown: ``(-1, -1)``.
* truncate_from_end(o): entries starting at or after ``o`` go (log truncated to ``o``).
* truncate_from_start(o): entries starting at or before ``o`` go, the last of them kept with its
  start moved to ``o`` (log start advanced to ``o``).
"""

from __future__ import annotations

import bisect
import logging
from pathlib import Path
from typing import NamedTuple

from kafka_broker.storage.checkpoint import CheckpointError, read_checkpoint, write_checkpoint

log = logging.getLogger(__name__)

FILE_NAME = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


class LeaderEpochCache:
    """The epochs of one partition directory, kept in ``<dir>/leader-epoch-checkpoint``."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / FILE_NAME
        self._entries: list[EpochEntry] = []
        self.dirty = False
        """The file does not hold the entries: its last write failed (see the module docstring)."""
        try:
            rows = read_checkpoint(self._path, fields=2) or []
            self._entries = [EpochEntry(int(epoch), int(start)) for epoch, start in rows]
        except (CheckpointError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self._path, exc)
            self._entries = []

    def change_directory(self, directory: Path) -> None:
        self._path = directory / FILE_NAME

    @property
    def entries(self) -> list[EpochEntry]:
        return list(self._entries)

    @property
    def latest_epoch(self) -> int:
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` started at ``start_offset``; True when the cache changed."""
        if epoch < 0:
            return False
        if self._entries:
            latest = self._entries[-1]
            if latest.epoch == epoch and start_offset >= latest.start_offset:
                return False
        self._entries = [e for e in self._entries if e.epoch < epoch and e.start_offset < start_offset]
        self._entries.append(EpochEntry(epoch, start_offset))
        self._write()
        return True

    def end_offset_for(self, epoch: int, *, log_end_offset: int) -> tuple[int, int]:
        """``(epoch, end offset)`` as OffsetForLeaderEpoch answers it for ``epoch``."""
        if epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if epoch == self._entries[-1].epoch:
            return epoch, log_end_offset
        epochs = [e.epoch for e in self._entries]
        higher = bisect.bisect_right(epochs, epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        end = self._entries[higher].start_offset
        if higher == 0:
            return epoch, end
        return self._entries[higher - 1].epoch, end

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch the record at ``offset`` was written in (-1 before the first entry)."""
        starts = [e.start_offset for e in self._entries]
        index = bisect.bisect_right(starts, offset) - 1
        return self._entries[index].epoch if index >= 0 else UNDEFINED_EPOCH

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs starting at or after ``end_offset`` (the log was truncated there)."""
        kept = [e for e in self._entries if e.start_offset < end_offset]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._write()

    def truncate_from_start(self, start_offset: int) -> None:
        """Forget what precedes ``start_offset`` (the log start moved there)."""
        before = [e for e in self._entries if e.start_offset <= start_offset]
        if not before or (len(before) == 1 and before[0].start_offset == start_offset):
            return
        after = self._entries[len(before) :]
        self._entries = [EpochEntry(before[-1].epoch, start_offset), *after]
        self._write()

    def clear(self) -> None:
        if self._entries:
            self._entries = []
            self._write()

    def write_pending(self) -> None:
        """Write the file again if its last write failed."""
        if self.dirty:
            self._write()

    def _write(self) -> None:
        try:
            write_checkpoint(self._path, self._entries)
        except OSError as exc:
            if not self.dirty:
                log.warning("could not write %s (kept in memory, written again later): %s", self._path, exc)
            self.dirty = True
            return
        if self.dirty:
            log.info("wrote %s again", self._path)
        self.dirty = False
