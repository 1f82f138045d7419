"""A throttled reassignment, as an operator runs one: ``kafka-reassign-partitions.sh --execute --throttle``
adds a replica to a partition of 200 MB, the new replica's log grows at the throttle's rate (measured on its
disk, within 20%), and removing the throttle (``kafka-configs --delete-config``) lets it finish.

The throttle's rate is measured as Kafka measures it: over 11 windows of a second, and never over less than
10 of them, so a throttle of R bytes/s first lets about 10 x R through at full speed; the steady rate is
measured after that burst.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from confluent_kafka import Producer
from tests.integration.admin import broker_view, create_topic_with_assignment
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster

TOTAL = 200 * 1024 * 1024
VALUE = 512 * 1024
THROTTLE = 8 * 1024 * 1024
"""bytes/s, leader and follower side"""
BURST = 10 * THROTTLE
"""What the rate's minimum window (10 s) lets through before the throttle bites."""
MEASURED_FOR = 8.0


def log_bytes(cluster: LocalCluster, broker_id: int, topic: str) -> int:
    directory = Path(cluster.broker_properties(broker_id)["log.dirs"]) / f"{topic}-0"
    return sum(p.stat().st_size for p in directory.glob("*.log")) if directory.exists() else 0


def test_throttled_reassignment_keeps_to_the_rate(cluster: LocalCluster, bootstrap: str, kafka_tool,
                                                  tmp_path: Path) -> None:
    create_topic_with_assignment(bootstrap, "big", [[1]])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 20,
                         "message.max.bytes": 2 * VALUE, "queue.buffering.max.kbytes": 262144})
    value = os.urandom(VALUE)  # incompressible, and one buffer: the producer copies it
    for _ in range(TOTAL // VALUE):
        producer.produce("big", value=value, partition=0)
        producer.poll(0)
    assert producer.flush(120) == 0
    written = log_bytes(cluster, 1, "big")
    assert written >= TOTAL

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "big", "partition": 0, "replicas": [1, 2]}]}))
    started = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", bootstrap, "--execute",
                         "--reassignment-json-file", str(plan), "--throttle", str(THROTTLE)).stdout
    assert f"The inter-broker throttle limit was set to {THROTTLE} B/s" in started
    assert "Successfully started partition reassignment for big-0" in started

    # Past the burst the throttle allows, measure how fast broker 2's copy grows.
    wait_for(lambda: log_bytes(cluster, 2, "big") >= BURST + 4 * 1024 * 1024, timeout=120, interval=0.1,
             what="the burst before the throttle bites")
    start_time, start_bytes = time.monotonic(), log_bytes(cluster, 2, "big")
    time.sleep(MEASURED_FOR)  # a rate is measured over a time: this waits for nothing
    elapsed, copied = time.monotonic() - start_time, log_bytes(cluster, 2, "big") - start_bytes
    rate = copied / elapsed
    print(f"replicated at {rate / 1e6:.2f} MB/s under a throttle of {THROTTLE / 1e6:.2f} MB/s")
    assert 0.8 * THROTTLE <= rate <= 1.2 * THROTTLE
    assert log_bytes(cluster, 2, "big") < written  # still under way

    for broker in ("1", "2"):  # the brokers the tool throttled: the plan's
        kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "brokers",
                   "--entity-name", broker, "--delete-config",
                   "leader.replication.throttled.rate,follower.replication.throttled.rate")

    def finished() -> bool:
        out = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", bootstrap, "--verify",
                         "--reassignment-json-file", str(plan)).stdout
        return "Reassignment of partition big-0 is completed." in out

    wait_for(finished, timeout=120, what="the reassignment to finish once unthrottled")
    assert log_bytes(cluster, 2, "big") == written
    view = wait_for(lambda: broker_view(bootstrap.split(",")[0], "big"), timeout=60, what="big's metadata")
    partitions, _ = view
    _leader, replicas, isr = partitions[0]
    assert replicas == [1, 2] and sorted(isr) == [1, 2]
