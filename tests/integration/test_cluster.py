"""A 3-broker cluster: topics spread over the brokers, every broker answers Metadata the same way,
deleting a topic removes its data everywhere, partitions grow, configs change, and a topic with
``compression.type`` set recompresses what producers send in another codec."""

from __future__ import annotations

import pytest
from tests.integration.admin import (
    admin,
    create_topic,
    describe,
    wait_for,
    wait_for_config,
    wait_for_topic,
    wait_for_topic_gone,
)
from tests.integration.clients import CODECS, ConfluentClient, Outgoing
from tests.integration.wire import WireClient

from kafka_broker.protocol import ApiKey
from kafka_broker.storage.records import iter_batches

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    return module_cluster_factory(brokers=3)


def broker_addresses(cluster) -> list[str]:
    return [f"127.0.0.1:{port}" for _id, port in sorted(cluster.broker_ports.items())]


def test_topics_spread_over_brokers_and_every_broker_agrees(cluster) -> None:
    create_topic(cluster.bootstrap_servers, "spread", partitions=6, replication_factor=2)

    def agreeing_views():  # metadata reaches each broker through its own ZooKeeper watches
        views = [describe(address, "spread") for address in broker_addresses(cluster)]
        settled = all(leader > 0 and isr for leader, _r, isr in views[0].values())
        return views if settled and views[0] == views[1] == views[2] else None

    views = wait_for(agreeing_views, what="every broker to report the same metadata")
    leaders = sorted(leader for leader, _r, _i in views[0].values())
    assert leaders == [1, 1, 2, 2, 3, 3]
    holders = sorted(b for _l, replicas, _i in views[0].values() for b in replicas)
    assert holders == [1] * 4 + [2] * 4 + [3] * 4

    def local_replicas(broker_id: int) -> set[str]:
        return {p.name for p in (cluster.broker_dir(broker_id) / "data").iterdir() if p.name.startswith("spread-")}

    # a broker's metadata and its replica folders follow the same change, but not at the same instant
    for broker_id in cluster.broker_ports:
        expected = {f"spread-{p}" for p, (_l, replicas, _i) in views[0].items() if broker_id in replicas}
        wait_for(lambda b=broker_id, e=expected: local_replicas(b) == e, what=f"broker {broker_id}'s replicas")
        assert local_replicas(broker_id) == expected


def test_metadata_from_each_broker_names_the_same_controller_and_cluster(cluster) -> None:
    def answers_of_every_broker() -> list[dict]:
        answers = []
        for address in broker_addresses(cluster):
            client = WireClient.to(address)
            try:
                answers.append(client.request(ApiKey.METADATA, 12, {"topics": None,
                                                                   "allow_auto_topic_creation": False,
                                                                   "include_topic_authorized_operations": False}))
            finally:
                client.close()
        return answers

    # Brokers count as started once registered; the controller is elected, and every broker learns of it
    # and of the other brokers, through ZooKeeper watches a moment later.
    def settled() -> list[dict] | None:
        answers = answers_of_every_broker()
        known = all(a["controller_id"] >= 0 and len(a["brokers"]) == len(answers) for a in answers)
        return answers if known and len({a["controller_id"] for a in answers}) == 1 else None

    answers = wait_for(settled, what="every broker to know the controller and the other brokers")
    assert len({a["controller_id"] for a in answers}) == 1
    assert len({a["cluster_id"] for a in answers}) == 1
    assert all(sorted(b["node_id"] for b in a["brokers"]) == [1, 2, 3] for a in answers)


def test_deleting_a_topic_removes_its_data_on_every_broker(cluster) -> None:
    create_topic(cluster.bootstrap_servers, "doomed", partitions=3, replication_factor=3)
    ConfluentClient().produce(cluster.bootstrap_servers, "doomed", [Outgoing(i % 3, b"k", b"v") for i in range(30)],
                              "lz4")

    def partition_dirs() -> list[str]:
        return [p.name for i in cluster.broker_ports for p in (cluster.broker_dir(i) / "data").iterdir()
                if p.name.startswith("doomed-") and p.is_dir() and not p.name.endswith("-delete")]

    assert len(partition_dirs()) == 9
    client = admin(cluster.bootstrap_servers)
    client.delete_topics(["doomed"], operation_timeout=60, request_timeout=90)["doomed"].result(120)
    wait_for(lambda: not partition_dirs(), what="every replica's directory to go")
    # DeleteTopics waits for the broker that answered; the others learn through their own watches
    wait_for_topic_gone(cluster.bootstrap_servers, "doomed")
    assert "doomed" not in admin(cluster.bootstrap_servers).list_topics(timeout=30).topics
    # the name is free again, and the new topic starts empty
    create_topic(cluster.bootstrap_servers, "doomed", partitions=1, replication_factor=1)
    assert ConfluentClient().consume(cluster.bootstrap_servers, "doomed", [0], 1, timeout=3) == []


def test_partitions_grow_but_never_shrink(cluster) -> None:
    from confluent_kafka.admin import NewPartitions

    create_topic(cluster.bootstrap_servers, "growing", partitions=2, replication_factor=2)
    client = admin(cluster.bootstrap_servers)
    client.create_partitions([NewPartitions("growing", 5)], operation_timeout=60)["growing"].result(120)
    # CreatePartitions waits for the broker that answered; the others learn through their own watches
    wait_for_topic(cluster.bootstrap_servers, "growing", partitions=5)
    assert sorted(describe(cluster.bootstrap_servers, "growing")) == [0, 1, 2, 3, 4]
    with pytest.raises(Exception, match=r"INVALID_PARTITIONS|higher than the requested"):
        client.create_partitions([NewPartitions("growing", 3)], operation_timeout=60)["growing"].result(120)


def test_topic_configs_are_described_and_altered(cluster) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    create_topic(cluster.bootstrap_servers, "configured", partitions=1, replication_factor=1,
                 config={"retention.ms": "3600000"})
    client = admin(cluster.bootstrap_servers)
    resource = ConfigResource("topic", "configured")
    configs = client.describe_configs([resource])[resource].result(60)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"
    change = ConfigResource("topic", "configured", incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET),
    ])
    client.incremental_alter_configs([change])[change].result(60)
    # the broker that answered changed its configs at once; the others follow /config/changes on their own
    wait_for_config(cluster.bootstrap_servers, "configured", {"retention.ms": "7200000"})
    configs = client.describe_configs([resource])[resource].result(60)
    assert configs["retention.ms"].value == "7200000" and configs["max.message.bytes"].value == "2000000"
    bad = ConfigResource("topic", "configured", incremental_configs=[
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(Exception, match=r"retention\.ms"):
        client.incremental_alter_configs([bad])[bad].result(60)


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "lz4"])
def test_topic_compression_type_recompresses(cluster, codec: str) -> None:
    topic = f"lz4-only-from-{codec}"
    create_topic(cluster.bootstrap_servers, topic, partitions=1, replication_factor=1,
                 config={"compression.type": "lz4"})
    sent = [Outgoing(0, f"k{i}".encode(), f"value {i} ".encode() * 20) for i in range(50)]
    ConfluentClient().produce(cluster.bootstrap_servers, topic, sent, codec)
    read = ConfluentClient().consume(cluster.bootstrap_servers, topic, [0], len(sent))
    assert [(m.key, m.value) for m in read] == [(m.key, m.value) for m in sent]
    leader = describe(cluster.bootstrap_servers, topic)[0][0]
    log = (cluster.broker_dir(leader) / "data" / f"{topic}-0" / "00000000000000000000.log").read_bytes()
    codecs = {batch.compression for batch in iter_batches(memoryview(log))}
    assert codecs == {3}, f"stored batches use codecs {codecs}, expected lz4 (3) only"


def test_batches_are_stored_as_sent(cluster) -> None:
    """With the default compression.type=producer, each codec's batches stay in that codec."""
    create_topic(cluster.bootstrap_servers, "as-sent", partitions=1, replication_factor=1)
    for codec in CODECS:
        batch = [Outgoing(0, f"k{i}".encode(), f"{codec} record {i} ".encode() * 30) for i in range(20)]
        ConfluentClient().produce(cluster.bootstrap_servers, "as-sent", batch, codec)
    leader = describe(cluster.bootstrap_servers, "as-sent")[0][0]
    log = (cluster.broker_dir(leader) / "data" / "as-sent-0" / "00000000000000000000.log").read_bytes()
    stored = [batch.compression for batch in iter_batches(memoryview(log))]
    assert sorted(set(stored)) == [0, 1, 2, 3, 4] and stored == sorted(stored)


def test_auto_create_topics_on_first_use(cluster) -> None:
    sent = [Outgoing(0, b"k", b"to a topic nobody created")]
    ConfluentClient().produce(cluster.bootstrap_servers, "auto-created", sent, "none")
    assert [m.value for m in ConfluentClient().consume(cluster.bootstrap_servers, "auto-created", [0], 1)] == [
        sent[0].value
    ]
    wait_for_topic(cluster.bootstrap_servers, "auto-created")  # known to every broker, not only the creator's
    assert len(describe(cluster.bootstrap_servers, "auto-created")) == 1  # num.partitions defaults to 1


def test_auto_create_can_be_turned_off(cluster_factory) -> None:
    cluster = cluster_factory(brokers=1, overrides={"auto.create.topics.enable": "false"})
    client = WireClient.to(cluster.bootstrap_servers)
    try:
        response = client.request(ApiKey.METADATA, 12, {"topics": [{"name": "not-created"}],
                                                        "allow_auto_topic_creation": True,
                                                        "include_topic_authorized_operations": False})
    finally:
        client.close()
    assert response["topics"][0]["error_code"] == 3  # UNKNOWN_TOPIC_OR_PARTITION
    assert "not-created" not in admin(cluster.bootstrap_servers).list_topics(timeout=30).topics
