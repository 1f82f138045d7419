"""Topic administration for the tests, through a real client (confluent-kafka's AdminClient), and the one
way the tests wait.

Kafka's metadata is eventually consistent: every broker learns of a new topic, a leader or ISR change, a
config change or a deletion through its own ZooKeeper watches, and a client sends its Metadata request to
whichever broker it likes. A test that reads metadata after changing it therefore first waits until what it
needs holds *on every broker it may ask* (`wait_for_topic`, `wait_for_topic_gone`, `wait_for_config`), and
every wait is `wait_for`: a condition polled until it holds, never a fixed sleep. Timeouts are only upper
bounds and generous — a loaded 2-core CI machine is slow.
"""

from __future__ import annotations

from typing import Any, TypeVar

from confluent_kafka.admin import AdminClient, NewTopic
from tests.integration.wire import WireClient
from tests.waiting import wait_for

from kafka_broker.protocol import ApiKey, ErrorCode

T = TypeVar("T")

View = dict[int, tuple[int, list[int], list[int]]]
"""partition → (leader, replicas, isr)"""

TOPIC_RESOURCE = 2  # DescribeConfigs resource type of a topic


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic_with_assignment(bootstrap: str, name: str, assignment: list[list[int]]) -> View:
    """Create `name` with this replica assignment; returns the view every broker agrees on (`wait_for_topic`)."""
    client = admin(bootstrap)
    topic = NewTopic(name, num_partitions=len(assignment), replica_assignment=assignment)
    client.create_topics([topic], operation_timeout=60, request_timeout=90)[name].result(120)
    return wait_for_topic(bootstrap, name, partitions=len(assignment))


def create_topic(
    bootstrap: str, name: str, *, partitions: int = 3, replication_factor: int = 1, config: dict[str, str] | None = None
) -> View:
    """Create `name`; returns the view every broker in `bootstrap` agrees on once each of them names a live
    leader for every partition (`wait_for_topic`). CreateTopics only waits for the broker that answered it."""
    client = admin(bootstrap)  # keep a reference: a collected client cancels its futures
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=config or {})],
        operation_timeout=60,
        request_timeout=90,
    )
    futures[name].result(120)
    return wait_for_topic(bootstrap, name, partitions=partitions)


def describe(bootstrap: str, name: str) -> View:
    """partition → (leader, replicas, isr), from the Metadata of whichever broker the client asks."""
    md = admin(bootstrap).list_topics(name, timeout=30)
    topic = md.topics[name]
    assert topic.error is None, topic.error
    return {p.id: (p.leader, list(p.replicas), list(p.isrs)) for p in topic.partitions.values()}


# --- one broker's own answers (a client would pick any broker) -------------------------------------------


def addresses(bootstrap: str) -> list[str]:
    return [address.strip() for address in bootstrap.split(",") if address.strip()]


def broker_metadata(address: str, topics: list[str] | None) -> dict[str, Any]:
    """The Metadata answer of the broker at `address` itself (v12, never auto-creating a topic)."""
    client = WireClient.to(address)
    try:
        return client.request(
            ApiKey.METADATA,
            12,
            {
                "topics": None if topics is None else [{"name": t} for t in topics],
                "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False,
            },
        )
    finally:
        client.close()


def broker_view(address: str, name: str) -> tuple[View, set[int]] | None:
    """Topic `name` as the broker at `address` sees it, with the brokers it knows to be alive; None while it
    does not know the topic."""
    answer = broker_metadata(address, [name])
    (topic,) = answer["topics"]
    if topic["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        return None
    view = {
        p["partition_index"]: (p["leader_id"], list(p["replica_nodes"]), list(p["isr_nodes"]))
        for p in topic["partitions"]
    }
    return view, {b["node_id"] for b in answer["brokers"]}


def live_brokers(address: str) -> set[int]:
    """The broker ids the broker at `address` knows to be registered."""
    return {b["node_id"] for b in broker_metadata(address, [])["brokers"]}


def wait_for_live_brokers(bootstrap: str, expected: set[int], *, timeout: float = 120) -> None:
    """Until every broker in `bootstrap` knows exactly `expected` as the registered brokers (a killed broker
    stays registered until its ZooKeeper session expires, and each broker learns of that on its own)."""
    wait_for(
        lambda: all(live_brokers(address) == expected for address in addresses(bootstrap)),
        timeout=timeout,
        what=f"every broker of {bootstrap} to know brokers {sorted(expected)} alive",
    )


def agreed_view(bootstrap: str, name: str, *, partitions: int | None = None) -> View | None:
    """Topic `name` as every broker in `bootstrap` sees it, if each knows it (with `partitions` partitions,
    when given), names a leader it knows to be alive for each partition, and all of them agree; else None."""
    views = []
    for address in addresses(bootstrap):
        seen = broker_view(address, name)
        if seen is None:
            return None
        view, live = seen
        if not view or (partitions is not None and len(view) != partitions):
            return None
        if any(leader not in live for leader, _r, _i in view.values()):
            return None
        views.append(view)
    return views[0] if all(v == views[0] for v in views) else None


def wait_for_topic(bootstrap: str, name: str, *, partitions: int | None = None, timeout: float = 120) -> View:
    """Until every broker in `bootstrap` agrees on topic `name` with a live leader for each partition
    (`agreed_view`); returns that view."""
    return wait_for(
        lambda: agreed_view(bootstrap, name, partitions=partitions),
        timeout=timeout,
        what=f"every broker of {bootstrap} to agree on led topic {name}",
    )


def wait_for_topic_gone(bootstrap: str, name: str, *, timeout: float = 120) -> None:
    """Until no broker in `bootstrap` knows topic `name` any more."""
    wait_for(
        lambda: all(broker_view(address, name) is None for address in addresses(bootstrap)),
        timeout=timeout,
        what=f"topic {name} to be gone from every broker of {bootstrap}",
    )


def broker_topic_config(address: str, name: str) -> dict[str, str | None]:
    """Topic `name`'s effective configs as the broker at `address` answers DescribeConfigs."""
    client = WireClient.to(address)
    try:
        answer = client.request(
            ApiKey.DESCRIBE_CONFIGS,
            4,
            {
                "resources": [{"resource_type": TOPIC_RESOURCE, "resource_name": name, "configuration_keys": None}],
                "include_synonyms": False,
                "include_documentation": False,
            },
        )
    finally:
        client.close()
    (result,) = answer["results"]
    assert result["error_code"] == ErrorCode.NONE, result
    return {c["name"]: c["value"] for c in result["configs"]}


def wait_for_config(bootstrap: str, name: str, expected: dict[str, str], *, timeout: float = 120) -> None:
    """Until every broker in `bootstrap` describes topic `name` with the `expected` config values (a config
    change reaches each broker through its own watch of `/config/changes`)."""

    def everywhere() -> bool:
        for address in addresses(bootstrap):
            config = broker_topic_config(address, name)
            if any(config.get(key) != value for key, value in expected.items()):
                return False
        return True

    wait_for(everywhere, timeout=timeout, what=f"every broker of {bootstrap} to describe {name} with {expected}")
