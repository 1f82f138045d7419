"""Four real Kafka clients behind one small interface, so every behaviour is checked with each:
kcat (librdkafka, C), confluent-kafka (librdkafka via Python), kafka-python and aiokafka.

Every timeout here is an upper bound on a wait that ends as soon as its condition holds (all records
delivered, `count` records read), generous because a loaded 2-core CI machine is slow."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Protocol

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

IDEMPOTENCE = True
"""Idempotent producing needs InitProducerId, which comes with the consumer-group/idempotence work."""


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int = -1


@dataclass(frozen=True)
class Outgoing:
    partition: int
    key: bytes
    value: bytes
    timestamp: int | None = None


class Client(Protocol):
    name: str

    def produce(self, bootstrap: str, topic: str, messages: list[Outgoing], codec: str) -> None: ...

    def consume(
        self, bootstrap: str, topic: str, partitions: list[int], count: int, timeout: float = 120
    ) -> list[Message]: ...

    def offset_for_time(self, bootstrap: str, topic: str, partition: int, timestamp: int) -> int: ...


def _sorted(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.partition, m.offset))


class ConfluentClient:
    name = "confluent-kafka"

    def produce(self, bootstrap: str, topic: str, messages: list[Outgoing], codec: str) -> None:
        from confluent_kafka import Producer

        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "compression.type": codec,
                "linger.ms": 5,
                "acks": "all",
                "enable.idempotence": IDEMPOTENCE,
            }
        )
        errors: list[str] = []

        def report(err, _msg) -> None:
            if err is not None:
                errors.append(str(err))

        for m in messages:
            kwargs = {"timestamp": m.timestamp} if m.timestamp is not None else {}
            producer.produce(topic, key=m.key, value=m.value, partition=m.partition, on_delivery=report, **kwargs)
        assert producer.flush(120) == 0, "undelivered messages"
        assert not errors, errors

    def _consumer(self, bootstrap: str):
        from confluent_kafka import Consumer

        return Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "unused-assign-only",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )

    def consume(
        self, bootstrap: str, topic: str, partitions: list[int], count: int, timeout: float = 120
    ) -> list[Message]:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        consumer = self._consumer(bootstrap)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < count and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                assert msg.error() is None, msg.error()
                out.append(Message(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.timestamp()[1]))
        finally:
            consumer.close()
        return _sorted(out)

    def consume_to_end(self, bootstrap: str, topic: str, partitions: list[int], timeout: float = 120) -> list[Message]:
        """Everything in the partitions up to their high watermarks as of now (duplicates included)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        consumer = self._consumer(bootstrap)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=60)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[Message] = []
        position = {p: 0 for p in partitions}
        deadline = time.monotonic() + timeout
        try:
            while any(position[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                assert msg.error() is None, msg.error()
                position[msg.partition()] = msg.offset() + 1
                out.append(Message(msg.partition(), msg.offset(), msg.key(), msg.value(), msg.timestamp()[1]))
        finally:
            consumer.close()
        assert all(position[p] >= ends[p] for p in partitions), f"read to {position}, ends are {ends}"
        return _sorted(out)

    def high_watermarks(self, bootstrap: str, topic: str, partitions: list[int]) -> dict[int, int]:
        """partition → high watermark, as each partition's leader answers now (raises while one has none)."""
        from confluent_kafka import TopicPartition

        consumer = self._consumer(bootstrap)
        try:
            return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=60)[1] for p in partitions}
        finally:
            consumer.close()

    def offset_for_time(self, bootstrap: str, topic: str, partition: int, timestamp: int) -> int:
        from confluent_kafka import TopicPartition

        consumer = self._consumer(bootstrap)
        try:
            [tp] = consumer.offsets_for_times([TopicPartition(topic, partition, timestamp)], timeout=60)
            assert tp.error is None, tp.error
            return tp.offset
        finally:
            consumer.close()


class KafkaPythonClient:
    name = "kafka-python"

    def produce(self, bootstrap: str, topic: str, messages: list[Outgoing], codec: str) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type=None if codec == "none" else codec,
            enable_idempotence=IDEMPOTENCE,
        )
        try:
            futures = [
                producer.send(topic, key=m.key, value=m.value, partition=m.partition, timestamp_ms=m.timestamp)
                for m in messages
            ]
            producer.flush(120)
            for future in futures:
                future.get(timeout=120)
        finally:
            producer.close(timeout=30)

    def _consumer(self, bootstrap: str):
        from kafka import KafkaConsumer

        return KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            consumer_timeout_ms=1000,
        )

    def consume(
        self, bootstrap: str, topic: str, partitions: list[int], count: int, timeout: float = 120
    ) -> list[Message]:
        from kafka import TopicPartition

        consumer = self._consumer(bootstrap)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < count and time.monotonic() < deadline:
                for records in consumer.poll(timeout_ms=500).values():
                    out.extend(Message(r.partition, r.offset, r.key, r.value, r.timestamp) for r in records)
        finally:
            consumer.close()
        return _sorted(out)

    def offset_for_time(self, bootstrap: str, topic: str, partition: int, timestamp: int) -> int:
        from kafka import TopicPartition

        consumer = self._consumer(bootstrap)
        try:
            tp = TopicPartition(topic, partition)
            found = consumer.offsets_for_times({tp: timestamp})[tp]
            return -1 if found is None else found.offset
        finally:
            consumer.close()


class AioKafkaClient:
    name = "aiokafka"

    def produce(self, bootstrap: str, topic: str, messages: list[Outgoing], codec: str) -> None:
        asyncio.run(self._produce(bootstrap, topic, messages, codec))

    async def _produce(self, bootstrap: str, topic: str, messages: list[Outgoing], codec: str) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type=None if codec == "none" else codec,
            enable_idempotence=IDEMPOTENCE,
        )
        await producer.start()
        try:
            futures = [
                await producer.send(topic, key=m.key, value=m.value, partition=m.partition, timestamp_ms=m.timestamp)
                for m in messages
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    def consume(
        self, bootstrap: str, topic: str, partitions: list[int], count: int, timeout: float = 120
    ) -> list[Message]:
        return asyncio.run(self._consume(bootstrap, topic, partitions, count, timeout))

    async def _consume(
        self, bootstrap: str, topic: str, partitions: list[int], count: int, timeout: float
    ) -> list[Message]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < count and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    out.extend(Message(r.partition, r.offset, r.key, r.value, r.timestamp) for r in records)
        finally:
            await consumer.stop()
        return _sorted(out)

    def offset_for_time(self, bootstrap: str, topic: str, partition: int, timestamp: int) -> int:
        return asyncio.run(self._offset_for_time(bootstrap, topic, partition, timestamp))

    async def _offset_for_time(self, bootstrap: str, topic: str, partition: int, timestamp: int) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic, partition)
            found = (await consumer.offsets_for_times({tp: timestamp}))[tp]
            return -1 if found is None else found.offset
        finally:
            await consumer.stop()


class KcatClient:
    """kcat produces one partition per invocation (-p) with key:value lines; timestamps are not settable
    from its command line, so timestamp lookups consume from ``s@ts`` instead."""

    name = "kcat"

    def __init__(self) -> None:
        self.binary = shutil.which("kcat") or "kcat"

    def produce(self, bootstrap: str, topic: str, messages: list[Outgoing], codec: str) -> None:
        by_partition: dict[int, list[Outgoing]] = {}
        for m in messages:
            by_partition.setdefault(m.partition, []).append(m)
        for partition, items in sorted(by_partition.items()):
            lines = "".join(f"{m.key.decode()}\t{m.value.decode()}\n" for m in items)
            subprocess.run(
                [
                    self.binary,
                    "-b",
                    bootstrap,
                    "-P",
                    "-t",
                    topic,
                    "-p",
                    str(partition),
                    "-K",
                    "\t",
                    "-z",
                    codec,
                    "-X",
                    "acks=all",
                ],
                input=lines.encode(),
                check=True,
                timeout=120,
                capture_output=True,
            )

    def consume(
        self,
        bootstrap: str,
        topic: str,
        partitions: list[int],
        count: int,
        timeout: float = 120,
        start: str = "beginning",
    ) -> list[Message]:
        out: list[Message] = []
        for partition in partitions:
            proc = subprocess.run(
                [
                    self.binary,
                    "-b",
                    bootstrap,
                    "-C",
                    "-t",
                    topic,
                    "-p",
                    str(partition),
                    "-o",
                    start,
                    "-e",
                    "-f",
                    "%p\t%o\t%T\t%k\t%s\n",
                ],
                check=True,
                timeout=timeout,
                capture_output=True,
            )
            for line in proc.stdout.decode().splitlines():
                p, o, ts, k, v = line.split("\t", 4)
                out.append(Message(int(p), int(o), k.encode(), v.encode(), int(ts)))
        return _sorted(out)

    def offset_for_time(self, bootstrap: str, topic: str, partition: int, timestamp: int) -> int:
        found = self.consume(bootstrap, topic, [partition], 1, start=f"s@{timestamp}")
        return found[0].offset if found else -1


ALL_CLIENTS: list[Client] = [KcatClient(), ConfluentClient(), KafkaPythonClient(), AioKafkaClient()]
