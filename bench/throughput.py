"""Produce and consume throughput with confluent-kafka (librdkafka), per record size.

For each size a fresh topic is created, `--records` records are produced as fast as the client
batches them (batch.size 1 MiB, linger.ms 5, the given acks and compression) and timed until the
last delivery report; then a consumer assigned to every partition reads them all back from the
beginning, timed until the last record. Values are hex text (half random bytes), so compression
has something to do without being trivial. Results: a Markdown table on stdout, `--json FILE`.

Against a running cluster::

    python bench/throughput.py --bootstrap-server 127.0.0.1:9092

or on a fresh local cluster it starts and stops itself (`make bench`)::

    python bench/throughput.py --local 3                # kopfka brokers
    python bench/throughput.py --local 3 --apache-kafka # Apache Kafka 3.9 (bench/apache_kafka.py)

One Python process drives each side, so on a small machine the client, not only the broker, can be
the limit: compare runs made side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


@dataclass
class Result:
    size: int
    records: int
    compression: str
    acks: str
    partitions: int
    produce_seconds: float
    consume_seconds: float

    @property
    def mb(self) -> float:
        return self.size * self.records / 1e6

    def row(self) -> str:
        return (
            f"| {self.size} | {self.records} | {self.compression} | {self.acks} | "
            f"{self.records / self.produce_seconds:,.0f} | {self.mb / self.produce_seconds:,.1f} | "
            f"{self.records / self.consume_seconds:,.0f} | {self.mb / self.consume_seconds:,.1f} |"
        )


HEADER = (
    "| record bytes | records | compression | acks | produce records/s | produce MB/s "
    "| consume records/s | consume MB/s |\n|---:|---:|---|---|---:|---:|---:|---:|"
)


def payloads(size: int, count: int = 64) -> list[bytes]:
    """A few distinct values of `size` bytes, reused round-robin (making them is not what we time)."""
    return [os.urandom((size + 1) // 2).hex()[:size].encode() for _ in range(count)]


def create_topic(bootstrap: str, *, partitions: int, replication_factor: int) -> str:
    topic = f"bench-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    futures = admin.create_topics([NewTopic(topic, partitions, replication_factor)], request_timeout=30)
    futures[topic].result(timeout=60)
    return topic


def produce(bootstrap: str, topic: str, *, size: int, records: int, compression: str, acks: str) -> float:
    """Seconds from the first produce() to the last delivery report."""
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(err)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "compression.type": compression,
            "batch.size": 1024 * 1024,
            "linger.ms": 5,
            "queue.buffering.max.kbytes": 512 * 1024,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    values = payloads(size)
    start = time.perf_counter()
    for i in range(records):
        value = values[i % len(values)]
        while True:
            try:
                producer.produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - start
    if remaining or failed:
        raise RuntimeError(f"{remaining} records undelivered, {len(failed)} failed (first: {failed[:1]})")
    return elapsed


def consume(bootstrap: str, topic: str, *, records: int, partitions: int) -> float:
    """Seconds from assignment to the last of `records` records read."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        count = 0
        start = time.perf_counter()
        deadline = time.monotonic() + 300
        while count < records:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error() is None:
                    count += 1
                elif msg.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"consume failed: {msg.error().str()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {count} of {records} records in 300 s")
        return time.perf_counter() - start
    finally:
        consumer.close()


def run(args: argparse.Namespace, bootstrap: str) -> list[Result]:
    results = []
    for size in args.sizes:
        topic = create_topic(bootstrap, partitions=args.partitions, replication_factor=args.replication_factor)
        produce_s = produce(
            bootstrap, topic, size=size, records=args.records, compression=args.compression, acks=args.acks
        )
        consume_s = consume(bootstrap, topic, records=args.records, partitions=args.partitions)
        result = Result(size, args.records, args.compression, args.acks, args.partitions, produce_s, consume_s)
        print(result.row(), flush=True)
        results.append(result)
    return results


@contextlib.contextmanager
def local_cluster(brokers: int, *, apache_kafka: bool) -> Iterator[str]:
    """A fresh cluster in a temporary folder, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="kopfka-bench-") as tmp:
        if apache_kafka:
            sys.path.insert(0, str(Path(__file__).parent))
            from apache_kafka import ApacheKafkaCluster as Cluster
        else:
            from kafka_broker.local import LocalCluster as Cluster
        with Cluster(brokers=brokers, data_dir=Path(tmp)) as cluster:
            yield cluster.bootstrap_servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--bootstrap-server", help="an existing cluster")
    target.add_argument("--local", type=int, metavar="BROKERS", help="start a fresh local cluster of N brokers")
    parser.add_argument("--apache-kafka", action="store_true", help="with --local: Apache Kafka, not kopfka")
    parser.add_argument("--records", type=int, default=200_000, help="records per size (default 200000)")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s) for s in text.split(",")],
        default=[100, 1024],
        help="record sizes in bytes, comma-separated (default 100,1024)",
    )
    parser.add_argument("--compression", default="lz4", help="none, gzip, snappy, lz4, zstd (default lz4)")
    parser.add_argument("--acks", default="1", help="0, 1 or all (default 1)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap_server or stack.enter_context(
            local_cluster(args.local, apache_kafka=args.apache_kafka)
        )
        print(HEADER, flush=True)
        results = run(args, bootstrap)
    if args.json:
        rows = [
            asdict(r)
            | {
                "produce_records_per_s": r.records / r.produce_seconds,
                "produce_mb_per_s": r.mb / r.produce_seconds,
                "consume_records_per_s": r.records / r.consume_seconds,
                "consume_mb_per_s": r.mb / r.consume_seconds,
            }
            for r in results
        ]
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
