"""`kopfka groups`: Kafka's `kafka-consumer-groups.sh --list | --describe` on confluent-kafka's AdminClient.

`--list` prints one group id per line. `--describe --group G` prints, as Kafka's ConsumerGroupCommand
does, a blank line and then a table with one row per partition the group owns or has committed::

    GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID

Unknown values are `-` (no committed offset, or a partition no member owns); members that own no
partition get a row with `-` for topic and partition. A group without members is announced with
`Consumer group 'G' has no active members.` and one that is rebalancing with
`Warning: Consumer group 'G' is rebalancing.` (on stderr, as Kafka prints them); a group that does not
exist is an error (`Error: Consumer group 'G' does not exist.`, exit 1).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, MemberDescription

from kafka_broker.cli.options import ClientConfig, add_bootstrap, client_config, error

HELP = "list consumer groups and describe their members, offsets and lag (like kafka-consumer-groups.sh)"

REQUEST_TIMEOUT = 30.0  # seconds, per admin request
HEADER = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
          "CLIENT-ID")


@dataclass(frozen=True)
class Row:
    group: str
    topic: str
    partition: str
    current_offset: str
    log_end_offset: str
    lag: str
    consumer_id: str
    host: str
    client_id: str

    def cells(self) -> tuple[str, ...]:
        return (self.group, self.topic, self.partition, self.current_offset, self.log_end_offset, self.lag,
                self.consumer_id, self.host, self.client_id)


def configure(parser: argparse.ArgumentParser) -> None:
    add_bootstrap(parser)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", dest="action", action="store_const", const="list", help="list all groups")
    action.add_argument("--describe", dest="action", action="store_const", const="describe",
                        help="describe a group: members, committed offsets, log end offsets and lag")
    parser.add_argument("--group", help="the group to describe")


def run(args: argparse.Namespace) -> int:
    admin = AdminClient(client_config(args))
    try:
        if args.action == "list":
            return list_groups(admin)
        if not args.group:
            return error("Error: --describe needs --group")
        return describe_group(admin, client_config(args), args.group)
    except KafkaException as exc:
        return error(f"Error: {exc.args[0].str() if exc.args and hasattr(exc.args[0], 'str') else exc}")


def list_groups(admin: AdminClient) -> int:
    result = admin.list_consumer_groups(request_timeout=REQUEST_TIMEOUT).result(REQUEST_TIMEOUT + 5)
    for listing in sorted(result.valid, key=lambda g: g.group_id):
        print(listing.group_id)
    for err in result.errors:
        print(f"Error: {err}", file=sys.stderr)
    return 1 if result.errors else 0


def describe_group(admin: AdminClient, config: ClientConfig, group: str) -> int:
    description = admin.describe_consumer_groups([group], request_timeout=REQUEST_TIMEOUT)[group].result(
        REQUEST_TIMEOUT + 5)
    state = getattr(description.state, "name", str(description.state)).upper()
    offsets_request = [ConsumerGroupTopicPartitions(group)]
    offsets_result = admin.list_consumer_group_offsets(offsets_request, request_timeout=REQUEST_TIMEOUT)[group]
    committed = {(tp.topic, tp.partition): tp.offset for tp in offsets_result.result(REQUEST_TIMEOUT + 5)
                 .topic_partitions or [] if tp.error is None}
    if state == "DEAD" and not committed:
        return error(f"Error: Consumer group '{group}' does not exist.")
    owner: dict[tuple[str, int], MemberDescription] = {}
    idle_members = []
    for member in description.members:
        partitions = member.assignment.topic_partitions if member.assignment else []
        if not partitions:
            idle_members.append(member)
        for tp in partitions:
            owner[(tp.topic, tp.partition)] = member
    partitions = sorted(set(owner) | {tp for tp, offset in committed.items() if offset >= 0})
    ends = log_end_offsets(config, partitions)
    rows = []
    for topic, partition in partitions:
        member = owner.get((topic, partition))
        offset = committed.get((topic, partition), -1)
        end = ends.get((topic, partition), -1)
        rows.append(Row(
            group, topic, str(partition),
            str(offset) if offset >= 0 else "-",
            str(end) if end >= 0 else "-",
            str(max(end - offset, 0)) if offset >= 0 and end >= 0 else "-",
            member.member_id if member else "-", member.host if member else "-", member.client_id if member else "-",
        ))
    for member in idle_members:
        rows.append(Row(group, "-", "-", "-", "-", "-", member.member_id, member.host, member.client_id))
    if state.startswith(("PREPARING_REBALANC", "COMPLETING_REBALANC")):
        print(f"\nWarning: Consumer group '{group}' is rebalancing.", file=sys.stderr)
    elif not description.members:
        print(f"\nConsumer group '{group}' has no active members.", file=sys.stderr)
    print()
    print_table([HEADER, *(row.cells() for row in rows)])
    return 0


def log_end_offsets(config: ClientConfig, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    if not partitions:
        return {}
    consumer = Consumer({**config, "group.id": "kopfka-groups-command", "enable.auto.commit": False})
    try:
        ends = {}
        for topic, partition in partitions:
            try:
                ends[(topic, partition)] = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                          timeout=REQUEST_TIMEOUT)[1]
            except KafkaException:
                ends[(topic, partition)] = -1
        return ends
    finally:
        consumer.close()


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns left-aligned, each as wide as its longest cell plus one space (the last one unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(" ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)) + " " + row[-1])
