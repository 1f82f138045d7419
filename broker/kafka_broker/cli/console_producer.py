"""`kopfka console-producer`: each stdin line becomes one record, like `kafka-console-producer.sh`.

Lines are bytes: no decoding, the trailing newline (and a `\\r` before it) is dropped. With
`--property parse.key=true` the text before the first `key.separator` (default TAB) is the key;
a line without a separator is an error (`ignore.error=true`: the whole line becomes the value, no key).
`null.marker=X` turns a key or value equal to X into null. Every record's delivery is awaited:
failures are reported on stderr and make the exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from kafka_broker.cli.options import add_bootstrap, client_config, error, key_value, to_dict, truthy

HELP = "produce stdin lines as records (like kafka-console-producer.sh)"

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


class LineFormatError(ValueError):
    """A line that cannot be split into key and value."""


@dataclass(frozen=True)
class LineReader:
    """How a line becomes (key, value): Kafka's LineMessageReader properties."""

    parse_key: bool = False
    key_separator: bytes = b"\t"
    ignore_error: bool = False
    null_marker: bytes | None = None

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> LineReader:
        marker = props.get("null.marker")
        return cls(
            parse_key=truthy(props.get("parse.key")),
            key_separator=props.get("key.separator", "\t").encode(),
            ignore_error=truthy(props.get("ignore.error")),
            null_marker=marker.encode() if marker is not None else None,
        )

    def parse(self, line: bytes, number: int) -> tuple[bytes | None, bytes | None]:
        """(key, value) of one line (without its line ending); `number` counts from 1, for errors."""
        key: bytes | None = None
        value: bytes | None = line
        if self.parse_key:
            head, sep, tail = line.partition(self.key_separator)
            if sep:
                key, value = head, tail
            elif not self.ignore_error:
                raise LineFormatError(
                    f"No key separator found on line number {number}: '{line.decode(errors='replace')}'"
                )
        if self.null_marker is not None:
            key = None if key == self.null_marker else key
            value = None if value == self.null_marker else value
        return key, value


def strip_line_ending(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    return raw


def configure(parser: argparse.ArgumentParser) -> None:
    add_bootstrap(parser, config_flags=("--producer.config", "--producer-config"))
    parser.add_argument("--topic", required=True)
    parser.add_argument(
        "--property",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="line reader: parse.key, key.separator, ignore.error, null.marker",
    )
    parser.add_argument(
        "--producer-property",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="librdkafka producer setting, e.g. acks=all, linger.ms=5",
    )
    parser.add_argument(
        "--compression-codec",
        nargs="?",
        const="gzip",
        choices=CODECS,
        help="batch compression (gzip when given without a value)",
    )
    parser.add_argument("--request-required-acks", choices=("0", "1", "-1", "all"), help="acks (default: all)")


@dataclass
class DeliveryReport:
    """Counts delivery results; prints each failure like Kafka's ErrorLoggingCallback."""

    topic: str
    delivered: int = 0
    failed: int = 0

    def __call__(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        key = msg.key()
        value = msg.value()
        print(
            f"Error when sending message to topic {self.topic} with key: "
            f"{'null' if key is None else f'{len(key)} bytes'}, "
            f"value: {'null' if value is None else f'{len(value)} bytes'} with error: {err.str()}",
            file=sys.stderr,
            flush=True,
        )


def producer_config(args: argparse.Namespace) -> dict[str, object]:
    config: dict[str, object] = {
        **client_config(args),
        "linger.ms": "5",
        # librdkafka's default is 5 minutes; an interactive tool should give up sooner.
        "message.timeout.ms": "30000",
    }
    if args.compression_codec:
        config["compression.type"] = args.compression_codec
    if args.request_required_acks:
        config["acks"] = args.request_required_acks
    config.update(to_dict(args.producer_property))
    return config


def produce_lines(
    producer: Producer, topic: str, lines: Iterable[bytes], reader: LineReader, report: DeliveryReport
) -> None:
    """Produce one record per line, waiting for queue room when librdkafka's buffer is full."""
    for number, raw in enumerate(lines, start=1):
        key, value = reader.parse(strip_line_ending(raw), number)
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)


def run(args: argparse.Namespace) -> int:
    reader = LineReader.from_properties(to_dict(args.property))
    try:
        producer = Producer(producer_config(args))
    except Exception as e:  # librdkafka rejects unknown or invalid settings here
        return error(f"invalid producer settings: {e}")
    report = DeliveryReport(args.topic)
    status = 0
    try:
        produce_lines(producer, args.topic, sys.stdin.buffer, reader, report)
    except LineFormatError as e:
        status = error(str(e))
    except KeyboardInterrupt:
        pass
    producer.flush()  # every record is now delivered or failed (message.timeout.ms bounds the wait)
    if report.failed:
        return error(f"{report.failed} of {report.failed + report.delivered} records were not delivered")
    return status
