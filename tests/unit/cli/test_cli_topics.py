"""`kopfka topics`: Kafka's output lines, topic filtering and argument rules, without a cluster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import Uuid
from confluent_kafka.admin import ConfigSource

from kafka_broker.cli import topics
from kafka_broker.cli.main import build_parser


def test_partition_line_is_kafkas_tab_separated_format() -> None:
    line = topics.partition_line("orders", 0, 1, [1, 2], [1, 2])
    assert line == "Topic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2"


def test_partition_line_without_leader_says_none() -> None:
    assert topics.partition_line("t", 3, None, [2], []) == "Topic: t\tPartition: 3\tLeader: none\tReplicas: 2\tIsr: "


def test_topic_ids_print_in_kafkas_url_safe_base64() -> None:
    assert topics.format_topic_id(Uuid(0x40FDDE3E2B4A4B27, 0x0A2B0B9C0FF0FFFF)) == "QP3ePitKSycKKwucD_D__w"
    assert topics.format_topic_id(Uuid(-5, 7)) == "__________sAAAAAAAAABw"


def test_summary_line() -> None:
    partitions = [SimpleNamespace(replicas=[1, 2, 3]), SimpleNamespace(replicas=[2, 3, 1])]
    line = topics.summary_line("t", "AbCd", partitions, [("retention.ms", "1000"), ("cleanup.policy", "compact")])
    assert line == (
        "Topic: t\tTopicId: AbCd\tPartitionCount: 2\tReplicationFactor: 3\t"
        "Configs: retention.ms=1000,cleanup.policy=compact"
    )


def test_summary_line_of_a_topic_without_overrides_ends_with_an_empty_configs() -> None:
    assert topics.summary_line("t", "x", [SimpleNamespace(replicas=[1])], []).endswith("\tConfigs: ")


def test_non_default_configs_keeps_overrides_and_broker_settings_only() -> None:
    entries = {
        "retention.ms": SimpleNamespace(value="1000", source=ConfigSource.DYNAMIC_TOPIC_CONFIG),
        "segment.bytes": SimpleNamespace(value="1048576", source=ConfigSource.STATIC_BROKER_CONFIG),
        "cleanup.policy": SimpleNamespace(value="delete", source=ConfigSource.DEFAULT_CONFIG),
    }
    assert topics.non_default_configs(entries) == [("retention.ms", "1000"), ("segment.bytes", "1048576")]


@pytest.mark.parametrize(
    ("pattern", "exclude_internal", "expected"),
    [
        (None, False, ["__consumer_offsets", "a", "ab", "b"]),
        (None, True, ["a", "ab", "b"]),
        ("a", False, ["a"]),  # a full match, not a search
        ("a.*", False, ["a", "ab"]),
        ("__.*", True, []),
    ],
)
def test_filter_topics(pattern: str | None, exclude_internal: bool, expected: list[str]) -> None:
    names = ["b", "ab", "__consumer_offsets", "a"]
    assert topics.filter_topics(names, pattern, exclude_internal=exclude_internal) == expected


def test_parse_replica_assignment() -> None:
    assert topics.parse_replica_assignment("1:2,2:3,3") == [[1, 2], [2, 3], [3]]
    with pytest.raises(topics.TopicCommandError):
        topics.parse_replica_assignment("1:x")


def test_exactly_one_action_is_required() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["topics", "--bootstrap-server", "b:1", "--list", "--describe"])
    with pytest.raises(SystemExit):
        parser.parse_args(["topics", "--bootstrap-server", "b:1"])


def test_configs_are_key_value_pairs() -> None:
    args = build_parser().parse_args(
        ["topics", "--bootstrap-server", "b:1", "--create", "--topic", "t", "--config", "a=1", "--config", "b=x=y"]
    )
    assert args.action == "create"
    assert args.config == [("a", "1"), ("b", "x=y")]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["topics", "--bootstrap-server", "b:1", "--create", "--config", "novalue"])


def test_an_unreachable_cluster_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    topics.REQUEST_TIMEOUT, saved = 2.0, topics.REQUEST_TIMEOUT
    try:
        args = build_parser().parse_args(["topics", "--bootstrap-server", "127.0.0.1:1", "--list"])
        assert args.run(args) == 1
    finally:
        topics.REQUEST_TIMEOUT = saved
    assert capsys.readouterr().err.startswith("Error while executing topic command : ")
