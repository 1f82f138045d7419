"""`kopfka configs`: kafka-configs.sh's argument shapes and output lines, without a cluster."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka.admin import ConfigSource

from kafka_broker.cli import configs
from kafka_broker.cli.main import build_parser


def entry(name: str, value: str | None, source: ConfigSource, *synonyms: tuple[str, str | None, ConfigSource],
          sensitive: bool = False) -> SimpleNamespace:
    return SimpleNamespace(name=name, value=value, source=source.value, is_sensitive=sensitive, synonyms={
        f"{n}-{i}": SimpleNamespace(name=n, value=v, source=s.value) for i, (n, v, s) in enumerate(synonyms)})


ENTRIES = {
    "log.retention.ms": entry("log.retention.ms", "1800000", ConfigSource.DYNAMIC_BROKER_CONFIG,
                              ("log.retention.ms", "1800000", ConfigSource.DYNAMIC_BROKER_CONFIG),
                              ("log.retention.ms", "3600000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
                              ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG)),
    "log.flush.interval.ms": entry("log.flush.interval.ms", None, ConfigSource.DEFAULT_CONFIG),
    "custom.key": entry("custom.key", None, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
                        ("custom.key", None, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG), sensitive=True),
}


def test_entry_lines_are_kafkas() -> None:
    assert configs.entry_line(ENTRIES["log.retention.ms"]) == (
        "  log.retention.ms=1800000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.retention.ms=1800000, "
        "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168}")
    assert configs.entry_line(ENTRIES["log.flush.interval.ms"]) == (
        "  log.flush.interval.ms=null sensitive=false synonyms={}")


def test_describe_shows_the_level_described_unless_all() -> None:
    assert configs.describe_lines("brokers", "1", ENTRIES, every=False) == [
        "Dynamic configs for broker 1 are:", configs.entry_line(ENTRIES["log.retention.ms"])]
    assert configs.describe_lines("brokers", "1", ENTRIES, every=True)[0] == "All configs for broker 1 are:"
    assert len(configs.describe_lines("brokers", "1", ENTRIES, every=True)) == 4
    assert configs.describe_lines("brokers", None, ENTRIES, every=False) == [
        "Default configs for brokers in the cluster are:",
        "  custom.key=null sensitive=true synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:custom.key=null}"]


def test_add_config_takes_kafkas_bracketed_lists() -> None:
    assert configs.parse_add_config("a=1,b=[x,y],c=") == {"a": "1", "b": "x,y", "c": ""}
    with pytest.raises(configs.ConfigCommandError):
        configs.parse_add_config("novalue")


def test_arguments_as_kafka_configs_takes_them() -> None:
    args = build_parser().parse_args(["configs", "--bootstrap-server", "h:1", "--entity-type", "brokers",
                                      "--entity-default", "--alter", "--add-config", "log.retention.ms=5"])
    assert (args.action, args.entity_default, args.add_config) == ("alter", True, "log.retention.ms=5")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["configs", "--bootstrap-server", "h:1", "--entity-type", "brokers", "--describe"])
