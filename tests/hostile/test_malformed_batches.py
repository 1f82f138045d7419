"""Malformed batches under a valid CRC are refused, and nothing of them reaches a log or a consumer.

Against two real brokers (one module-scoped cluster; topics replicated on both), a raw wire client sends
every kind of damage of ``tests/unit/storage/damaged_batches.py`` — each a batch built with kopfka's
builder, then damaged with its CRC recomputed — to partition 0 of a topic, in the same Produce request
as a good batch for partition 1, and a good batch to partition 0 before each; all the while the witness
(an idempotent acks=all confluent-kafka producer) writes to the same two partitions. Then:

- each damaged batch is refused with its error (Kafka's, or kopfka's documented stricter one: the
  catalogue lists both) and only its partition fails: partition 1's batch of the same request is stored;
- nothing of a refused partition is appended, even when good batches travel with the bad one;
- a compacted topic's keyless records are listed one by one in ``record_errors`` (Produce v9);
- both partitions read back exactly the good records and the witness's, with confluent-kafka
  (librdkafka) and kafka-python;
- the witness lost nothing;
- the independent strict decoder accepts every batch stored on both brokers, and their records are the
  good ones and the witness's.

The whole scenario runs once (the ``scenario`` fixture); the tests read its results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic
from tests.hostile.strict_decoder import check_cluster
from tests.hostile.witness import Witness
from tests.integration.admin import admin, create_topic_with_assignment, wait_for_topic
from tests.integration.clients import ConfluentClient, KafkaPythonClient
from tests.integration.wire import WireClient
from tests.unit.storage import damaged_batches as damaged
from tests.waiting import wait_for

from kafka_broker.protocol import ApiKey, ErrorCode
from kafka_broker.storage.records import Record, build_batch

TOPIC = "malformed"
COMPACTED = "compacted"
PRODUCE_VERSION = 9
READ_TIMEOUT = 30  # s, an upper bound: a broken partition must not hold the module for minutes


@dataclass
class Scenario:
    cluster: Any
    witness: Witness
    answers: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    """damage name → (partition 0's answer, partition 1's answer) to the request that carried it."""
    expected: dict[int, list[bytes]] = field(default_factory=lambda: {0: [], 1: []})
    """partition → the values of every good record the wire client sent to it, in order."""
    ends: dict[int, int] = field(default_factory=dict)
    """partition → its end offset once everything was sent (the witness stopped)."""
    mixed_answer: dict[str, Any] | None = None
    compacted_answer: dict[str, Any] | None = None


def _produce(client: WireClient, topic: str, payloads: dict[int, bytes]) -> dict[int, dict[str, Any]]:
    response = client.request(ApiKey.PRODUCE, PRODUCE_VERSION, {
        "transactional_id": None, "acks": -1, "timeout_ms": 30_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": p, "records": r} for p, r in payloads.items()]}],
    })
    return {p["index"]: p for p in response["responses"][0]["partition_responses"]}


def _end_offset(client: WireClient, topic: str, partition: int) -> int:
    response = client.request(ApiKey.LIST_OFFSETS, 6, {
        "replica_id": -1, "isolation_level": 0,
        "topics": [{"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                                   "timestamp": -1}]}]})
    answer = response["topics"][0]["partitions"][0]
    assert answer["error_code"] == ErrorCode.NONE, answer
    return int(answer["offset"])


def _good(scenario: Scenario, partition: int, tag: str, count: int = 2) -> bytes:
    values = damaged.good_values(count, tag)
    scenario.expected[partition].extend(values)
    return damaged.good_batch(values)


@pytest.fixture(scope="module")
def scenario(module_cluster_factory) -> Scenario:
    cluster = module_cluster_factory(brokers=2)
    bootstrap = cluster.bootstrap_servers
    create_topic_with_assignment(bootstrap, TOPIC, [[1, 2], [1, 2]])
    compacted = NewTopic(COMPACTED, 1, replica_assignment=[[1, 2]], config={"cleanup.policy": "compact"})
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    client.create_topics([compacted], operation_timeout=60, request_timeout=90)[COMPACTED].result(120)
    wait_for_topic(bootstrap, COMPACTED, partitions=1)
    witness = Witness(bootstrap, TOPIC, partitions=[0, 1]).start()
    scenario = Scenario(cluster, witness)
    client = WireClient(cluster.host, cluster.broker_ports[1])  # broker 1 leads both test topics
    try:
        wait_for(lambda: _end_offset(client, TOPIC, 0) == 0 and _end_offset(client, COMPACTED, 0) == 0,
                 what="broker 1 to lead the test topics")
        witness.wait_acknowledged(20)
        for damage in damaged.CATALOGUE:
            answer = _produce(client, TOPIC, {0: _good(scenario, 0, f"before-{damage.name}")})[0]
            assert answer["error_code"] == ErrorCode.NONE, answer
            answers = _produce(client, TOPIC, {0: damage.make(), 1: _good(scenario, 1, f"beside-{damage.name}")})
            scenario.answers[damage.name] = (answers[0], answers[1])
        good = damaged.good_batch(damaged.good_values(2, "with-a-bad-one"))
        scenario.mixed_answer = _produce(client, TOPIC, {0: good + damaged.header_count_int32_max() + good})[0]
        records = [Record(i, 1_000, None if i in (1, 3) else b"k", b"v") for i in range(5)]
        scenario.compacted_answer = _produce(client, COMPACTED, {0: build_batch(records, base_offset=0)})[0]
        _produce(client, TOPIC, {0: _good(scenario, 0, "last"), 1: _good(scenario, 1, "last")})
        witness.wait_acknowledged(20)  # still flowing after all that
        witness.stop()
        scenario.ends = {p: _end_offset(client, TOPIC, p) for p in (0, 1)}
    finally:
        client.close()
        witness.stop()
    return scenario


def _sent_by_the_wire_client(records: list[tuple[bytes | None, bytes | None]]) -> list[bytes | None]:
    """The values of the records that are not the witness's (its keys start with ``witness-``)."""
    return [value for key, value in records if not (key or b"").startswith(b"witness-")]


@pytest.mark.parametrize("damage", damaged.CATALOGUE, ids=[d.name for d in damaged.CATALOGUE])
def test_each_damage_is_refused_and_only_its_partition_fails(scenario: Scenario, damage: damaged.Damage) -> None:
    bad, beside = scenario.answers[damage.name]
    assert (ErrorCode(bad["error_code"]), bad["base_offset"]) == (damage.code, -1), bad
    assert bad["error_message"], "the answer says what is wrong"
    assert beside["error_code"] == ErrorCode.NONE and beside["base_offset"] >= 0, beside


def test_nothing_of_a_refused_partition_is_appended(scenario: Scenario) -> None:
    """Good batches travelling with a bad one in the same partition's data are refused with it."""
    assert scenario.mixed_answer is not None
    assert scenario.mixed_answer["error_code"] == ErrorCode.INVALID_RECORD


def test_a_compacted_topic_lists_its_keyless_records(scenario: Scenario) -> None:
    answer = scenario.compacted_answer
    assert answer is not None and answer["error_code"] == ErrorCode.INVALID_RECORD
    message = f"Compacted topic cannot accept message without key in topic partition {COMPACTED}-0."
    assert answer["record_errors"] == [{"batch_index": i, "batch_index_error_message": message} for i in (1, 3)]
    assert answer["error_message"].startswith("One or more records have been rejected due to 2 record errors")


def test_the_partitions_read_back_exactly_with_confluent_kafka(scenario: Scenario) -> None:
    """To the high watermark: nothing more, nothing less (librdkafka stalls on a batch it cannot read)."""
    bootstrap = scenario.cluster.bootstrap_servers
    for partition, values in scenario.expected.items():
        read = ConfluentClient().consume_to_end(bootstrap, TOPIC, [partition], timeout=READ_TIMEOUT)
        assert [m.offset for m in read] == list(range(scenario.ends[partition]))
        assert _sent_by_the_wire_client([(m.key, m.value) for m in read]) == values


def test_the_partitions_read_back_exactly_with_kafka_python(scenario: Scenario) -> None:
    """kafka-python raises CorruptRecordError on a batch it cannot read."""
    bootstrap = scenario.cluster.bootstrap_servers
    for partition, values in scenario.expected.items():
        end = scenario.ends[partition]
        read = KafkaPythonClient().consume(bootstrap, TOPIC, [partition], end, timeout=READ_TIMEOUT)
        assert [m.offset for m in read] == list(range(end))
        assert _sent_by_the_wire_client([(m.key, m.value) for m in read]) == values


def test_the_witness_lost_nothing(scenario: Scenario) -> None:
    report = scenario.witness.verify()
    assert report.acknowledged >= 40


def test_every_stored_batch_decodes_strictly(scenario: Scenario) -> None:
    logs = check_cluster(scenario.cluster)
    for broker_id, partitions in logs.items():
        for partition, values in scenario.expected.items():
            stored = [r for batch in partitions[f"{TOPIC}-{partition}"] for r in batch.records]
            assert [r.offset for r in stored] == list(range(scenario.ends[partition])), f"broker {broker_id}"
            assert _sent_by_the_wire_client([(r.key, r.value) for r in stored]) == values, f"broker {broker_id}"
        assert not [b for b in partitions[f"{COMPACTED}-0"] for _ in b.records], "a refused batch was stored"
