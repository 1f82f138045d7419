"""Log compaction: keep the latest record of every key in partitions with ``cleanup.policy=compact``.

One pass over a partition log (:meth:`LogCleaner.clean`):

1. **Range.** The *cleanable* segments are the non-active ones that end at or below the first
   uncleanable offset: ``min(active segment base, high watermark, base of the first segment holding
   a record younger than min.compaction.lag.ms)`` — never the active segment, and never data that
   may still be truncated away (above the high watermark), which could otherwise take the only
   copy of a key's latest value with it. ``first dirty`` is where the previous pass stopped
   (``cleaner-offset-checkpoint`` in each log dir, Kafka's file; the log start when unknown); the
   segments before it are *clean*, the rest of the range *dirty*.
2. **Ratio.** Only when dirty bytes / cleanable bytes ≥ ``min.cleanable.dirty.ratio``.
3. **Offset map.** Records of the dirty segments are decoded once: key → offset of its latest record.
4. **Rewrite** (in a worker thread). Cleanable segments, oldest first, are grouped while a group's
   size stays within ``segment.bytes`` (small cleaned segments merge); each group is written as one
   new segment. A record is kept when its key is null, or it is the latest for its key (the map has
   no later offset; keys only in the clean part are their own latest). A tombstone (null value)
   that is its key's latest is dropped only when its segment was already clean and was cleaned more
   than ``delete.retention.ms`` ago (the file's modification time records when a segment was first
   cleaned; later rewrites keep it), so consumers have had that long to see the delete. A batch
   whose records all stay is copied byte for byte; otherwise it is rebuilt with the same base
   offset, ``last_offset_delta``, codec, timestamps, producer id/epoch/base sequence and leader
   epoch, so **offsets are preserved**. A batch that loses every record is dropped, except the last
   batch of a producer (kept empty, as Kafka does, so the producer state survives a rebuild).
   Control batches are kept. The new segment's indexes are built while writing.
5. **Swap** (on the event-loop thread, so appends and reads never see a half-swapped log; only
   renames happen there). The group must still be in the log (retention or truncation may have
   removed it meanwhile; then the result is discarded). The new ``.log`` is moved from the scratch
   directory ``.cleaned/`` to ``<base>.log.swap``; the old segments' files get the ``.retired``
   suffix; ``<base>.log.swap`` is renamed to ``<base>.log`` — the commit point — and the new
   indexes follow. The retired files are unlinked at once; their open descriptors keep serving
   in-flight fetches until ``file.delete.delay.ms`` has passed.

Crash recovery of an interrupted swap: :mod:`kafka_broker.storage.swap`.

A failed write (a full disk) ends the pass and leaves the log as it was: the scratch segments written
so far are removed (their descriptors closed, so the space is really freed), a swap that fails before
its commit point gives the old segments their names back, and a checkpoint that cannot be written is
logged (the offsets stay in memory). The cleaner's loop logs the failure and tries again later.

Threads: while the worker reads the old segments, ``PartitionLog.cleaning`` is set so retention
and truncation postpone closing any segment's descriptor. The event loop keeps appending to the
active segment and serving reads from the old segments, which stay untouched until the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kafka_broker.config import CleanerSettings
from kafka_broker.storage.checkpoint import CheckpointError, fsync_dir, read_checkpoint, write_checkpoint
from kafka_broker.storage.compression import Codec
from kafka_broker.storage.records import BatchHeader, Record, build_batch, decode_records, iter_batches
from kafka_broker.storage.segment import INDEX_SUFFIX, INT32_MAX, LOG_SUFFIX, TIME_INDEX_SUFFIX, Segment
from kafka_broker.storage.swap import CLEANED_DIR, RETIRED_SUFFIX, SWAP_SUFFIX

if TYPE_CHECKING:
    from kafka_broker.storage.log import PartitionLog

log = logging.getLogger(__name__)

CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"
_WRITE_CHUNK = 1 << 20


@dataclass(slots=True)
class CleanPlan:
    """What one pass will clean (chosen on the event loop; carried out in the worker)."""

    log: PartitionLog
    groups: list[list[Segment]]
    first_dirty: int
    end_offset: int
    now_ms: int
    last_batch_of_producer: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class CleanResult:
    segments_before: int
    segments_after: int
    bytes_before: int
    bytes_after: int
    end_offset: int


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _mtime_ms(segment: Segment) -> int:
    return os.fstat(segment.fd).st_mtime_ns // 1_000_000


def dirty_ratio(log: PartitionLog, *, first_dirty: int, end_offset: int) -> float:
    """Dirty bytes / cleanable bytes of ``log`` (0 when nothing is cleanable)."""
    segments = [s for s in log.segments[:-1] if s.next_offset <= end_offset and s.size > 0]
    total = sum(s.size for s in segments)
    dirty = sum(s.size for s in segments if s.next_offset > first_dirty)
    return dirty / total if total else 0.0


def plan_clean(
    log: PartitionLog,
    *,
    high_watermark: int | None,
    first_dirty: int,
    now_ms: int,
    force: bool = False,
) -> CleanPlan | None:
    """Choose what to clean now (see the module docstring, steps 1 and 2); None for nothing.

    ``force`` cleans whatever is cleanable, dirty or not (tombstones whose time has come).
    """
    config = log.config
    segments = list(log.segments)
    active = segments.pop()
    end = active.base_offset
    if high_watermark is not None:
        end = min(end, high_watermark)
    if config.min_compaction_lag_ms > 0:
        for segment in segments:
            if segment.max_timestamp > now_ms - config.min_compaction_lag_ms:
                end = min(end, segment.base_offset)
                break
    cleanable = [s for s in segments if s.next_offset <= end]
    first_dirty = max(first_dirty, log.log_start_offset)
    if not cleanable or (not force and not any(s.next_offset > first_dirty and s.size > 0 for s in cleanable)):
        return None
    if not force and dirty_ratio(log, first_dirty=first_dirty, end_offset=end) < config.min_cleanable_dirty_ratio:
        return None
    groups: list[list[Segment]] = []
    size = 0
    for segment in cleanable:
        if (
            groups
            and size + segment.size <= config.segment_bytes
            and segment.last_offset - groups[-1][0].base_offset <= INT32_MAX
        ):
            groups[-1].append(segment)
            size += segment.size
        else:
            groups.append([segment])
            size = segment.size
    last_of_producer = {
        pid: entry.batches[-1].first_offset
        for pid, entry in log.producer_state.producers.items()
        if entry.batches
    }
    return CleanPlan(log, groups, first_dirty, cleanable[-1].next_offset, now_ms, last_of_producer)


def build_offset_map(segments: Iterable[Segment], *, first_dirty: int) -> dict[bytes, int]:
    """Key → offset of its latest record, over the records at or after ``first_dirty``."""
    latest: dict[bytes, int] = {}
    for segment in segments:
        if segment.next_offset <= first_dirty:
            continue
        for header in segment.scan():
            if header.is_control or header.last_offset < first_dirty or header.record_count == 0:
                continue
            for record in decode_records(segment.read_batch(header)):
                if record.key is not None and record.offset >= first_dirty:
                    latest[record.key] = record.offset
    return latest


def _rebuilt(header: BatchHeader, kept: list[Record]) -> bytes:
    return build_batch(
        kept,
        base_offset=header.base_offset,
        compression=header.compression if kept else Codec.NONE,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        is_transactional=header.is_transactional,
        timestamp_type=header.timestamp_type,
        partition_leader_epoch=header.partition_leader_epoch,
        max_timestamp=header.max_timestamp,
        last_offset_delta=header.last_offset_delta,
    )


def write_group(plan: CleanPlan, group: list[Segment], latest: Mapping[bytes, int]) -> tuple[Segment, int | None]:
    """Write the cleaned copy of ``group`` as one new segment in the scratch directory (worker thread).

    Also returns when the tombstones it kept may be dropped (None: it kept none).
    """
    plog = plan.log
    config = plog.config
    scratch = plog.directory / CLEANED_DIR
    scratch.mkdir(exist_ok=True)
    base = group[0].base_offset
    for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
        (scratch / f"{base:020d}{suffix}").unlink(missing_ok=True)
    cleaned = Segment(
        scratch,
        base,
        index_interval_bytes=config.index_interval_bytes,
        max_index_bytes=config.segment_index_bytes,
        create=True,
        now_ms=plan.now_ms,
    )
    try:
        horizon = plan.now_ms - config.delete_retention_ms
        first_cleaning = False
        tombstones = False
        mtime = 0
        chunk = bytearray()
        for segment in group:
            was_clean = segment.next_offset <= plan.first_dirty
            first_cleaning = first_cleaning or not was_clean
            segment_mtime = _mtime_ms(segment)
            mtime = max(mtime, segment_mtime)
            drop_tombstones = was_clean and segment_mtime < horizon
            for header in segment.scan():
                last_of_producer = plan.last_batch_of_producer.get(header.producer_id, -2) == header.base_offset
                if header.record_count == 0 and not header.is_control and not last_of_producer:
                    continue  # an empty batch kept for a producer that has written since
                raw = segment.read_batch(header)
                if not header.is_control and header.record_count > 0:
                    records = decode_records(raw)
                    kept = [
                        r for r in records
                        if r.key is None
                        or (latest.get(r.key, -1) <= r.offset and not (r.value is None and drop_tombstones))
                    ]
                    tombstones = tombstones or any(r.value is None and r.key is not None for r in kept)
                    if len(kept) != len(records):
                        if kept or last_of_producer:
                            raw = _rebuilt(header, kept)
                        else:
                            continue
                chunk += raw
                if len(chunk) >= _WRITE_CHUNK:
                    cleaned.append(chunk, list(iter_batches(chunk)))
                    chunk = bytearray()
        if chunk:
            cleaned.append(chunk, list(iter_batches(chunk)))
        cleaned.on_roll()
        cleaned.flush()
        stamp = plan.now_ms if first_cleaning else mtime
        os.utime(cleaned.log_path, ns=(stamp * 1_000_000, stamp * 1_000_000))
    except BaseException:  # a full disk: the scratch copy goes, the log is untouched
        cleaned.delete()
        raise
    return cleaned, (stamp + config.delete_retention_ms if tombstones else None)


def build_cleaned(plan: CleanPlan) -> list[tuple[list[Segment], Segment, int | None]]:
    """Steps 3 and 4 (worker thread): the offset map, then one new segment per group (and its tombstone time)."""
    segments = [s for group in plan.groups for s in group]
    latest = build_offset_map(segments, first_dirty=plan.first_dirty)
    built: list[tuple[list[Segment], Segment, int | None]] = []
    try:
        for group in plan.groups:
            built.append((group, *write_group(plan, group, latest)))
    except BaseException:
        for _, new, _ in built:
            new.delete()
        raise
    return built


def swap_in(plog: PartitionLog, old: list[Segment], new: Segment, *, now_ms: int) -> bool:
    """Step 5 (event-loop thread): replace ``old`` by ``new`` in the directory and in the log."""
    present = list(plog.segments[:-1])
    try:
        index = next(i for i, s in enumerate(present) if s is old[0])
    except StopIteration:
        index = -1
    if plog.closed or index < 0 or present[index : index + len(old)] != old:
        new.delete()
        return False
    directory = plog.directory
    if new.is_empty:  # nothing survived: the old segments just go
        new.delete()
        for segment in old:
            segment.rename_for_delete()
        if not plog.replace_segments(old, None):  # pragma: no cover - checked above, no await in between
            raise RuntimeError(f"segments of {plog!r} changed during the swap")
        for segment in old:
            plog.retire(segment, now_ms)
        return True
    base = new.base_offset
    swap = directory / f"{base:020d}{LOG_SUFFIX}{SWAP_SUFFIX}"
    target = directory / f"{base:020d}{LOG_SUFFIX}"
    try:
        os.replace(new.log_path, swap)
        new.log_path = swap
        fsync_dir(directory)
        for segment in old:
            segment.rename_for_delete(RETIRED_SUFFIX)
        os.replace(swap, target)  # the commit point
    except OSError:  # not committed: the old segments keep (or get back) their names, the new one goes
        for segment in old:
            with contextlib.suppress(OSError):
                segment.restore_name(RETIRED_SUFFIX)
        new.delete()
        raise
    new.log_path = target
    try:
        fsync_dir(directory)
        for index_file in (new.offset_index, new.time_index):
            index_file.rename(directory / index_file.path.name)
    except OSError as exc:  # committed: the log is right; an index left behind is rebuilt at the next start
        log.warning("%s: finishing the swap of segment %d: %s", directory.name, base, exc)
    new.directory = directory
    for segment in old:
        segment.unlink_files()
    if not plog.replace_segments(old, new):  # pragma: no cover - checked above, no await in between
        raise RuntimeError(f"segments of {plog!r} changed during the swap")
    for segment in old:
        plog.retire(segment, now_ms)
    return True


class LogCleaner:
    """Compacts the logs of compacted topics, one partition at a time; remembers where each pass ended."""

    def __init__(self, log_dirs: Iterable[Path], *, settings: CleanerSettings | None = None) -> None:
        self.settings = settings or CleanerSettings()
        self.log_dirs = [Path(d) for d in log_dirs]
        self.first_dirty: dict[tuple[str, int], int] = {}
        self.tombstones_due: dict[tuple[str, int], int] = {}
        """When kept tombstones may go: a pass then runs even without dirty data."""
        self.passes = 0
        for log_dir in self.log_dirs:
            self.first_dirty.update(self._read_checkpoint(log_dir))

    # -- one partition -------------------------------------------------------------------------

    def plan(
        self, plog: PartitionLog, *, high_watermark: int | None = None, now_ms: int | None = None, force: bool = False
    ) -> CleanPlan | None:
        now = now_ms if now_ms is not None else _wall_clock_ms()
        if not plog.config.compacts:
            return None
        key = (plog.topic, plog.partition)
        first_dirty = self.first_dirty.get(key, plog.log_start_offset)
        due = self.tombstones_due.get(key)
        force = force or (due is not None and now >= due)
        if first_dirty > plog.log_end_offset:  # the log was truncated or recreated below it
            first_dirty = plog.log_start_offset
        return plan_clean(plog, high_watermark=high_watermark, first_dirty=first_dirty, now_ms=now, force=force)

    def clean_sync(
        self, plog: PartitionLog, *, high_watermark: int | None = None, now_ms: int | None = None, force: bool = False
    ) -> CleanResult | None:
        """One pass, all on the calling thread (tests, tools)."""
        plan = self.plan(plog, high_watermark=high_watermark, now_ms=now_ms, force=force)
        if plan is None:
            return None
        plog.cleaning = True
        try:
            built = build_cleaned(plan)
        finally:
            plog.cleaning = False
        return self._finish(plan, built)

    async def clean(
        self, plog: PartitionLog, *, high_watermark: int | None = None, now_ms: int | None = None
    ) -> CleanResult | None:
        """One pass: plan and swap on the event loop, the rewriting in a worker thread."""
        plan = self.plan(plog, high_watermark=high_watermark, now_ms=now_ms)
        if plan is None:
            return None
        plog.cleaning = True
        try:
            built = await asyncio.to_thread(build_cleaned, plan)
        finally:
            plog.cleaning = False
        return self._finish(plan, built)

    def _finish(self, plan: CleanPlan, built: list[tuple[list[Segment], Segment, int | None]]) -> CleanResult:
        plog = plan.log
        before = sum(s.size for old, _, _ in built for s in old)
        count_before = sum(len(old) for old, _, _ in built)
        after = 0
        swapped = True
        for i, (old, new, _due) in enumerate(built):
            if not swapped:
                new.delete()
                continue
            try:
                swapped = swap_in(plog, old, new, now_ms=plan.now_ms)
            except OSError:
                for _, rest, _ in built[i + 1 :]:
                    rest.delete()
                raise
            if swapped:
                after += new.size
        with contextlib.suppress(OSError):
            (plog.directory / CLEANED_DIR).rmdir()
        if swapped:
            key = (plog.topic, plog.partition)
            self.first_dirty[key] = plan.end_offset
            dues = [due for _, _, due in built if due is not None]
            if dues:
                self.tombstones_due[key] = min(dues)
            else:
                self.tombstones_due.pop(key, None)
            self._write_checkpoint(plog.directory.parent)
        self.passes += 1
        result = CleanResult(count_before, len(built), before, after, plan.end_offset)
        log.info(
            "cleaned %s-%d up to offset %d: %d segments of %d bytes → %d segments of %d bytes",
            plog.topic, plog.partition, plan.end_offset, count_before, before, len(built), after,
        )
        return result

    # -- all partitions ---------------------------------------------------------------------------

    async def run(self, partitions: Callable[[], Iterable[tuple[PartitionLog, int]]]) -> None:
        """Clean forever: ``partitions()`` gives each local log with its high watermark. Up to
        ``log.cleaner.threads`` partitions are cleaned at once (their rewrites in as many worker threads; read
        at every pass, so a dynamic change applies at the next one; 0 cleans nothing, as in Kafka)."""
        if not self.settings.enable:
            return
        while True:
            threads = self.settings.threads
            due = [(plog, hw) for plog, hw in list(partitions()) if plog.config.compacts and not plog.cleaning]
            cleaned = False
            for start in range(0, len(due) if threads > 0 else 0, max(threads, 1)):
                batch = due[start:start + threads]
                passes = await asyncio.gather(*(self._clean_logged(plog, hw) for plog, hw in batch))
                cleaned = any(passes) or cleaned
            await asyncio.sleep(0 if cleaned else self.settings.backoff_ms / 1000)

    async def _clean_logged(self, plog: PartitionLog, high_watermark: int) -> bool:
        """One pass over ``plog`` (True if it cleaned something); a failure is logged, and tried again later."""
        try:
            return (await self.clean(plog, high_watermark=high_watermark)) is not None
        except Exception:
            log.exception("cleaning %s-%d failed", plog.topic, plog.partition)
            return False

    # -- checkpoint ------------------------------------------------------------------------------

    def _read_checkpoint(self, log_dir: Path) -> dict[tuple[str, int], int]:
        try:
            rows = read_checkpoint(log_dir / CLEANER_CHECKPOINT, fields=3) or []
            return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}
        except (CheckpointError, ValueError, OSError) as exc:
            log.warning("ignoring unreadable %s in %s: %s", CLEANER_CHECKPOINT, log_dir, exc)
            return {}

    def _write_checkpoint(self, log_dir: Path) -> None:
        """Kafka's format: version 0, count, ``topic partition offset`` lines, for the logs in ``log_dir``."""
        entries = []
        for (topic, partition), offset in sorted(self.first_dirty.items()):
            if (log_dir / f"{topic}-{partition}").is_dir():
                entries.append((topic, partition, offset))
        if log_dir.is_dir():
            try:
                write_checkpoint(log_dir / CLEANER_CHECKPOINT, entries)
            except OSError as exc:  # the offsets are kept in memory and written at the next pass
                log.warning("could not write %s in %s: %s", CLEANER_CHECKPOINT, log_dir, exc)
