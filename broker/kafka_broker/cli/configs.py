"""`kopfka configs`: Kafka 3.x's `kafka-configs.sh` for topics and brokers, on confluent-kafka's AdminClient.

`--describe` prints Kafka's lines: a heading (`Dynamic configs for topic T are:`, `All configs for broker 1
are:`, `Default configs for brokers in the cluster are:`) then, sorted by name, one
`  name=value sensitive=false synonyms={SOURCE:name=value, ...}` per entry; without `--all` only the
entries set at the level described (topic overrides, the broker's own dynamic configs, or the cluster
default's). `--alter` applies `--add-config k=v,k2=[a,b]` (a value with commas in brackets, as in Kafka)
and `--delete-config k,k2` with IncrementalAlterConfigs and prints `Completed updating config for topic T.`
(`... for broker 1.`, `Completed updating default config for brokers in the cluster.`). A broker's
configs are described by that broker (the admin client sends the request there, as Kafka's does).
Errors print `Error while executing config command with args '...'` and the broker's message on
stderr, exit 1.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)

from kafka_broker.cli.options import add_bootstrap, client_config

HELP = "describe and alter topic and broker configs (like kafka-configs.sh)"

REQUEST_TIMEOUT = 30.0  # seconds, per admin request

_ENTITY_TYPES = {"topics": ResourceType.TOPIC, "brokers": ResourceType.BROKER}
_OWN_SOURCE = {
    "topics": ConfigSource.DYNAMIC_TOPIC_CONFIG.value,
    "brokers": ConfigSource.DYNAMIC_BROKER_CONFIG.value,
}


class ConfigCommandError(Exception):
    """A failure to report as Kafka's ConfigCommand does."""


def configure(parser: argparse.ArgumentParser) -> None:
    add_bootstrap(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--describe", dest="action", action="store_const", const="describe",
                        help="list the configs of the entity")
    action.add_argument("--alter", dest="action", action="store_const", const="alter",
                        help="change the configs of the entity")
    parser.add_argument("--entity-type", required=True, choices=sorted(_ENTITY_TYPES))
    entity = parser.add_mutually_exclusive_group(required=True)
    entity.add_argument("--entity-name", help="topic name or broker id")
    entity.add_argument("--entity-default", action="store_true", help="the cluster-wide default (brokers)")
    parser.add_argument("--all", action="store_true", help="--describe: every config, not only those set here")
    parser.add_argument("--add-config", default="", metavar="K=V,...",
                        help="configs to set: k1=v1,k2=[v2,v3] (a list value in brackets)")
    parser.add_argument("--delete-config", default="", metavar="K,...", help="configs to remove")


def parse_add_config(text: str) -> dict[str, str]:
    """``k1=v1,k2=[a,b]`` → ``{"k1": "v1", "k2": "a,b"}`` (Kafka's ``--add-config`` syntax)."""
    configs: dict[str, str] = {}
    for item in re.findall(r"(?:[^,\[]|\[[^\]]*\])+", text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigCommandError(f"Invalid entity config: all configs to be added must be in the format "
                                     f"\"key=val\" or \"key=[val1,val2]\", got {item!r}")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        configs[key.strip()] = value
    return configs


def entry_line(entry: Any) -> str:
    """``  name=value sensitive=false synonyms={SOURCE:name=value, ...}`` as kafka-configs prints an entry."""
    synonyms = ", ".join(f"{ConfigSource(s.source).name}:{s.name}={_value(s)}" for s in entry.synonyms.values())
    sensitive = "true" if entry.is_sensitive else "false"
    return f"  {entry.name}={_value(entry)} sensitive={sensitive} synonyms={{{synonyms}}}"


def _value(entry: Any) -> str:
    return "null" if entry.value is None else str(entry.value)


def describe_lines(entity_type: str, name: str | None, entries: Mapping[str, Any], *, every: bool) -> list[str]:
    """The heading and entry lines of ``--describe`` (see the module docstring)."""
    if name is None:
        heading = "Default configs for brokers in the cluster are:"
        own = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    else:
        kind = "topic" if entity_type == "topics" else "broker"
        heading = f"{'All' if every else 'Dynamic'} configs for {kind} {name} are:"
        own = _OWN_SOURCE[entity_type]
    shown = [e for _, e in sorted(entries.items()) if every or e.source == own]
    return [heading, *(entry_line(e) for e in shown)]


def _resource(args: argparse.Namespace) -> tuple[ResourceType, str | None]:
    if args.entity_default and args.entity_type != "brokers":
        raise ConfigCommandError("--entity-default is only for --entity-type brokers here")
    return _ENTITY_TYPES[args.entity_type], None if args.entity_default else args.entity_name


def describe(admin: AdminClient, args: argparse.Namespace) -> None:
    rtype, name = _resource(args)
    resource = ConfigResource(rtype, name or "")
    entries = admin.describe_configs([resource], request_timeout=REQUEST_TIMEOUT)[resource].result()
    for line in describe_lines(args.entity_type, name, entries, every=args.all):
        print(line)


def alter(admin: AdminClient, args: argparse.Namespace) -> None:
    rtype, name = _resource(args)
    added = parse_add_config(args.add_config)
    deleted = [k.strip() for k in args.delete_config.split(",") if k.strip()]
    if not added and not deleted:
        raise ConfigCommandError("--alter needs --add-config or --delete-config")
    ops = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in added.items()]
    ops += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in deleted]
    resource = ConfigResource(rtype, name or "", incremental_configs=ops)
    admin.incremental_alter_configs([resource], request_timeout=REQUEST_TIMEOUT)[resource].result()
    if name is None:
        print("Completed updating default config for brokers in the cluster.")
    else:
        print(f"Completed updating config for {'topic' if args.entity_type == 'topics' else 'broker'} {name}.")


def run(args: argparse.Namespace) -> int:
    admin = AdminClient(client_config(args))
    try:
        (describe if args.action == "describe" else alter)(admin, args)
    except (KafkaException, ConfigCommandError) as exc:
        reason = exc.args[0].str() if isinstance(exc, KafkaException) and exc.args else str(exc)
        argv = shlex.join(sys.argv[2:]) if len(sys.argv) > 2 else ""
        print(f"Error while executing config command with args '{argv}'\n{reason}", file=sys.stderr, flush=True)
        return 1
    return 0
