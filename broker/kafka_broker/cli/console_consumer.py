"""`kopfka console-consumer`: print records one per line, like `kafka-console-consumer.sh`.

Output follows Kafka's DefaultMessageFormatter: optional `CreateTime:<ms>`, `Partition:<p>`,
`Offset:<o>` and key columns, then the value, joined by `key.separator` (TAB), ended by
`line.separator` (newline); a null key or value prints as `null`. Bytes are written as they are.

Where it reads, and the one difference from Kafka's tool:
- `--group G`: subscribes as member of consumer group G (offsets committed; `--from-beginning`
  applies when the group has no committed offset).
- no `--group`: assigns itself every partition of the topic, without any group — Kafka's tool would
  invent a throw-away group instead. Reading then needs no group coordinator and leaves nothing behind.
- `--partition P [--offset earliest|latest|N]`: reads that one partition only.

It stops after `--max-messages`, after `--timeout-ms` without any record, or on SIGINT/SIGTERM,
and then reports `Processed a total of N messages` on stderr, as Kafka's tool does.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from kafka_broker.cli.options import add_bootstrap, client_config, error, key_value, to_dict, truthy

HELP = "print records of a topic (like kafka-console-consumer.sh)"

FATAL_CODES = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    }
)


@dataclass(frozen=True)
class RecordFormat:
    """Kafka's DefaultMessageFormatter properties (print.key, key.separator, …)."""

    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_key: bool = False
    print_value: bool = True
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    null_literal: bytes = b"null"

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> RecordFormat:
        return cls(
            print_timestamp=truthy(props.get("print.timestamp")),
            print_partition=truthy(props.get("print.partition")),
            print_offset=truthy(props.get("print.offset")),
            print_key=truthy(props.get("print.key")),
            print_value=props.get("print.value", "true").strip().lower() == "true",
            key_separator=props.get("key.separator", "\t").encode(),
            line_separator=props.get("line.separator", "\n").encode(),
            null_literal=props.get("null.literal", "null").encode(),
        )

    def format(
        self,
        *,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        offset: int,
        timestamp: tuple[int, int],
    ) -> bytes:
        columns: list[bytes] = []
        if self.print_timestamp:
            kind, ms = timestamp
            label = {TIMESTAMP_CREATE_TIME: "CreateTime", TIMESTAMP_LOG_APPEND_TIME: "LogAppendTime"}.get(kind)
            columns.append(f"{label}:{ms}".encode() if label else b"NO_TIMESTAMP")
        if self.print_partition:
            columns.append(f"Partition:{partition}".encode())
        if self.print_offset:
            columns.append(f"Offset:{offset}".encode())
        if self.print_key:
            columns.append(self.null_literal if key is None else key)
        if self.print_value:
            columns.append(self.null_literal if value is None else value)
        return self.key_separator.join(columns) + self.line_separator


def configure(parser: argparse.ArgumentParser) -> None:
    add_bootstrap(parser, config_flags=("--consumer.config", "--consumer-config"))
    parser.add_argument("--topic", required=True)
    parser.add_argument("--from-beginning", action="store_true", help="start at the earliest offset")
    parser.add_argument("--max-messages", type=int, help="exit after this many records")
    parser.add_argument("--timeout-ms", type=int, help="exit when no record came for this long")
    parser.add_argument(
        "--property",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="formatter: print.key, print.value, print.partition, print.offset, print.timestamp, "
        "key.separator, line.separator, null.literal",
    )
    parser.add_argument("--group", help="consumer group to join (default: no group, read every partition)")
    parser.add_argument("--partition", type=int, help="read only this partition")
    parser.add_argument("--offset", help="with --partition: earliest, latest or an offset (default latest)")
    parser.add_argument(
        "--consumer-property",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="librdkafka consumer setting",
    )


def start_offset(args: argparse.Namespace) -> int:
    """The offset to start an assigned partition at."""
    if args.offset is None:
        return OFFSET_BEGINNING if args.from_beginning else OFFSET_END
    named = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}
    if args.offset in named:
        return named[args.offset]
    offset = int(args.offset)
    if offset < 0:
        raise ValueError("--offset must be earliest, latest or a non-negative number")
    return offset


def validate(args: argparse.Namespace) -> str | None:
    """Kafka's option rules; the problem, or None."""
    if args.offset is not None and args.partition is None:
        return "The partition is required when offset is specified."
    if args.offset is not None and args.from_beginning:
        return "Options from-beginning and offset cannot be specified together."
    if args.group is not None and args.partition is not None:
        return "Options group and partition cannot be specified together."
    if args.offset is not None:
        try:
            start_offset(args)
        except ValueError:
            return "The offset must be earliest, latest or a non-negative number."
    return None


def consumer_config(args: argparse.Namespace) -> dict[str, object]:
    config: dict[str, object] = {
        **client_config(args),
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.partition.eof": False,
    }
    if args.group is not None:
        config["group.id"] = args.group
    else:
        # librdkafka wants a group.id even for assign(); it is never joined and nothing is committed.
        config["group.id"] = f"kopfka-console-consumer-{uuid.uuid4().hex[:8]}"
        config["enable.auto.commit"] = False
        config["enable.auto.offset.store"] = False
    config.update(to_dict(args.consumer_property))
    return config


def attach(consumer: Consumer, args: argparse.Namespace) -> str | None:
    """Subscribe or assign partitions; returns an error message when the topic cannot be read."""
    if args.group is not None:
        consumer.subscribe([args.topic])
        return None
    metadata = consumer.list_topics(args.topic, timeout=30).topics.get(args.topic)
    if metadata is None or metadata.error is not None:
        reason = metadata.error.str() if metadata is not None and metadata.error else "not found"
        return f"Topic {args.topic} cannot be read: {reason}"
    partitions = sorted(metadata.partitions) if args.partition is None else [args.partition]
    if args.partition is not None and args.partition not in metadata.partitions:
        return f"Topic {args.topic} has no partition {args.partition}"
    offset = start_offset(args)
    consumer.assign([TopicPartition(args.topic, p, offset) for p in partitions])
    return None


def consume(
    consumer: Consumer, out: BinaryIO, fmt: RecordFormat, *, max_messages: int | None, timeout_ms: int | None
) -> tuple[int, str | None]:
    """Print records until a limit is reached or SIGINT/SIGTERM; returns (count, fatal error or None)."""
    count = 0
    last_record = time.monotonic()
    try:
        while max_messages is None or count < max_messages:
            want = 500 if max_messages is None else min(500, max_messages - count)
            batch: list[Message] = consumer.consume(num_messages=want, timeout=0.2)
            chunks = []
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() in FATAL_CODES or err.fatal():
                        return count, err.str()
                    print(f"[warning] {err.str()}", file=sys.stderr, flush=True)
                    continue
                partition, offset = msg.partition(), msg.offset()
                if partition is None or offset is None:  # only error events lack them
                    continue
                chunks.append(
                    fmt.format(
                        key=msg.key(),
                        value=msg.value(),
                        partition=partition,
                        offset=offset,
                        timestamp=msg.timestamp(),
                    )
                )
            if chunks:
                count += len(chunks)
                out.write(b"".join(chunks))
                out.flush()
                last_record = time.monotonic()
            elif timeout_ms is not None and (time.monotonic() - last_record) * 1000 >= timeout_ms:
                break
    except KeyboardInterrupt:
        pass
    return count, None


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    problem = validate(args)
    if problem:
        return error(problem)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    consumer = Consumer(consumer_config(args))
    count, fatal = 0, None
    try:
        fatal = attach(consumer, args)
        if fatal is None:
            count, fatal = consume(
                consumer,
                sys.stdout.buffer,
                RecordFormat.from_properties(to_dict(args.property)),
                max_messages=args.max_messages,
                timeout_ms=args.timeout_ms,
            )
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `| head` closed our output: a normal way to stop, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        consumer.close()
    print(f"Processed a total of {count} messages", file=sys.stderr, flush=True)
    return error(fatal) if fatal else 0
