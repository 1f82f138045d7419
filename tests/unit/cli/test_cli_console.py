"""Console producer line parsing and console consumer formatting, as Kafka's tools do them."""

from __future__ import annotations

import argparse

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE

from kafka_broker.cli import console_consumer, console_producer
from kafka_broker.cli.console_consumer import RecordFormat
from kafka_broker.cli.console_producer import LineFormatError, LineReader
from kafka_broker.cli.main import build_parser


@pytest.mark.parametrize(
    ("raw", "line"),
    [(b"abc\n", b"abc"), (b"abc\r\n", b"abc"), (b"abc", b"abc"), (b"\n", b""), (b"a\rb\n", b"a\rb")],
)
def test_line_endings_are_dropped(raw: bytes, line: bytes) -> None:
    assert console_producer.strip_line_ending(raw) == line


def test_lines_are_values_without_parse_key() -> None:
    assert LineReader().parse(b"k\tv", 1) == (None, b"k\tv")


def test_parse_key_splits_at_the_first_separator() -> None:
    reader = LineReader.from_properties({"parse.key": "true", "key.separator": ":"})
    assert reader.parse(b"user-1:a:b", 1) == (b"user-1", b"a:b")
    assert reader.parse(b":v", 2) == (b"", b"v")


def test_a_line_without_separator_is_an_error_unless_ignored() -> None:
    with pytest.raises(LineFormatError, match="No key separator found on line number 7"):
        LineReader(parse_key=True).parse(b"nokey", 7)
    assert LineReader(parse_key=True, ignore_error=True).parse(b"nokey", 7) == (None, b"nokey")


def test_null_marker() -> None:
    reader = LineReader.from_properties({"parse.key": "true", "null.marker": "NULL"})
    assert reader.parse(b"NULL\tv", 1) == (None, b"v")
    assert reader.parse(b"k\tNULL", 1) == (b"k", None)


def test_booleans_are_read_like_kafka() -> None:
    assert not LineReader.from_properties({"parse.key": "yes"}).parse_key
    assert LineReader.from_properties({"parse.key": "TRUE"}).parse_key


def test_delivery_report_counts_and_explains_failures(capsys: pytest.CaptureFixture[str]) -> None:
    class Msg:
        def key(self) -> bytes:
            return b"k"

        def value(self) -> bytes | None:
            return None

    class Err:
        def str(self) -> str:
            return "Broker: Not enough in-sync replicas"

    report = console_producer.DeliveryReport("t")
    report(None, Msg())
    report(Err(), Msg())
    assert (report.delivered, report.failed) == (1, 1)
    assert capsys.readouterr().err == (
        "Error when sending message to topic t with key: 1 bytes, value: null with error: "
        "Broker: Not enough in-sync replicas\n"
    )


def test_producer_settings() -> None:
    args = build_parser().parse_args(
        [
            "console-producer",
            "--bootstrap-server",
            "b:1",
            "--topic",
            "t",
            "--compression-codec",
            "--request-required-acks",
            "all",
            "--producer-property",
            "linger.ms=50",
        ]
    )
    config = console_producer.producer_config(args)
    assert config["compression.type"] == "gzip"  # Kafka's default when the flag has no value
    assert config["acks"] == "all"
    assert config["linger.ms"] == "50"


def fmt(props: dict[str, str], **record: object) -> bytes:
    defaults: dict[str, object] = {
        "key": b"k",
        "value": b"v",
        "partition": 2,
        "offset": 7,
        "timestamp": (TIMESTAMP_CREATE_TIME, 1234),
    }
    return RecordFormat.from_properties(props).format(**(defaults | record))  # type: ignore[arg-type]


def test_values_only_by_default() -> None:
    assert fmt({}) == b"v\n"


def test_key_and_value() -> None:
    assert fmt({"print.key": "true"}) == b"k\tv\n"
    assert fmt({"print.key": "true", "key.separator": " => "}) == b"k => v\n"
    assert fmt({"print.key": "true"}, key=None) == b"null\tv\n"


def test_every_column_in_kafkas_order() -> None:
    props = {"print.timestamp": "true", "print.partition": "true", "print.offset": "true", "print.key": "true"}
    assert fmt(props) == b"CreateTime:1234\tPartition:2\tOffset:7\tk\tv\n"
    assert fmt({"print.timestamp": "true"}, timestamp=(TIMESTAMP_NOT_AVAILABLE, -1)) == b"NO_TIMESTAMP\tv\n"
    assert fmt({"print.value": "false", "print.key": "true"}) == b"k\n"


def consumer_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["console-consumer", "--bootstrap-server", "b:1", "--topic", "t", *extra])


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (("--offset", "3"), "The partition is required when offset is specified."),
        (("--partition", "0", "--offset", "3", "--from-beginning"), "cannot be specified together"),
        (("--group", "g", "--partition", "0"), "cannot be specified together"),
        (("--partition", "0", "--offset", "-5"), "non-negative"),
        (("--partition", "0", "--offset", "soon"), "non-negative"),
    ],
)
def test_invalid_option_combinations(extra: tuple[str, ...], problem: str) -> None:
    message = console_consumer.validate(consumer_args(*extra))
    assert message is not None and problem in message


def test_start_offsets() -> None:
    assert console_consumer.start_offset(consumer_args()) == OFFSET_END
    assert console_consumer.start_offset(consumer_args("--from-beginning")) == OFFSET_BEGINNING
    assert console_consumer.start_offset(consumer_args("--partition", "1", "--offset", "earliest")) == OFFSET_BEGINNING
    assert console_consumer.start_offset(consumer_args("--partition", "1", "--offset", "42")) == 42


def test_without_group_nothing_is_committed() -> None:
    config = console_consumer.consumer_config(consumer_args("--from-beginning"))
    assert config["enable.auto.commit"] is False
    assert config["auto.offset.reset"] == "earliest"
    grouped = console_consumer.consumer_config(consumer_args("--group", "g"))
    assert grouped["group.id"] == "g"
    assert "enable.auto.commit" not in grouped
