"""The same Kafka 3.9 tool commands against kopfka and against real Apache Kafka 3.9.2, outputs compared.

Two clusters of three brokers run side by side for the module, on the same machinery and the same
server.properties (tests/brokers.py, bench/apache_kafka.py's `ApacheKafkaCluster`): the module's kopfka
`cluster` and `apache`, real Kafka brokers (ZooKeeper mode) with a 512 MB heap each. Every command runs
against both (the two runs at once), and the outputs are compared after replacing only what legitimately
differs between two clusters: broker addresses, log dirs, the ZooKeeper address, topic ids, the group
coordinator (`__consumer_offsets` leaders are placed differently: Kafka starts at a random broker), and
log sizes in bytes. What kopfka does differently on purpose is listed here as an explicit expectation,
each with its reason (README, Compatibility), so a new difference fails a test.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from bench.apache_kafka import ApacheKafkaCluster
from confluent_kafka import Producer
from tests.brokers import ClusterFactory
from tests.integration.admin import wait_for_topic, wait_for_topic_gone
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster

KafkaTool = Callable[..., subprocess.CompletedProcess[str]]
T = TypeVar("T")


class SmallApacheKafka(ApacheKafkaCluster):
    heap = "512m"  # three JVM brokers next to everything else on a 2-core CI machine


@pytest.fixture(scope="module")
def apache(module_cluster_factory: ClusterFactory, kafka_jars: Path) -> LocalCluster:
    return module_cluster_factory(brokers=3, cluster_class=SmallApacheKafka)


class Twins:
    """kopfka's cluster and Apache Kafka's, and Kafka's tools run against both."""

    def __init__(self, kopfka: LocalCluster, kafka: LocalCluster, tool: KafkaTool) -> None:
        self.kopfka, self.kafka, self.tool = kopfka, kafka, tool
        self.pool = ThreadPoolExecutor(2)

    def each(self, action: Callable[[LocalCluster], T]) -> tuple[T, T]:
        """`action(cluster)` on kopfka's cluster and Kafka's at once: (kopfka's result, Kafka's)."""
        kopfka, kafka = self.pool.map(action, (self.kopfka, self.kafka))
        return kopfka, kafka

    def run(self, name: str, *args: str, input: str | None = None) -> tuple[str, str]:
        """`name --bootstrap-server <cluster> args…` on both: the normalised outputs (kopfka's, Kafka's)."""
        return self.each(lambda c: normalised(c, self.tool(name, "--bootstrap-server", c.bootstrap_servers, *args,
                                                           input=input).stdout))


@pytest.fixture(scope="module")
def twins(cluster: LocalCluster, apache: LocalCluster, kafka_tool: KafkaTool) -> Iterator[Twins]:
    twins = Twins(cluster, apache, kafka_tool)
    yield twins
    twins.pool.shutdown()


TOPIC_ID = re.compile(r"TopicId: [A-Za-z0-9_-]{22}")


def normalised(cluster: LocalCluster, text: str) -> str:
    """`text` with this cluster's own addresses and paths replaced by names both clusters share."""
    names = {cluster.zookeeper_connect: "<zookeeper>"}
    for i in cluster.broker_ids:
        names[f"{cluster.host}:{cluster.broker_ports[i]}"] = f"<broker {i}>"
        names[str(cluster.broker_dir(i) / "data")] = f"<log dir {i}>"
    for old in sorted(names, key=len, reverse=True):
        text = text.replace(old, names[old])
    return TOPIC_ID.sub("TopicId: <id>", text)


def create(twins: Twins, topic: str, assignment: str, *args: str) -> None:
    """`kafka-topics --create` on both, same output; then until every broker of each knows the leaders."""
    kopfka, kafka = twins.run("kafka-topics", "--create", "--topic", topic, "--replica-assignment", assignment, *args)
    assert kopfka == kafka == f"Created topic {topic}.\n"
    partitions = len(assignment.split(","))
    twins.each(lambda c: wait_for_topic(c.bootstrap_servers, topic, partitions=partitions))


# -- kafka-broker-api-versions ---------------------------------------------------------------------------------

BROKER_LINE = re.compile(r"^<broker (?P<id>\d+)> \(id: (?P=id) rack: null\) -> \($")
API_LINE = re.compile(
    r"^\t(?P<name>\w+)\((?P<key>\d+)\): (?:(?P<min>\d+)(?: to (?P<max>\d+))? \[usable: \d+\]|UNSUPPORTED),?$"
)

KAFKA_ONLY_APIS = {
    # inter-broker: kopfka's brokers and controller talk through ZooKeeper and Fetch
    "LeaderAndIsr", "StopReplica", "UpdateMetadata", "ControlledShutdown", "AlterPartition", "Envelope",
    "AllocateProducerIds", "UpdateFeatures",
    # not implemented (README, Compatibility: transactions, delegation tokens, log dir moves, KIP-848)
    "AddPartitionsToTxn", "AddOffsetsToTxn", "EndTxn", "WriteTxnMarkers", "TxnOffsetCommit",
    "CreateDelegationToken", "RenewDelegationToken", "ExpireDelegationToken", "DescribeDelegationToken",
    "AlterReplicaLogDirs", "ConsumerGroupHeartbeat", "ConsumerGroupDescribe",
}
"""What Kafka 3.9.2 serves in ZooKeeper mode and kopfka does not."""

RANGE_DEVIATIONS = {
    # Kafka's v0 commits and fetches offsets in ZooKeeper (README, Compatibility: version floor)
    "OffsetCommit": ((1, 9), (0, 9)),
    "OffsetFetch": ((1, 9), (0, 9)),
}
"""API → (kopfka's range, Kafka's) where kopfka advertises a different range on purpose."""


def advertised(output: str) -> dict[str, tuple[int, int]]:
    """The APIs and version ranges every broker advertises (the same on every broker, checked)."""
    brokers: dict[int, dict[str, tuple[int, int]]] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for line in output.splitlines():
        if broker := BROKER_LINE.match(line):
            ranges = brokers.setdefault(int(broker["id"]), {})
        elif api := API_LINE.match(line):
            if api["min"] is not None:
                ranges[api["name"]] = (int(api["min"]), int(api["max"] or api["min"]))
        else:
            assert line == ")", line
    assert sorted(brokers) == [1, 2, 3]
    assert brokers[1] == brokers[2] == brokers[3]
    return brokers[1]


def test_broker_api_versions(twins: Twins) -> None:
    kopfka, kafka = (advertised(out) for out in twins.run("kafka-broker-api-versions"))
    assert {name for name in kopfka if name not in kafka} == set()
    assert {name for name in kafka if name not in kopfka} == KAFKA_ONLY_APIS
    different = {name: (kopfka[name], kafka[name]) for name in kopfka if kopfka[name] != kafka[name]}
    assert different == RANGE_DEVIATIONS


# -- kafka-topics ----------------------------------------------------------------------------------------------


def test_topics_create_describe_alter_list_delete(twins: Twins) -> None:
    create(twins, "compared", "1:2,2:3,3:1", "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact",
           "--config", "max.message.bytes=2000000")
    kopfka, kafka = twins.run("kafka-topics", "--describe", "--topic", "compared")
    assert kopfka == kafka
    assert sorted(kopfka.splitlines()[0].partition("Configs: ")[2].split(",")) == [
        "cleanup.policy=compact", "max.message.bytes=2000000", "retention.ms=3600000"]

    kopfka, kafka = twins.run("kafka-topics", "--alter", "--topic", "compared", "--partitions", "5",
                              "--replica-assignment", "1:2,2:3,3:1,2:1,3:2")
    assert kopfka == kafka == ""
    twins.each(lambda c: wait_for_topic(c.bootstrap_servers, "compared", partitions=5))
    kopfka, kafka = twins.run("kafka-topics", "--describe", "--topic", "compared")
    assert kopfka == kafka
    assert "PartitionCount: 5" in kopfka
    # without an assignment the new partitions' replicas start at a random broker in Kafka: counts only
    kopfka, kafka = twins.run("kafka-topics", "--alter", "--topic", "compared", "--partitions", "6")
    assert kopfka == kafka == ""
    twins.each(lambda c: wait_for_topic(c.bootstrap_servers, "compared", partitions=6))

    create(twins, "other", "3")
    kopfka, kafka = twins.run("kafka-topics", "--list", "--exclude-internal")
    assert kopfka == kafka
    assert {"compared", "other"} <= set(kopfka.split())

    kopfka, kafka = twins.run("kafka-topics", "--delete", "--topic", "compared")
    assert kopfka == kafka == ""
    twins.each(lambda c: wait_for_topic_gone(c.bootstrap_servers, "compared"))
    kopfka, kafka = twins.run("kafka-topics", "--list", "--exclude-internal")
    assert kopfka == kafka
    assert "compared" not in kopfka.split()


# -- kafka-configs ---------------------------------------------------------------------------------------------

CONFIG_LINE = re.compile(r"^  (?P<name>[^=\s]+)=(?P<rest>.*)$")


def config_lines(output: str) -> tuple[str, dict[str, str]]:
    """`kafka-configs --describe`: its heading, and name → the rest of its line (value, sensitive, synonyms)."""
    heading, *lines = output.splitlines()
    entries = {}
    for line in lines:
        match = CONFIG_LINE.match(line)
        assert match, line
        entries[match["name"]] = match["rest"]
    return heading, entries


def test_topic_configs(twins: Twins) -> None:
    create(twins, "configured", "1:2", "--config", "segment.bytes=1048576", "--config", "cleanup.policy=compact,delete",
           "--config", "min.insync.replicas=2")
    kopfka, kafka = twins.run("kafka-configs", "--describe", "--entity-type", "topics", "--entity-name", "configured")
    assert kopfka == kafka
    # Every topic config, with the same value, source and synonyms: no exception (the configs kopfka stores
    # without acting on are reported as Kafka reports them; README, Compatibility).
    kopfka, kafka = twins.run("kafka-configs", "--describe", "--all", "--entity-type", "topics", "--entity-name",
                              "configured")
    assert config_lines(kopfka) == config_lines(kafka)
    assert len(config_lines(kopfka)[1]) == 36  # all of Kafka 3.9's topic configs


KOPFKA_OWN_BROKER_KEYS = {
    "kopfka.authentication.timeout.ms", "kopfka.controlled.shutdown.timeout.ms", "kopfka.http.host",
    "kopfka.http.port", "kopfka.zookeeper.reconnect.backoff.max.ms",
}
"""Broker keys only kopfka has (README, Configuration)."""

KAFKA_BROKER_KEYS = 316
"""Keys Kafka 3.9.2 lists for broker 1 with the two dynamic configs below set; kopfka reports every one (those of
features it does not have stored and reported, not acted on: README, Compatibility)."""


def test_broker_configs(twins: Twins) -> None:
    kopfka, kafka = twins.run("kafka-configs", "--alter", "--entity-type", "brokers", "--entity-name", "1",
                              "--add-config", "log.cleaner.threads=2,follower.replication.throttled.rate=1048576")
    assert kopfka == kafka == "Completed updating config for broker 1.\n"

    def dynamic_configs_shown(cluster: LocalCluster) -> str:  # a broker applies the change when its watch fires
        def shown() -> str:
            out = twins.tool("kafka-configs", "--bootstrap-server", cluster.bootstrap_servers, "--describe",
                             "--entity-type", "brokers", "--entity-name", "1").stdout
            return out if out.count("\n") == 3 else ""  # the heading and both configs, or not yet

        return wait_for(shown, what="both dynamic configs of broker 1")

    kopfka, kafka = twins.each(dynamic_configs_shown)
    assert kopfka == kafka
    assert "  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, " \
           "DEFAULT_CONFIG:log.cleaner.threads=1}" in kopfka.splitlines()

    kopfka, kafka = twins.run("kafka-configs", "--describe", "--all", "--entity-type", "brokers", "--entity-name", "1")
    (kopfka_heading, kopfka_keys), (kafka_heading, kafka_keys) = config_lines(kopfka), config_lines(kafka)
    assert kopfka_heading == kafka_heading == "All configs for broker 1 are:"
    assert set(kopfka_keys) - set(kafka_keys) == KOPFKA_OWN_BROKER_KEYS
    assert set(kafka_keys) - set(kopfka_keys) == set()
    assert len(kafka_keys) == KAFKA_BROKER_KEYS
    # value (as text), sensitivity, synonyms with their sources (defaults included): the same for every key
    assert {k: kopfka_keys[k] for k in kafka_keys} == kafka_keys

    kopfka, kafka = twins.run("kafka-configs", "--alter", "--entity-type", "brokers", "--entity-name", "1",
                              "--delete-config", "log.cleaner.threads,follower.replication.throttled.rate")
    assert kopfka == kafka == "Completed updating config for broker 1.\n"


# -- records: get-offsets, delete-records, log-dirs, leader-election -------------------------------------------

BASE_TIME = 1_700_000_000_000
TIMESTAMPS = {0: [1000, 3000, 2000], 2: [1000, 2000, 3000, 4000, 5000]}  # partition 1 stays empty


def produce(cluster: LocalCluster, topic: str) -> None:
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "linger.ms": 0})
    for partition, stamps in TIMESTAMPS.items():
        for ts in stamps:
            producer.produce(topic, key=b"k%d" % ts, value=b"v%d" % ts, partition=partition, timestamp=BASE_TIME + ts)
            producer.flush(30)  # one batch per record, so both logs hold the same batches
    assert producer.flush(30) == 0


def log_dirs(output: str) -> dict[str, Any]:
    """kafka-log-dirs' JSON (its third line), log sizes in bytes replaced by whether the log holds any."""
    described: dict[str, Any] = json.loads(output.splitlines()[2])
    for broker in described["brokers"]:
        for log_dir in broker["logDirs"]:
            for partition in log_dir["partitions"]:
                partition["size"] = partition["size"] > 0
    return described


def test_offsets_delete_records_log_dirs_and_leader_election(twins: Twins, tmp_path: Path) -> None:
    # retention.ms=-1: the records' 2023 timestamps would otherwise let either side's retention pass delete
    # segments between two describes, at a moment of its own (seen once: Kafka's leader empty, its follower not)
    create(twins, "records", "1:2,2:3,3:1", "--config", "retention.ms=-1")
    twins.each(lambda c: produce(c, "records"))
    for time in ("latest", "earliest", "max-timestamp", str(BASE_TIME + 2500)):
        kopfka, kafka = twins.run("kafka-get-offsets", "--topic", "records", "--time", time)
        assert kopfka == kafka, time
    assert kopfka.split() == ["records:0:1", "records:2:2"]  # the last: the first offset at or after that time

    plan = tmp_path / "offsets.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "records", "partition": 2, "offset": 3},
                                                             {"topic": "records", "partition": 0, "offset": -1}]}))
    kopfka, kafka = twins.run("kafka-delete-records", "--offset-json-file", str(plan))
    assert kopfka == kafka
    assert "partition: records-2\tlow_watermark: 3" in kopfka.splitlines()
    kopfka, kafka = twins.run("kafka-get-offsets", "--topic", "records", "--time", "earliest")
    assert kopfka == kafka == "records:0:3\nrecords:1:0\nrecords:2:3\n"

    kopfka, kafka = twins.run("kafka-log-dirs", "--describe", "--topic-list", "records")
    assert kopfka.splitlines()[:2] == kafka.splitlines()[:2] == [
        "Querying brokers for log directories information", "Received log directory information from brokers 1,2,3"]
    assert log_dirs(kopfka) == log_dirs(kafka)
    assert [[p["partition"] for p in b["logDirs"][0]["partitions"]] for b in log_dirs(kopfka)["brokers"]] == [
        ["records-0", "records-2"], ["records-0", "records-1"], ["records-1", "records-2"]]

    kopfka, kafka = twins.run("kafka-leader-election", "--election-type", "preferred", "--all-topic-partitions")
    assert kopfka == kafka == ""  # nothing needed electing: nothing to say
    kopfka, kafka = twins.run("kafka-leader-election", "--election-type", "preferred", "--topic", "records",
                              "--partition", "1")
    assert kopfka == kafka == "Valid replica already elected for partitions records-1\n"


# -- console consumer and kafka-consumer-groups ------------------------------------------------------------------

COORDINATOR = re.compile(r"<broker \d> +\(\d\)")


def test_consumer_groups_after_the_same_consumption(twins: Twins) -> None:
    create(twins, "grouped", "1:2,2:3,3:1")

    def send(first: int, count: int) -> None:  # keyed records: the same partitions on both
        lines = "".join(f"key{i}:value{i}\n" for i in range(first, first + count))
        twins.run("kafka-console-producer", "--topic", "grouped", "--property", "parse.key=true", "--property",
                  "key.separator=:", input=lines)

    send(0, 20)
    kopfka, kafka = twins.run("kafka-console-consumer", "--topic", "grouped", "--group", "readers",
                              "--from-beginning", "--max-messages", "20", "--timeout-ms", "60000")
    assert sorted(kopfka.split()) == sorted(kafka.split()) == sorted(f"value{i}" for i in range(20))
    send(20, 7)  # a lag to describe

    kopfka, kafka = twins.run("kafka-consumer-groups", "--list")
    assert kopfka == kafka == "readers\n"
    kopfka, kafka = twins.run("kafka-consumer-groups", "--describe", "--group", "readers")
    assert kopfka == kafka
    heading, *rows = (line.split() for line in kopfka.splitlines() if line.strip())
    assert heading[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]
    assert sorted(row[2] for row in rows) == ["0", "1", "2"]
    assert (sum(int(row[3]) for row in rows), sum(int(row[5]) for row in rows)) == (20, 7)
    assert {tuple(row[6:]) for row in rows} == {("-", "-", "-")}  # no active member
    kopfka, kafka = twins.run("kafka-consumer-groups", "--describe", "--group", "readers", "--members")
    assert kopfka == kafka
    kopfka, kafka = twins.run("kafka-consumer-groups", "--describe", "--group", "readers", "--state")
    assert COORDINATOR.sub("<coordinator>", kopfka) == COORDINATOR.sub("<coordinator>", kafka)
    assert "Empty" in kopfka
