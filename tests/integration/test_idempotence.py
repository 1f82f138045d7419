"""Idempotent producers against real brokers: InitProducerId, sequence checks, and exactly-once per
partition while the partition leader is kill -9'd mid-stream and restarted."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import defaultdict

import pytest
from tests.integration.admin import create_topic, describe
from tests.integration.clients import ConfluentClient
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

FAST_FAILOVER = {
    "zookeeper.session.timeout.ms": "6000",
    "replica.lag.time.max.ms": "10000",
    "replica.fetch.wait.max.ms": "100",
    "kopfka.controlled.shutdown.timeout.ms": "15000",
    "min.insync.replicas": "2",
}


def produce_confluent(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    errors: list[str] = []
    for i, value in enumerate(values):
        producer.produce(topic, value=value, partition=i % partitions,
                         on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        producer.poll(0)
    assert producer.flush(120) == 0
    assert not errors, errors[:5]


def produce_kafka_python(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic, value=v, partition=i % partitions) for i, v in enumerate(values)]
        producer.flush(120)
        for future in futures:
            future.get(timeout=120)
    finally:
        producer.close(timeout=10)


def produce_aiokafka(bootstrap: str, topic: str, values: list[bytes], partitions: int) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(topic, value=v, partition=i % partitions) for i, v in enumerate(values)]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


PRODUCERS = {"confluent-kafka": produce_confluent, "kafka-python": produce_kafka_python, "aiokafka": produce_aiokafka}


@pytest.fixture(scope="module")
def cluster(module_cluster_factory):
    return module_cluster_factory(brokers=3, overrides={"min.insync.replicas": "2"})


@pytest.mark.parametrize("client", sorted(PRODUCERS))
def test_clients_produce_with_idempotence(cluster, client: str) -> None:
    b = cluster.bootstrap_servers
    topic = f"idempotent-{client}"
    create_topic(b, topic, partitions=3, replication_factor=3)
    values = [f"{client}-{i}".encode() for i in range(600)]
    PRODUCERS[client](b, topic, values, 3)
    read = ConfluentClient().consume_to_end(b, topic, [0, 1, 2])
    per_partition = defaultdict(list)
    for m in read:
        per_partition[m.partition].append(m.value)
    for p in range(3):
        assert per_partition[p] == values[p::3], f"partition {p}"


class NumberedProducer(threading.Thread):
    """Writes ``<partition>-<n>`` records with idempotence on until stopped, then flushes; subclasses wrap a client."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.failed: list[str] = []
        self.stop_event = threading.Event()
        self.sent = 0
        self.undelivered = -1
        self.delivered = 0  # acknowledged so far, counted by the client's own thread

    def count_delivery(self) -> None:
        self.delivered += 1

    def wait_delivered(self, more: int, *, timeout: float = 120) -> None:
        """Until `more` records beyond those acknowledged so far are acknowledged: the stream is flowing."""
        target = self.delivered + more
        wait_for(lambda: self.delivered >= target, timeout=timeout,
                 what=f"{target} acknowledged records (have {self.delivered}, failed {self.failed[:3]})")

    def finish(self) -> None:
        self.stop_event.set()
        self.join(200)
        assert not self.is_alive(), "the producer did not finish"

    def value(self, seq: int) -> tuple[int, bytes]:
        partition = seq % self.partitions
        return partition, f"{partition}-{seq}".encode()


class ConfluentNumbered(NumberedProducer):
    def run(self) -> None:
        from confluent_kafka import Producer

        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "linger.ms": 2,
                "message.timeout.ms": 150_000,
                "retry.backoff.ms": 100,
                "topic.metadata.refresh.interval.ms": 1000,
                "socket.timeout.ms": 10_000,
            }
        )

        def report(err, _msg) -> None:
            if err is not None:
                self.failed.append(str(err))
            else:
                self.count_delivery()

        seq = 0
        while not self.stop_event.is_set():
            partition, value = self.value(seq)
            try:
                producer.produce(self.topic, value=value, partition=partition, on_delivery=report)
                seq += 1
            except BufferError:
                producer.poll(0.05)
            producer.poll(0.002 if seq % 10 == 0 else 0)
        self.sent = seq
        self.undelivered = producer.flush(150)


class KafkaPythonNumbered(NumberedProducer):
    def run(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
            retries=2**31 - 1, delivery_timeout_ms=150_000, request_timeout_ms=10_000, metadata_max_age_ms=1000,
        )
        futures = []
        seq = 0
        while not self.stop_event.is_set():
            partition, value = self.value(seq)
            futures.append(producer.send(self.topic, value=value, partition=partition))
            futures[-1].add_callback(lambda _metadata: self.count_delivery())
            seq += 1
            if seq % 10 == 0:
                time.sleep(0.002)
        self.sent = seq
        producer.flush(150)
        for future in futures:
            try:
                future.get(timeout=1)
            except Exception as exc:
                self.failed.append(repr(exc))
        producer.close(timeout=10)
        self.undelivered = 0


class AioKafkaNumbered(NumberedProducer):
    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=True, linger_ms=2, request_timeout_ms=10_000,
            metadata_max_age_ms=1000, retry_backoff_ms=100,
        )
        await producer.start()
        futures = []
        seq = 0
        try:
            while not self.stop_event.is_set():
                partition, value = self.value(seq)
                futures.append(await producer.send(self.topic, value=value, partition=partition))
                futures[-1].add_done_callback(
                    lambda f: self.count_delivery() if not f.cancelled() and f.exception() is None else None
                )
                seq += 1
                if seq % 10 == 0:
                    await asyncio.sleep(0.002)
            self.sent = seq
            for result in await asyncio.gather(*futures, return_exceptions=True):
                if isinstance(result, BaseException):
                    self.failed.append(repr(result))
        finally:
            await producer.stop()
        self.undelivered = 0


NUMBERED = {"confluent-kafka": ConfluentNumbered, "kafka-python": KafkaPythonNumbered, "aiokafka": AioKafkaNumbered}


@pytest.mark.parametrize("client", sorted(NUMBERED))
def test_leader_kill9_mid_stream_gives_every_record_exactly_once(cluster_factory, client: str) -> None:
    cluster = cluster_factory(brokers=3, overrides=FAST_FAILOVER)
    b = cluster.bootstrap_servers
    create_topic(b, "exactly-once", partitions=2, replication_factor=3)
    wait_for(lambda: all(len(isr) == 3 for _l, _r, isr in describe(b, "exactly-once").values()),
             what="full ISR")
    producer = NUMBERED[client](b, "exactly-once", 2)
    producer.start()
    try:
        for _round in range(2):
            producer.wait_delivered(200)  # mid-stream: records are being acknowledged
            leader = describe(b, "exactly-once")[0][0]
            cluster.kill_broker(leader, signal.SIGKILL)
            survivors = ",".join(f"127.0.0.1:{p}" for i, p in cluster.broker_ports.items() if i != leader)
            # the leader is noticed gone when its ZooKeeper session expires; then partition 0 is led elsewhere
            wait_for(lambda: describe(survivors, "exactly-once")[0][0] not in (leader, -1),  # noqa: B023
                     what=f"a new leader of partition 0 after broker {leader}")
            producer.wait_delivered(50)  # the stream goes on with the new leader
            cluster.start_broker(leader)
            wait_for(
                lambda: all(len(isr) == 3 for _l, _r, isr in describe(b, "exactly-once").values()),
                what="full ISR after restart",
            )
        producer.wait_delivered(50)  # and after the last restart
    finally:
        producer.finish()
    assert producer.undelivered == 0, "undelivered records"
    assert not producer.failed, producer.failed[:5]
    sent = producer.sent
    assert sent > 500
    read = ConfluentClient().consume_to_end(b, "exactly-once", [0, 1])
    for partition in (0, 1):
        in_log = [int(m.value.decode().split("-")[1]) for m in read if m.partition == partition]
        assert in_log == list(range(partition, sent, 2)), (
            f"partition {partition}: {len(in_log)} records for {len(range(partition, sent, 2))} sent, "
            f"duplicates {len(in_log) - len(set(in_log))}"
        )
