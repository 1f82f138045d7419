"""`kopfka topics`: Kafka 3.x's `kafka-topics.sh` on confluent-kafka's AdminClient.

Behaviour follows Kafka's TopicCommand: `--topic` is a regular expression (full match) except for
`--create`; `--list` and `--describe` include internal topics unless `--exclude-internal`; `--create`
prints `Created topic T.`; `--alter` and `--delete` print nothing; errors print
`Error while executing topic command : <reason>` on stderr and exit 1.

One deliberate difference in `--describe`: partition lines are printed as
`Topic: T<TAB>Partition: 0<TAB>Leader: 1<TAB>Replicas: 1,2<TAB>Isr: 1,2` — without the leading tab and
the KRaft-only `Elr: N/A<TAB>LastKnownElr: N/A` columns that Kafka 3.9 adds (always N/A in
ZooKeeper mode). The summary line is Kafka's: `Topic: T<TAB>TopicId: …<TAB>PartitionCount: N<TAB>
ReplicationFactor: R<TAB>Configs: k=v,…`, where Configs lists every entry whose source is not the
built-in default (topic overrides and static broker settings), as Kafka does.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    TopicDescription,
)

from kafka_broker.cli.options import add_bootstrap, client_config, key_value, to_dict

HELP = "create, list, describe, alter and delete topics (like kafka-topics.sh)"

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
"""Kafka's own internal topics (org.apache.kafka.common.internals.Topic)."""

REQUEST_TIMEOUT = 30.0  # seconds, per admin request


class TopicCommandError(Exception):
    """A failure to report as `Error while executing topic command : <message>`."""


def configure(parser: argparse.ArgumentParser) -> None:
    add_bootstrap(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    for name, text in [
        ("create", "create a topic"),
        ("list", "list topic names"),
        ("describe", "describe topics and their partitions"),
        ("alter", "add partitions to a topic"),
        ("delete", "delete topics"),
    ]:
        action.add_argument(f"--{name}", dest="action", action="store_const", const=name, help=text)
    parser.add_argument("--topic", help="topic name; a regular expression except with --create")
    parser.add_argument("--partitions", type=int, help="partition count (--create, --alter)")
    parser.add_argument("--replication-factor", type=int, help="replication factor (--create)")
    parser.add_argument(
        "--replica-assignment",
        help="explicit replicas per partition, e.g. 1:2,2:3 (partition 0 on brokers 1,2; 1 on 2,3)",
    )
    parser.add_argument("--config", type=key_value, action="append", metavar="KEY=VALUE", help="topic config")
    parser.add_argument("--if-not-exists", action="store_true", help="--create: no error if it exists")
    parser.add_argument("--if-exists", action="store_true", help="--alter/--delete/--describe: no error if absent")
    parser.add_argument("--exclude-internal", action="store_true", help="hide internal topics (__*)")
    parser.add_argument("--under-replicated-partitions", action="store_true", help="--describe: only those")
    parser.add_argument("--unavailable-partitions", action="store_true", help="--describe: only leaderless ones")


def run(args: argparse.Namespace) -> int:
    admin = AdminClient(client_config(args))
    try:
        ACTIONS[args.action](admin, args)
    except TimeoutError:
        print(
            f"Error while executing topic command : no answer within {REQUEST_TIMEOUT:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        return 1
    except (TopicCommandError, KafkaException, ValueError) as e:  # ValueError: librdkafka's own checks
        print(f"Error while executing topic command : {describe_error(e)}", file=sys.stderr, flush=True)
        return 1
    return 0


def describe_error(e: Exception) -> str:
    """The broker's or librdkafka's message for an error, without Python's wrapping."""
    if isinstance(e, KafkaException) and e.args and isinstance(e.args[0], KafkaError):
        return str(e.args[0].str())
    return str(e)


T = TypeVar("T")


def _result(future: Future[T]) -> T:
    return future.result(timeout=REQUEST_TIMEOUT)


# -- actions --------------------------------------------------------------------------------------------


def create(admin: AdminClient, args: argparse.Namespace) -> None:
    topic = _required_topic(args)
    config = to_dict(args.config)
    if args.replica_assignment:
        if args.partitions is not None or args.replication_factor is not None:
            raise TopicCommandError("--replica-assignment excludes --partitions and --replication-factor")
        assignment = parse_replica_assignment(args.replica_assignment)
        # librdkafka wants the partition count spelled out next to an assignment (not its default -1).
        new = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment, config=config)
    else:
        # -1 asks the broker for its num.partitions / default.replication.factor, as Kafka's tool does.
        new = NewTopic(topic, num_partitions=-1 if args.partitions is None else args.partitions,
                       replication_factor=-1 if args.replication_factor is None else args.replication_factor,
                       config=config)
    futures = admin.create_topics([new], request_timeout=REQUEST_TIMEOUT)
    try:
        _result(futures[topic])
    except KafkaException as e:
        if args.if_not_exists and e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise
    print(f"Created topic {topic}.", flush=True)


def list_(admin: AdminClient, args: argparse.Namespace) -> None:
    for name in matching_topics(admin, args.topic, exclude_internal=args.exclude_internal):
        print(name)
    sys.stdout.flush()


def describe(admin: AdminClient, args: argparse.Namespace) -> None:
    names = _existing(admin, args, exclude_internal=args.exclude_internal)
    if not names:
        return
    descriptions = admin.describe_topics(TopicCollection(names), request_timeout=REQUEST_TIMEOUT)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    configs = admin.describe_configs(resources, request_timeout=REQUEST_TIMEOUT)
    partition_filter = args.under_replicated_partitions or args.unavailable_partitions
    for name, resource in zip(names, resources, strict=True):
        desc: TopicDescription = _result(descriptions[name])
        partitions = sorted(desc.partitions, key=lambda p: p.id)
        if not partition_filter:
            entries = _result(configs[resource])
            print(summary_line(name, format_topic_id(desc.topic_id), partitions, non_default_configs(entries)))
        for p in partitions:
            leader = p.leader.id if p.leader is not None and p.leader.id >= 0 else None
            replicas = [n.id for n in p.replicas]
            isr = [n.id for n in p.isr]
            if args.under_replicated_partitions and len(isr) >= len(replicas):
                continue
            if args.unavailable_partitions and leader is not None:
                continue
            print(partition_line(name, p.id, leader, replicas, isr))
    sys.stdout.flush()


def alter(admin: AdminClient, args: argparse.Namespace) -> None:
    if args.partitions is None:
        raise TopicCommandError("--alter needs --partitions (topic configs are changed with kafka-configs)")
    names = _existing(admin, args, exclude_internal=False)
    futures = admin.create_partitions(
        [NewPartitions(name, args.partitions) for name in names], request_timeout=REQUEST_TIMEOUT
    )
    for name in names:
        _result(futures[name])


def delete(admin: AdminClient, args: argparse.Namespace) -> None:
    names = _existing(admin, args, exclude_internal=False)
    if not names:
        return
    futures = admin.delete_topics(names, request_timeout=REQUEST_TIMEOUT)
    for name in names:
        _result(futures[name])


ACTIONS = {"create": create, "list": list_, "describe": describe, "alter": alter, "delete": delete}


# -- helpers (pure where possible, unit-tested) ----------------------------------------------------


def matching_topics(admin: AdminClient, pattern: str | None, *, exclude_internal: bool) -> list[str]:
    """Topic names in the cluster matching `pattern` (full-match regex; all when None), sorted."""
    names = admin.list_topics(timeout=REQUEST_TIMEOUT).topics
    return filter_topics(names, pattern, exclude_internal=exclude_internal)


def filter_topics(names: Iterable[str], pattern: str | None, *, exclude_internal: bool) -> list[str]:
    regex = re.compile(pattern) if pattern is not None else None
    return sorted(
        name
        for name in names
        if (regex is None or regex.fullmatch(name)) and not (exclude_internal and name in INTERNAL_TOPICS)
    )


def parse_replica_assignment(text: str) -> list[list[int]]:
    """Kafka's `--replica-assignment 1:2,2:3` → [[1, 2], [2, 3]] (partition order, broker ids)."""
    try:
        return [[int(b) for b in part.split(":")] for part in text.split(",")]
    except ValueError:
        raise TopicCommandError(f"invalid --replica-assignment {text!r}: expected e.g. 1:2,2:3") from None


def non_default_configs(entries: Mapping[str, object]) -> list[tuple[str, str]]:
    """(name, value) of config entries not at their built-in default, in the broker's order."""
    default = ConfigSource.DEFAULT_CONFIG.value
    out = []
    for name, entry in entries.items():
        source = getattr(entry, "source", default)
        if getattr(source, "value", source) != default:
            value = getattr(entry, "value", None)
            out.append((name, "null" if value is None else str(value)))
    return out


def format_topic_id(topic_id: object) -> str:
    """A topic id as Kafka prints it: URL-safe base64 without padding (confluent-kafka's `str()` of a
    Uuid uses the standard alphabet, `+` and `/`, which Kafka's tools never show)."""
    try:
        msb = topic_id.get_most_significant_bits() & 0xFFFF_FFFF_FFFF_FFFF  # type: ignore[attr-defined]
        lsb = topic_id.get_least_significant_bits() & 0xFFFF_FFFF_FFFF_FFFF  # type: ignore[attr-defined]
    except AttributeError:
        return str(topic_id)
    raw = msb.to_bytes(8, "big") + lsb.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def summary_line(topic: str, topic_id: object, partitions: Sequence[object], configs: Iterable[tuple[str, str]]) -> str:
    replication_factor = len(partitions[0].replicas) if partitions else 0  # type: ignore[attr-defined]
    config_text = ",".join(f"{k}={v}" for k, v in configs)
    return (
        f"Topic: {topic}\tTopicId: {topic_id}\tPartitionCount: {len(partitions)}\t"
        f"ReplicationFactor: {replication_factor}\tConfigs: {config_text}"
    )


def partition_line(topic: str, partition: int, leader: int | None, replicas: Sequence[int], isr: Sequence[int]) -> str:
    return (
        f"Topic: {topic}\tPartition: {partition}\tLeader: {'none' if leader is None else leader}\t"
        f"Replicas: {','.join(map(str, replicas))}\tIsr: {','.join(map(str, isr))}"
    )


def _required_topic(args: argparse.Namespace) -> str:
    if not args.topic:
        raise TopicCommandError(f"--{args.action} needs --topic")
    return str(args.topic)


def _existing(admin: AdminClient, args: argparse.Namespace, *, exclude_internal: bool) -> list[str]:
    """Topics matched by --topic (all for --describe without it); an error when a named topic is absent."""
    if args.action != "describe":
        _required_topic(args)
    names = matching_topics(admin, args.topic, exclude_internal=exclude_internal)
    if args.topic is not None and not names and not args.if_exists:
        raise TopicCommandError(f"Topic '{args.topic}' does not exist as expected")
    return names
