"""`kopfka delete-records`: Kafka's `kafka-delete-records.sh` on confluent-kafka's AdminClient.

`--offset-json-file F` names, in Kafka's format, the offset before which each partition's records go
(-1: everything below the high watermark)::

    {"partitions": [{"topic": "orders", "partition": 0, "offset": 42}], "version": 1}

(`version` may be left out; only 1 exists). A partition named twice is refused before anything is sent,
as Kafka's tool refuses it. The output is Kafka's: `Executing records delete operation`, then
`Records delete operation completed:` and one line per partition, in the file's order, with its new low
watermark (the smallest log start over its replicas) or the error::

    partition: orders-0	low_watermark: 42
    partition: orders-1	error: OFFSET_OUT_OF_RANGE: Broker: Offset out of range

Unlike Kafka's tool, which exits 0 whatever the partitions answered, the exit code is 1 when any
partition failed, so scripts can tell.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from kafka_broker.cli.options import add_bootstrap, client_config, error

HELP = "delete the records of partitions below given offsets (like kafka-delete-records.sh)"

REQUEST_TIMEOUT = 30.0
"""Seconds for the whole operation, and for the brokers to see every replica's log start move."""


class OffsetFileError(ValueError):
    """The offset JSON file is not in Kafka's format."""


@dataclass(frozen=True)
class Deletion:
    topic: str
    partition: int
    offset: int

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"


def configure(parser: argparse.ArgumentParser) -> None:
    add_bootstrap(parser)
    parser.add_argument("--offset-json-file", required=True, type=Path, metavar="FILE",
                        help='partitions and offsets: {"partitions":[{"topic":"t","partition":0,"offset":5}],'
                             '"version":1}')


def parse_offsets(text: str) -> list[Deletion]:
    """Kafka's offset JSON (DeleteRecordsCommand's version 1), in the file's order; duplicates refused."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OffsetFileError("The input string is not a valid JSON") from exc
    if not isinstance(document, dict):
        raise OffsetFileError("The input string is not a JSON object")
    version = document.get("version", 1)
    if version != 1:
        raise OffsetFileError(f"Not supported version field value {version}")
    if "partitions" not in document:
        raise OffsetFileError("Missing partitions field")
    deletions = []
    for entry in document["partitions"]:
        try:
            topic, partition, offset = entry["topic"], entry["partition"], entry["offset"]
        except (KeyError, TypeError) as exc:
            raise OffsetFileError(f"each partition needs topic, partition and offset: {entry!r}") from exc
        if not isinstance(topic, str) or not _is_int(partition) or not _is_int(offset):
            raise OffsetFileError(f"topic must be a string, partition and offset integers: {entry!r}")
        deletions.append(Deletion(topic, partition, offset))
    names = [d.name for d in deletions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise OffsetFileError(f"Offset json file contains duplicate topic partitions: {','.join(duplicates)}")
    return deletions


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def run(args: argparse.Namespace) -> int:
    try:
        deletions = parse_offsets(args.offset_json_file.read_text())
    except (OSError, OffsetFileError) as exc:
        return error(str(exc))
    admin = AdminClient(client_config(args))
    print("Executing records delete operation", flush=True)
    futures = admin.delete_records([TopicPartition(d.topic, d.partition, d.offset) for d in deletions],
                                   request_timeout=REQUEST_TIMEOUT, operation_timeout=REQUEST_TIMEOUT)
    by_partition = {(tp.topic, tp.partition): future for tp, future in futures.items()}
    print("Records delete operation completed:")
    failed = False
    for deletion in deletions:
        try:
            result = by_partition[(deletion.topic, deletion.partition)].result(REQUEST_TIMEOUT + 5)
        except KafkaException as exc:
            failed = True
            print(f"partition: {deletion.name}\terror: {describe(exc)}")
            continue
        print(f"partition: {deletion.name}\tlow_watermark: {result.low_watermark}")
    return 1 if failed else 0


def describe(exc: KafkaException) -> str:
    """`NAME: description` of the error a partition answered."""
    err = exc.args[0] if exc.args else None
    if err is not None and hasattr(err, "name") and hasattr(err, "str"):
        return f"{err.name()}: {err.str()}"
    return str(exc)
