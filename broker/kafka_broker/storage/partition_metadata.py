"""Kafka's ``partition.metadata`` file: the topic id a partition's log directory belongs to (KIP-516).

A topic deleted and created again under its name gets a new topic id, while its partition directories keep
their names (``<topic>-<partition>``). A broker that did not delete its log of the old topic — it was down
while the topic was deleted, or had not yet heard of the deletion — would otherwise take that log up as
the new topic's. The id stored next to the segments tells the two apart: the replica manager drops a log
whose stored id is not the topic's and starts the partition empty.

The format is Kafka's, two ``key: value`` lines::

    version: 0
    topic_id: <base64 topic id, as in /brokers/topics/<t>>

Written (``partition.metadata.tmp``, fsynced, renamed, directory fsynced) when a partition is first hosted
under a topic id, so a crash leaves the old file or the new one. A leftover ``.tmp`` is removed when the
log loads. A directory without the file (written before topic ids, or while its topic had none) has no id:
it takes the id of the topic it is hosted for, as Kafka does.
"""

from __future__ import annotations

from pathlib import Path

from kafka_broker.storage.checkpoint import replace_file

FILE_NAME = "partition.metadata"
VERSION = 0


class PartitionMetadataError(ValueError):
    """A ``partition.metadata`` that does not follow the format."""


def read_topic_id(directory: Path) -> str | None:
    """The topic id stored in ``directory``; None when there is no ``partition.metadata``."""
    try:
        text = (directory / FILE_NAME).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if fields.get("version") != str(VERSION) or not fields.get("topic_id"):
        raise PartitionMetadataError(f"{directory / FILE_NAME}: expected version {VERSION} and a topic_id")
    return fields["topic_id"]


def write_topic_id(directory: Path, topic_id: str) -> None:
    """Store ``topic_id`` in ``directory``, durably; raises OSError (a full disk) with nothing half-written."""
    replace_file(directory / FILE_NAME, f"version: {VERSION}\ntopic_id: {topic_id}\n".encode())
