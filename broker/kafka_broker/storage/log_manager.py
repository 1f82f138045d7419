"""All partition logs of the broker across its ``log.dirs``: loading, placement, deletion, housekeeping.

Each log dir holds one directory per partition, ``<topic>-<partition>`` (topic names may contain
``.``, ``_`` and ``-``, so names are split at the last ``-``), and a ``log-start-offset-checkpoint``
(Kafka's format: version 0, count, ``topic partition offset`` lines) written on flush and close, and at
once when a log start moves by DeleteRecords (on the leader, and on a follower that learns it from the
leader), so a DeleteRecords survives a restart, even an unclean one. On start every partition
directory is opened (each log recovers itself) and leftovers of interrupted deletions (``*-delete``)
are removed. A new partition goes to the log dir holding the fewest partitions. Deleting a partition
renames its directory to ``<topic>-<partition>.<uuid>-delete`` at once (so a new partition of the same
name can be created) and removes it after the topic's ``file.delete.delay.ms``, leaving in-flight
fetches valid data.

A failing disk never stops the broker here: a partition that cannot be opened at start (its log
could not even create its first segment) is logged and opened again, in its own directory, when the
replica manager next asks for it; a checkpoint that cannot be written is logged (written again at the next flush
or close); housekeeping and closing go on with the other partitions when one fails.
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from kafka_broker.storage.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from kafka_broker.storage.log import PartitionLog, parse_partition_dir, partition_dir_name, wall_clock_ms
from kafka_broker.storage.log_config import LogConfig

log = logging.getLogger(__name__)

LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
DELETE_DIR_SUFFIX = "-delete"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")

TopicPartition = tuple[str, int]


def validate_topic_name(topic: str) -> None:
    """Kafka's rule: 1-249 characters of ``[A-Za-z0-9._-]``, not ``.`` or ``..``."""
    if not _TOPIC_NAME.fullmatch(topic) or topic in (".", ".."):
        raise ValueError(f"invalid topic name {topic!r}")


class LogManager:
    """The partition logs of one broker, keyed by ``(topic, partition)``."""

    def __init__(self, log_dirs: list[Path], default_config: LogConfig) -> None:
        if not log_dirs:
            raise ValueError("at least one log dir is needed")
        self.log_dirs = [Path(d) for d in log_dirs]
        self.default_config = default_config
        self._logs: dict[TopicPartition, PartitionLog] = {}
        self._topic_configs: dict[str, LogConfig] = {}
        self._pending_deletes: list[tuple[int, PartitionLog]] = []
        self._unopened: dict[TopicPartition, tuple[Path, int | None]] = {}
        """Partitions found at start whose logs could not be opened: their directory and log start offset."""

    # -- lookup ----------------------------------------------------------------------------------

    def get(self, topic: str, partition: int) -> PartitionLog | None:
        return self._logs.get((topic, partition))

    def __iter__(self) -> Iterator[PartitionLog]:
        return iter(list(self._logs.values()))

    def __len__(self) -> int:
        return len(self._logs)

    def partitions(self) -> list[TopicPartition]:
        """The partitions with a log here (including those whose log could not be opened at start)."""
        return sorted({*self._logs, *self._unopened})

    def config_for(self, topic: str) -> LogConfig:
        return self._topic_configs.get(topic, self.default_config)

    # -- lifecycle -------------------------------------------------------------------------------

    def load_all(self, *, topic_configs: Mapping[str, LogConfig] | None = None, now_ms: int | None = None) -> int:
        """Open (and recover) every partition directory of every log dir; returns how many."""
        if topic_configs:
            self._topic_configs.update(topic_configs)
        now = now_ms if now_ms is not None else wall_clock_ms()
        loaded = 0
        for log_dir in self.log_dirs:
            log_dir.mkdir(parents=True, exist_ok=True)
            starts = self._read_log_starts(log_dir)
            for child in sorted(log_dir.iterdir()):
                if not child.is_dir():
                    continue
                if child.name.endswith(DELETE_DIR_SUFFIX):
                    shutil.rmtree(child, ignore_errors=True)
                    continue
                parsed = parse_partition_dir(child.name)
                if parsed is None:
                    continue
                if parsed in self._logs:
                    other = self._logs[parsed].directory
                    raise RuntimeError(f"partition {child.name} found twice: {other} and {child}")
                try:
                    self._logs[parsed] = self._tracked(PartitionLog(
                        child, config=self.config_for(parsed[0]), log_start_offset=starts.get(parsed), now_ms=now
                    ))
                except OSError as exc:
                    log.error("could not open the log of %s (opened again when it is next needed): %s", child, exc)
                    self._unopened[parsed] = (child, starts.get(parsed))
                    continue
                loaded += 1
        return loaded

    def get_or_create(self, topic: str, partition: int, config: LogConfig | None = None) -> PartitionLog:
        """The partition's log, created on the least used log dir if missing (``config`` for the topic)."""
        if config is not None:
            self._topic_configs[topic] = config
        existing = self._logs.get((topic, partition))
        if existing is not None:
            if config is not None and config != existing.config:
                existing.update_config(config)
            return existing
        validate_topic_name(topic)
        if partition < 0:
            raise ValueError(f"invalid partition {partition}")
        unopened = self._unopened.get((topic, partition))
        if unopened is not None:  # its data is there: open it where it is, never a new empty log elsewhere
            directory, start = unopened
            reopened = self._tracked(PartitionLog(directory, config=self.config_for(topic), log_start_offset=start))
            del self._unopened[(topic, partition)]
            self._logs[(topic, partition)] = reopened
            return reopened
        counts = {d: 0 for d in self.log_dirs}
        for partition_log in self._logs.values():
            parent = partition_log.directory.parent
            counts[parent] = counts.get(parent, 0) + 1
        log_dir = min(self.log_dirs, key=lambda d: counts[d])
        created = self._tracked(PartitionLog(log_dir / partition_dir_name(topic, partition),
                                             config=self.config_for(topic)))
        self._logs[(topic, partition)] = created
        return created

    def delete(self, topic: str, partition: int, *, now_ms: int | None = None) -> bool:
        """Rename the partition's directory to ``*.<uuid>-delete`` and remove it after the delay."""
        partition_log = self._logs.pop((topic, partition), None)
        if partition_log is None:
            unopened = self._unopened.pop((topic, partition), None)
            if unopened is not None:
                shutil.rmtree(unopened[0], ignore_errors=True)
            return unopened is not None
        name = f"{partition_dir_name(topic, partition)}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}"
        try:
            partition_log.rename_directory(partition_log.directory.with_name(name))
        except OSError as exc:  # (a full disk: deleting is how space comes back, so it goes at once)
            log.warning("could not rename %s for deletion, deleting it now: %s", partition_log.directory, exc)
            partition_log.delete()
            return True
        delay = partition_log.config.file_delete_delay_ms
        if delay <= 0:
            partition_log.delete()
        else:
            now = now_ms if now_ms is not None else wall_clock_ms()
            self._pending_deletes.append((now + delay, partition_log))
        return True

    def update_config(self, topic: str, config: LogConfig) -> None:
        """Use ``config`` for the topic's existing and future partitions."""
        self._topic_configs[topic] = config
        for (name, _), partition_log in self._logs.items():
            if name == topic:
                partition_log.update_config(config)

    # -- housekeeping ----------------------------------------------------------------------------

    def enforce_retention(self, now_ms: int) -> int:
        """Retention for every log, and finished delayed deletions; returns segments deleted."""
        self._run_pending_deletes(now_ms)
        deleted = 0
        for partition_log in self:
            try:
                deleted += partition_log.enforce_retention(now_ms)
            except OSError as exc:
                log.warning("retention of %s failed: %s", partition_log.directory.name, exc)
        return deleted

    def flush_due(self, now_ms: int) -> None:
        """fsync the logs whose ``flush.messages`` / ``flush.ms`` is reached."""
        for partition_log in self:
            try:
                partition_log.maybe_flush(now_ms)
            except OSError as exc:
                log.warning("flushing %s failed: %s", partition_log.directory.name, exc)

    def flush_all(self) -> None:
        for partition_log in self:
            try:
                partition_log.flush()
            except OSError as exc:
                log.warning("flushing %s failed: %s", partition_log.directory.name, exc)
        self.checkpoint_log_start_offsets()

    def close_all(self) -> None:
        self._run_pending_deletes(None)
        self.checkpoint_log_start_offsets()
        for partition_log in self:
            partition_log.close()
        self._logs.clear()

    def _tracked(self, partition_log: PartitionLog) -> PartitionLog:
        partition_log.on_log_start_moved = self._log_start_moved
        return partition_log

    def _log_start_moved(self, partition_log: PartitionLog) -> None:
        """A DeleteRecords moved a log start: checkpoint its log dir now (a restart must not bring the records
        back; Kafka checkpoints every ``log.flush.start.offset.checkpoint.interval.ms``, which an unclean stop
        of every replica within the interval could undo)."""
        if self._logs.get((partition_log.topic, partition_log.partition)) is partition_log:
            self.checkpoint_log_start_offsets(log_dir=partition_log.directory.parent)

    def checkpoint_log_start_offsets(self, *, log_dir: Path | None = None) -> None:
        """Write each log dir's ``log-start-offset-checkpoint`` (only starts above the first segment); with
        ``log_dir``, that one's only."""
        per_dir: dict[Path, list[tuple[str, int, int]]] = {
            d: [] for d in self.log_dirs if log_dir is None or d == log_dir}
        for (topic, partition), partition_log in sorted(self._logs.items()):
            if log_dir is not None and partition_log.directory.parent != log_dir:
                continue
            if partition_log.log_start_offset > partition_log.segments[0].base_offset:
                entry = (topic, partition, partition_log.log_start_offset)
                per_dir.setdefault(partition_log.directory.parent, []).append(entry)
        for directory, entries in per_dir.items():
            if directory.is_dir():
                try:
                    write_checkpoint(directory / LOG_START_OFFSET_CHECKPOINT, entries)
                except OSError as exc:
                    log.warning("could not write %s in %s: %s", LOG_START_OFFSET_CHECKPOINT, directory, exc)

    def _read_log_starts(self, log_dir: Path) -> dict[TopicPartition, int]:
        try:
            rows = read_checkpoint(log_dir / LOG_START_OFFSET_CHECKPOINT, fields=3) or []
            return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}
        except (CheckpointError, ValueError) as exc:
            log.warning("ignoring unreadable log start offsets in %s: %s", log_dir, exc)
            return {}

    def _run_pending_deletes(self, now_ms: int | None) -> None:
        keep = []
        for due, partition_log in self._pending_deletes:
            if now_ms is None or due <= now_ms:
                partition_log.delete()
            else:
                keep.append((due, partition_log))
        self._pending_deletes = keep
