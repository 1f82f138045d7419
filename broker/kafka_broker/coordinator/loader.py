"""Rebuilding group state from a ``__consumer_offsets`` partition when this broker becomes its leader.

The log is read from its start to its end, batch by batch (control batches skipped). A later
record for the same key replaces an earlier one and a tombstone (null value) deletes: what remains
is the latest committed offset per (group, topic, partition) and the latest group metadata per
group — exactly what log compaction keeps, so loading a compacted log gives the same result.
The reader yields to the event loop between chunks so a large partition does not stall the broker.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from kafka_broker.coordinator.offsets_format import (
    FormatError,
    GroupKey,
    GroupValue,
    OffsetKey,
    OffsetValue,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from kafka_broker.protocol.errors import KafkaError
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.records import decode_records, iter_batches

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 1 << 20


@dataclass(slots=True)
class LoadedGroup:
    metadata: GroupValue | None = None
    offsets: dict[tuple[str, int], OffsetValue] = field(default_factory=dict)


def apply_record(groups: dict[str, LoadedGroup], key_bytes: bytes | None, value: bytes | None) -> None:
    """Fold one record of the log into ``groups`` (later records win, tombstones delete)."""
    if key_bytes is None:
        return
    key = decode_key(key_bytes)
    if isinstance(key, OffsetKey):
        if value is None:
            loaded = groups.get(key.group)
            if loaded is not None:
                loaded.offsets.pop((key.topic, key.partition), None)
        else:
            groups.setdefault(key.group, LoadedGroup()).offsets[(key.topic, key.partition)] = decode_offset_value(value)
    elif isinstance(key, GroupKey):
        if value is None:
            loaded = groups.get(key.group)
            if loaded is not None:
                loaded.metadata = None
        else:
            groups.setdefault(key.group, LoadedGroup()).metadata = decode_group_value(value)


async def load_partition(plog: PartitionLog, *, end_offset: int | None = None) -> dict[str, LoadedGroup]:
    """Read ``plog`` from its start to ``end_offset`` (default: its end) into the groups it holds."""
    groups: dict[str, LoadedGroup] = {}
    offset = plog.log_start_offset
    end = plog.log_end_offset if end_offset is None else end_offset
    while offset < end:
        read = plog.read(offset, max_bytes=READ_CHUNK_BYTES)
        if read.slice is None:
            break
        data = memoryview(read.slice.read())
        for header in iter_batches(data):
            if header.is_control or header.next_offset <= offset:
                continue
            for record in decode_records(data[header.position : header.end]):
                if record.offset < offset:
                    continue
                try:
                    apply_record(groups, record.key, record.value)
                except (FormatError, KafkaError) as exc:
                    log.warning("skipping unreadable record at offset %d of %s: %s", record.offset,
                                plog.directory.name, exc)
        if read.next_offset <= offset:
            break
        offset = read.next_offset
        await asyncio.sleep(0)
    return {group: loaded for group, loaded in groups.items() if loaded.metadata is not None or loaded.offsets}
