"""kafka-broker-api-versions.sh and kafka-get-offsets.sh: what kopfka's brokers tell Kafka's tools about
themselves (API version ranges) and about their partitions (earliest and latest offsets)."""

from __future__ import annotations

import re

from confluent_kafka import Producer
from tests.integration.admin import create_topic
from tests.integration.wire import WireClient

from kafka_broker.protocol import ApiKey

# `127.0.0.1:9092 (id: 1 rack: null) -> (`, then one line per API: `\tProduce(0): 3 to 9 [usable: 9],`,
# `\tOffsetDelete(47): 0 [usable: 0],` or `\tSaslHandshake(17): UNSUPPORTED,`; then `)`.
BROKER = re.compile(r"^(?P<address>\S+) \(id: (?P<id>\d+) rack: null\) -> \($")
API = re.compile(
    r"^\t(?P<name>\w+)\((?P<key>\d+)\): (?:(?P<min>\d+)(?: to (?P<max>\d+))? \[usable: \d+\]|UNSUPPORTED),?$"
)


def test_broker_api_versions_are_what_each_broker_advertises(cluster, bootstrap, kafka_tool):
    out = kafka_tool("kafka-broker-api-versions", "--bootstrap-server", bootstrap).stdout
    seen: dict[int, dict[int, tuple[int, int] | None]] = {}
    ranges: dict[int, tuple[int, int] | None] = {}
    for line in out.splitlines():
        if broker := BROKER.match(line):
            ranges = seen.setdefault(int(broker["id"]), {})
            assert broker["address"] == f"{cluster.host}:{cluster.broker_ports[int(broker['id'])]}"
        elif api := API.match(line):
            low = api["min"]
            ranges[int(api["key"])] = None if low is None else (int(low), int(api["max"] or low))
        else:
            assert line == ")", line
    assert sorted(seen) == [1, 2, 3]

    for broker_id, port in cluster.broker_ports.items():
        client = WireClient(cluster.host, port)
        try:
            advertised = client.request(ApiKey.API_VERSIONS, 0, {})["api_keys"]
        finally:
            client.close()
        expected = {a["api_key"]: (a["min_version"], a["max_version"]) for a in advertised}
        supported = {key: versions for key, versions in seen[broker_id].items() if versions is not None}
        assert supported == expected  # every API kopfka serves, with its range; the tool marks the rest UNSUPPORTED
        assert supported[ApiKey.CREATE_TOPICS] == (0, 7)  # Kafka 3.9.2's range


def test_get_offsets(bootstrap, kafka_tool):
    create_topic(bootstrap, "offsets", partitions=3, replication_factor=2)
    base = 1_700_000_000_000
    stamps = {0: [1000, 3000, 2000], 2: [1000, 2000, 3000, 4000, 5000]}  # partition 1 stays empty
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for partition, timestamps in stamps.items():
        for ts in timestamps:
            producer.produce("offsets", value=b"%d" % ts, partition=partition, timestamp=base + ts)
    assert producer.flush(30) == 0

    def offsets(*args: str) -> list[str]:
        command = ("kafka-get-offsets", "--bootstrap-server", bootstrap, "--topic", "offsets", *args)
        return kafka_tool(*command).stdout.split()

    assert offsets() == ["offsets:0:3", "offsets:1:0", "offsets:2:5"]  # --time latest is the default
    assert offsets("--time", "earliest", "--partitions", "0,2") == ["offsets:0:0", "offsets:2:0"]
    # The record with the largest timestamp; the first at or after a time. No answer: the partition is left out.
    assert offsets("--time", "max-timestamp") == ["offsets:0:1", "offsets:2:4"]
    assert offsets("--time", str(base + 2500)) == ["offsets:0:1", "offsets:2:2"]
