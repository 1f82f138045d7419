"""`kopfka delete-records`: Kafka's offset JSON, Kafka's output lines, and the exit code, without a cluster
(the AdminClient is replaced by one answering as the brokers would)."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from kafka_broker.cli import delete_records
from kafka_broker.cli.delete_records import Deletion, OffsetFileError, parse_offsets
from kafka_broker.cli.main import build_parser


def test_parses_kafkas_offset_json_in_the_files_order() -> None:
    text = json.dumps({"partitions": [{"topic": "b", "partition": 1, "offset": 5},
                                      {"topic": "a", "partition": 0, "offset": -1}], "version": 1})
    assert parse_offsets(text) == [Deletion("b", 1, 5), Deletion("a", 0, -1)]


def test_the_version_may_be_left_out() -> None:
    assert parse_offsets('{"partitions": [{"topic": "t", "partition": 0, "offset": 3}]}') == [Deletion("t", 0, 3)]


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "The input string is not a valid JSON"),
    ('{"partitions": [], "version": 2}', "Not supported version field value 2"),
    ('{"version": 1}', "Missing partitions field"),
    ('{"partitions": [{"topic": "t", "partition": 0}]}', "each partition needs topic, partition and offset"),
    ('{"partitions": [{"topic": "t", "partition": "0", "offset": 1}]}', "partition and offset integers"),
    ('{"partitions": [{"topic": "t", "partition": 0, "offset": 1}, {"topic": "t", "partition": 0, "offset": 2}]}',
     "Offset json file contains duplicate topic partitions: t-0"),
])
def test_malformed_files_are_refused_with_kafkas_messages(text: str, message: str) -> None:
    with pytest.raises(OffsetFileError, match=message):
        parse_offsets(text)


class FakeAdmin:
    """Answers delete_records per partition: a low watermark, or the error of ``failures``."""

    def __init__(self, config: dict[str, Any], failures: dict[tuple[str, int], KafkaError]) -> None:
        self.config = config
        self.failures = failures
        self.asked: list[TopicPartition] = []

    def delete_records(self, partitions: list[TopicPartition], **_: Any) -> dict[TopicPartition, Future[Any]]:
        self.asked = partitions
        futures = {}
        for tp in reversed(partitions):  # (a dict in another order than asked: the output keeps the file's)
            future: Future[Any] = Future()
            failure = self.failures.get((tp.topic, tp.partition))
            if failure is None:
                future.set_result(SimpleNamespace(low_watermark=tp.offset if tp.offset >= 0 else 42))
            else:
                future.set_exception(KafkaException(failure))
            futures[TopicPartition(tp.topic, tp.partition)] = future
        return futures


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, Any],
        failures: dict[tuple[str, int], KafkaError] | None = None) -> tuple[int, list[FakeAdmin]]:
    admins: list[FakeAdmin] = []

    def make(config: dict[str, Any]) -> FakeAdmin:
        admins.append(FakeAdmin(config, failures or {}))
        return admins[-1]

    monkeypatch.setattr(delete_records, "AdminClient", make)
    path = tmp_path / "offsets.json"
    path.write_text(json.dumps(document))
    args = build_parser().parse_args(["delete-records", "--bootstrap-server", "b:9092",
                                      "--offset-json-file", str(path)])
    return args.run(args), admins


def test_prints_each_partitions_low_watermark_like_kafkas_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, [admin] = run(tmp_path, monkeypatch, {"partitions": [{"topic": "t", "partition": 0, "offset": 7},
                                                               {"topic": "t", "partition": 1, "offset": -1}],
                                                "version": 1})
    assert code == 0
    assert admin.config["bootstrap.servers"] == "b:9092"
    assert [(tp.topic, tp.partition, tp.offset) for tp in admin.asked] == [("t", 0, 7), ("t", 1, -1)]
    assert capsys.readouterr().out.splitlines() == [
        "Executing records delete operation",
        "Records delete operation completed:",
        "partition: t-0\tlow_watermark: 7",
        "partition: t-1\tlow_watermark: 42",
    ]


def test_a_failed_partition_prints_its_error_and_fails_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = {("t", 1): KafkaError(KafkaError.OFFSET_OUT_OF_RANGE)}
    code, _ = run(tmp_path, monkeypatch, {"partitions": [{"topic": "t", "partition": 0, "offset": 1},
                                                         {"topic": "t", "partition": 1, "offset": 99}]}, failures)
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "partition: t-0\tlow_watermark: 1"
    assert lines[3].startswith("partition: t-1\terror: OFFSET_OUT_OF_RANGE")


def test_a_bad_file_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, admins = run(tmp_path, monkeypatch, {"partitions": [], "version": 3})
    assert (code, admins) == (1, [])
    assert "Not supported version field value 3" in capsys.readouterr().err


def test_both_options_are_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["delete-records", "--bootstrap-server", "b:9092"])
