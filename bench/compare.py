"""kopfka side by side with Apache Kafka 3.9 and with the machine's raw limit, in one run (issue 7).

One ZooKeeper serves every cluster (each under its own chroot). For each broker count N the workloads
need, a kopfka cluster (:class:`kafka_broker.local.LocalCluster`) and an Apache Kafka 3.9 cluster in
ZooKeeper mode (:class:`apache_kafka.ApacheKafkaCluster`, jars from Maven Central cached under
``~/.cache/kopfka``) run at the same time, with the same settings: ``log.dirs`` in one folder on one
disk, the same flush policy (no fsync: ``log.flush.interval.*`` at Kafka's defaults, written out),
the same partitions and replication. Both get an untimed warm-up (the JVM compiles its hot paths).

Workloads, all with confluent-kafka (librdkafka): records of 100 B and 1 KiB, ``compression.type``
lz4, ``batch.size`` 1 MiB, ``linger.ms`` 5 — acks=1 on one broker, acks=all with RF 3 on three.
Per workload and repeat, kopfka and Kafka alternate (the order flips every repeat); each run uses a
fresh topic:

* **produce**: ``--records`` records as fast as the client batches them, until the last delivery report;
* **consume**: one consumer assigned to every partition reads them back from the beginning, timed
  from the first record to the last (a fast read is repeated by new consumers until 2 s are measured);
* **fetch**: ``bench/fetch_reader.py`` reads them back once more at the protocol level — Fetch requests
  to every leader, batch headers walked, no record decoded — which is how fast the broker serves its
  log: the Python consumer above spends more per record than either broker does, so its rate is the
  client's, not the broker's, and only this one can be set beside the raw limit;
* **raw**: the bytes kopfka stored for that run (its ``.log`` files: the produce payload plus batch
  headers) are sent in 1 MiB frames to ``bench/raw_sink.py`` — a separate process that only appends
  them to a file and acknowledges each frame — and read back with sendfile, over as many parallel
  streams as the workload has brokers (the fetch reader has one connection per leader), in answers as
  large as a Fetch response can be, each received whole, with the brokers' 100 KB send buffer: the
  machine's limit;
* **latency** (after the throughput repeats): records stamped with the send time are produced at a
  fixed rate — 50% of kopfka's median end-to-end maximum in that workload, the lower of its produce
  and consume rates (beyond what the consumer sustains, latency only measures its backlog) — for
  ``--latency-seconds``
  (after one unmeasured second) while a consumer reads them; p50/p99/p99.9 of receive - send.

Throughput is payload MB/s (records * record size / seconds; 1 MB = 10⁶ bytes) for all three, so the
raw rows compare like with like. Reported: medians over ``--repeat`` runs; ``ratio`` is kopfka/Kafka
(kopfka/raw for the raw rows: produce against the sink's ingest, fetch against its sendfile read);
``target`` comes from issue 7 point 3, whose "consume ≥ 0.8x of the raw limit" is judged on the fetch
row. The compression codec actually
stored (first batch of each system's log) is printed: librdkafka compresses only for brokers it
believes support it.

**Secured listeners** (``--security``, by default ``SSL,SASL_PLAINTEXT``): every broker of both systems also
listens on an SSL listener (``ssl.keystore.type=PEM``: the same key and certificate file for both, from a CA
made for the run; no client certificates) and a SASL_PLAINTEXT one (PLAIN, its user in the listener's JAAS
line); PLAINTEXT stays the inter-broker listener. After each workload's PLAINTEXT runs, its produce, consume
and fetch runs are repeated over each of them (rows named ``<workload>, SSL`` …; no raw or latency runs, no
target; with ``--quick``, for the 1 KiB workloads only), with a ``fetch / PLAINTEXT fetch`` row: what the
protocol costs each system's fastest read. Over TLS
both systems copy and encrypt every byte (kopfka reads the log slices from the page cache in 256 KiB chunks
into the TLS transport, Kafka through its SSLEngine); over SASL_PLAINTEXT, once authenticated, a connection
is plain TCP again and kopfka still sends log slices with sendfile, so that row should stay near 1.

Usage::

    python bench/compare.py                    # full: 300000 records per workload, 3 repeats
    python bench/compare.py --quick            # minutes: 50000 records, 1 repeat, fewer secured runs
    python bench/compare.py --records 1000000 --repeat 5 --json results.json
    python bench/compare.py --quick --workloads 1 --security SSL   # the TLS rows of one workload

Two cores are shared by the clients, the brokers and ZooKeeper: numbers are noisy and only the
ratios within one run mean anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.certs

from tests.certs import CertificateAuthority

import fetch_reader
import raw_sink
from apache_kafka import KAFKA_VERSION, ApacheKafkaCluster
from kafka_broker.local import LocalCluster
from kafka_broker.local.processes import free_port
from kafka_broker.local.zookeeper import ZooKeeperProcess

LONG_MAX = "9223372036854775807"
COMMON_PROPERTIES = {
    # Kafka's defaults, written out so both flavours demonstrably run the same flush policy.
    "log.flush.interval.messages": LONG_MAX,
    "log.flush.interval.ms": LONG_MAX,
    "num.partitions": "1",
}
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
SYSTEMS = ("kopfka", "kafka")
PLAINTEXT = "PLAINTEXT"
SECURED = ("SSL", "SASL_PLAINTEXT")
"""The protocols ``--security`` may name; each is a listener of its own name on every broker."""
BENCH_USER, BENCH_PASSWORD = "bench", "bench-secret"


@dataclass(frozen=True)
class Workload:
    name: str
    brokers: int
    replication_factor: int
    acks: str
    size: int

    @property
    def throughput_target(self) -> float:
        if self.replication_factor > 1:
            return 0.8
        return 1.0 if self.size >= 1024 else 0.7


WORKLOADS = (
    Workload("acks=1, 1 broker, 100 B", 1, 1, "1", 100),
    Workload("acks=1, 1 broker, 1 KiB", 1, 1, "1", 1024),
    Workload("acks=all, RF 3, 100 B", 3, 3, "all", 100),
    Workload("acks=all, RF 3, 1 KiB", 3, 3, "all", 1024),
)


@dataclass
class Samples:
    """Every measurement of one workload: per system, lists over the repeats."""

    produce: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in (*SYSTEMS, "raw")})
    consume: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SYSTEMS})
    fetch: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in (*SYSTEMS, "raw")})
    rate: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SYSTEMS})
    latency: dict[str, list[tuple[float, float, float]]] = field(default_factory=lambda: {s: [] for s in SYSTEMS})
    codec: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in SYSTEMS})


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the clients -----------------------------------------------------------------------------------

Security = dict[str, object]
"""librdkafka's settings for a secured listener (``security.protocol``, ``ssl.*``, ``sasl.*``); empty for
PLAINTEXT."""


def client_security(protocol: str, tls: Path) -> Security:
    """What a client needs on a listener of ``protocol``, with the run's CA in ``tls``."""
    if protocol == "SSL":
        return {"security.protocol": "SSL", "ssl.ca.location": str(tls / "ca.pem")}
    if protocol == "SASL_PLAINTEXT":
        return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": BENCH_USER,
                "sasl.password": BENCH_PASSWORD}
    return {}


def producer_config(bootstrap: str, acks: str, security: Security | None = None) -> dict[str, object]:
    return {
        **(security or {}),
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "compression.type": "lz4",
        "batch.size": 1024 * 1024,
        "linger.ms": 5,
        "queue.buffering.max.kbytes": 1024 * 1024,
        "queue.buffering.max.messages": 2_000_000,
        "log_level": 3,
    }


def consumer_config(bootstrap: str, security: Security | None = None) -> dict[str, object]:
    return {
        **(security or {}),
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.max.bytes": fetch_reader.MAX_BYTES,
        "max.partition.fetch.bytes": fetch_reader.PARTITION_MAX_BYTES,
        # One 64 MiB answer holds far more than queued.min.messages (100000) small records, and a
        # partition over that threshold stops *every* partition's fetches for fetch.queue.backoff.ms
        # (1 s by default), whichever broker it reads from: a consumer that starts with half its
        # partitions, as the offset replies happen to arrive, then idles for a second of each read.
        "fetch.queue.backoff.ms": 10,
        "log_level": 3,
    }


def create_topic(bootstrap: str, *, partitions: int, replication_factor: int) -> str:
    topic = f"bench-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    futures = admin.create_topics([NewTopic(topic, partitions, replication_factor)], request_timeout=30)
    futures[topic].result(timeout=60)
    # Leaders are elected asynchronously on Kafka: wait until metadata shows every one.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic, timeout=10).topics.get(topic)
        if (
            meta is not None
            and meta.error is None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 and len(p.isrs) == replication_factor for p in meta.partitions.values())
        ):
            return topic
        time.sleep(0.1)
    raise TimeoutError(f"topic {topic} has no leaders after 30 s")


def delete_topic(bootstrap: str, topic: str) -> None:
    """Measured topics are deleted once measured, so that a long run neither fills the disk nor reads
    its data back from a page cache crowded by earlier runs."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    admin.delete_topics([topic], request_timeout=30)[topic].result(timeout=60)


def payloads(size: int, count: int | None = None) -> list[bytes]:
    """Hex text (half random bytes): compressible, but not trivially. By default enough distinct
    values to fill 256 KiB, four times lz4's 64 KiB window, so a batch cannot just repeat them."""
    count = count or max(64, -(-256 * 1024 // max(size, 1)))
    return [os.urandom((size + 1) // 2).hex()[:size].encode() for _ in range(count)]


def produce(
    bootstrap: str, topic: str, *, size: int, records: int, acks: str, security: Security | None = None
) -> float:
    """Seconds from the first produce() to the last delivery report."""
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(err)

    producer = Producer(producer_config(bootstrap, acks, security) | {"delivery.report.only.error": True})
    values = payloads(size)
    n_values = len(values)
    send = producer.produce
    start = time.perf_counter()
    for i in range(records):
        value = values[i % n_values]
        try:
            send(topic, value, on_delivery=on_delivery)
        except BufferError:
            while True:
                producer.poll(0.01)
                try:
                    send(topic, value, on_delivery=on_delivery)
                    break
                except BufferError:
                    pass
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - start
    if remaining or failed:
        raise RuntimeError(f"{remaining} records undelivered, {len(failed)} failed (first: {failed[:1]})")
    return elapsed


def consume(
    bootstrap: str, topic: str, *, records: int, partitions: int, min_seconds: float = 2.0,
    security: Security | None = None,
) -> float:
    """Seconds to read ``records`` records, extrapolated from the time between the first batch of
    records the client hands over and the last record: connecting, metadata and the offset lookup
    before the first record are not the broker's throughput and are not counted. A topic read in
    less than ``min_seconds`` is read again by a new consumer until that much time was measured, and
    the mean is returned: half a second of 1 KiB records is too short to be one reliable sample."""
    rounds, elapsed = 0, 0.0
    while elapsed < min_seconds or not rounds:
        elapsed += _consume_once(bootstrap, topic, records=records, partitions=partitions, security=security)
        rounds += 1
    return elapsed / rounds


def _consume_once(bootstrap: str, topic: str, *, records: int, partitions: int, security: Security | None) -> float:
    consumer = Consumer(consumer_config(bootstrap, security))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        count = 0
        start = 0.0
        first = 0
        deadline = time.monotonic() + 300
        while count < records:
            msgs = consumer.consume(num_messages=10_000, timeout=0.5)
            if msgs and not start:
                start = time.perf_counter()  # the clock starts after the first batch
                first = len(msgs)
            for msg in msgs:
                if msg.error() is None:
                    count += 1
                else:
                    raise RuntimeError(f"consume failed: {msg.error().str()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {count} of {records} records in 300 s")
        elapsed = time.perf_counter() - start
        return elapsed * records / max(1, records - first)
    finally:
        consumer.close()


_STAMP = struct.Struct(">q")


def _latency_reader(
    bootstrap: str, topic: str, partitions: int, warm_until: Any, sent: Any, ready: Any, results: Any
) -> None:
    """The consumer side of :func:`latency`, in its own process (its own GIL): reads until ``sent``
    (set once the producer is done) records arrived, then reports (received, p50, p99, p99.9)."""
    consumer = Consumer(consumer_config(bootstrap) | {"fetch.wait.max.ms": 100})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    consumer.consume(num_messages=1, timeout=1.0)  # metadata and the first (empty) fetch are done
    ready.set()
    latencies: list[int] = []
    received = 0
    unpack = _STAMP.unpack_from
    deadline = None
    while not warm_until.value:
        time.sleep(0.001)
    warm_until_ns = warm_until.value
    while True:
        msgs = consumer.consume(num_messages=10_000, timeout=0.1)
        now = time.time_ns()
        for msg in msgs:
            if msg.error() is None:
                (stamp,) = unpack(msg.value())
                if stamp >= warm_until_ns:
                    latencies.append(now - stamp)
        received += len(msgs)
        total = sent.value
        if total:
            if received >= total:
                break
            deadline = deadline or time.monotonic() + 60
            if time.monotonic() > deadline:
                break
    consumer.close()
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1e6 if latencies else float("nan")

    results.put((received, pct(0.50), pct(0.99), pct(0.999)))


def latency(
    bootstrap: str, topic: str, *, size: int, acks: str, rate: float, seconds: float, partitions: int
) -> tuple[float, float, float]:
    """p50, p99, p99.9 milliseconds from produce() to the consumer, at ``rate`` records/s.

    The consumer runs in a separate process so that reading does not compete with producing for
    one GIL. Records are sent in 1 ms ticks, each stamped with its tick's wall-clock time (one
    clock for both processes); the first second is a warm-up and not counted.
    """
    ctx = multiprocessing.get_context("spawn")
    sent_total = ctx.Value("q", 0)
    warm_until = ctx.Value("q", 0)
    ready = ctx.Event()
    results = ctx.Queue()
    reader = ctx.Process(
        target=_latency_reader,
        args=(bootstrap, topic, partitions, warm_until, sent_total, ready, results),
        daemon=True,
    )
    producer = Producer(producer_config(bootstrap, acks))
    pads = payloads(size - _STAMP.size)
    n_pads = len(pads)
    send = producer.produce
    sent = 0
    reader.start()
    try:
        if not ready.wait(60):
            raise TimeoutError("latency reader did not start")
        start = time.perf_counter()
        warm_until.value = time.time_ns() + 10**9
        total_seconds = seconds + 1
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= total_seconds:
                break
            due = int(elapsed * rate) + 1
            if due > sent:
                stamp = _STAMP.pack(time.time_ns())
                for i in range(sent, due):
                    send(topic, stamp + pads[i % n_pads])
                sent = due
                producer.poll(0)
            else:
                time.sleep(0.001)
        producer.flush(60)
        sent_total.value = sent
        received, p50, p99, p999 = results.get(timeout=120)
        reader.join(30)
    finally:
        if reader.is_alive():
            reader.kill()
    if received < sent:
        raise RuntimeError(f"latency run: {received} of {sent} records arrived")
    return p50, p99, p999


# --- logs and the raw sink -------------------------------------------------------------------------


def topic_log_files(cluster: LocalCluster, topic: str, partitions: int) -> list[Path]:
    """One copy of each partition's ``.log`` files, from the first broker holding it."""
    files: list[Path] = []
    for p in range(partitions):
        for broker_id in cluster.broker_ids:
            directory = cluster.broker_dir(broker_id) / "data" / f"{topic}-{p}"
            if directory.is_dir():
                files += sorted(directory.glob("*.log"))
                break
    return files


_BATCH_FIELDS = struct.Struct(">8xi9xh34xi")  # batchLength @8, attributes @21, recordsCount @57 (61 bytes)


def stored_codecs(files: list[Path]) -> dict[str, int]:
    """Records stored per compression codec, from the batch headers only."""
    records: dict[str, int] = {}
    for path in files:
        with path.open("rb") as f:
            position = 0
            while len(head := os.pread(f.fileno(), 61, position)) == 61:
                length, attributes, count = _BATCH_FIELDS.unpack(head)
                codec = CODECS.get(attributes & 7, "?")
                records[codec] = records.get(codec, 0) + count
                position += length + 12
    return records


def codec_summary(records: dict[str, int]) -> str:
    """``lz4`` or, when batches differ, e.g. ``lz4 99.98%, none 0.02%`` (librdkafka sends a batch
    uncompressed when compressing does not make it smaller)."""
    total = sum(records.values())
    if len(records) <= 1:
        return next(iter(records), "?")
    return ", ".join(f"{c} {100 * n / total:.2f}%" for c, n in sorted(records.items(), key=lambda kv: -kv[1]))


@contextlib.contextmanager
def raw_sink_process(path: Path) -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("raw_sink.py")), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        host, _, port = line.rpartition(" ")[2].rpartition(":")
        yield host, int(port)
    finally:
        proc.terminate()
        proc.wait(10)
        path.unlink(missing_ok=True)


def raw_run(
    files: list[Path], sink_file: Path, *, streams: int = 1, partitions: int = 6, min_read_seconds: float = 2.0
) -> tuple[float, float]:
    """Seconds to push ``files`` through the raw sink, and per read of them back in ``streams`` parallel
    ranges (one per leader the fetch reader talks to), re-read for ``min_read_seconds`` as the fetch
    reader re-reads a topic, in answers as large as its Fetch responses can be (each leader's share of
    the partitions times ``max.partition.fetch.bytes``)."""
    frames = raw_sink.file_frames(files)
    size = sum(len(frame) for frame in frames)
    answer_bytes = fetch_reader.PARTITION_MAX_BYTES * -(-partitions // max(1, streams))
    with raw_sink_process(sink_file) as address:
        _, produce_s = raw_sink.produce(address, frames)
        read_s = raw_sink.read_back(
            address, size=size, streams=streams, answer_bytes=answer_bytes, min_seconds=min_read_seconds
        )
    return produce_s, read_s


# --- the run ---------------------------------------------------------------------------------------


def run_workload(
    workload: Workload,
    clusters: dict[str, LocalCluster],
    samples: Samples,
    args: argparse.Namespace,
    *,
    protocol: str = PLAINTEXT,
) -> None:
    """Measure ``workload`` on every system with clients on its ``protocol`` listeners (topics are created and
    deleted over PLAINTEXT); the raw and latency runs only over PLAINTEXT."""
    mb = workload.size * args.records / 1e6
    security = client_security(protocol, args.work_dir / "tls")
    name = variant_name(workload, protocol)
    for rep in range(args.repeat):
        order = SYSTEMS if rep % 2 == 0 else SYSTEMS[::-1]
        kopfka_files: list[Path] = []
        topics: dict[str, str] = {}
        for system in order:
            cluster = clusters[system]
            bootstrap = listener_bootstrap(cluster, protocol)
            topic = topics[system] = create_topic(
                cluster.bootstrap_servers, partitions=args.partitions, replication_factor=workload.replication_factor
            )
            produce_s = produce(
                bootstrap, topic, size=workload.size, records=args.records, acks=workload.acks, security=security
            )
            consume_s = consume(bootstrap, topic, records=args.records, partitions=args.partitions, security=security)
            fetch_s = fetch_reader.read_topic(bootstrap, topic, records=args.records, security=security)
            files = topic_log_files(cluster, topic, args.partitions)
            stored = stored_codecs(files)
            for codec, n in stored.items():
                samples.codec[system][codec] = samples.codec[system].get(codec, 0) + n
            samples.produce[system].append(mb / produce_s)
            samples.consume[system].append(mb / consume_s)
            samples.fetch[system].append(mb / fetch_s)
            samples.rate[system].append(args.records / max(produce_s, consume_s))
            log(
                f"{name} #{rep + 1} {system}: produce {mb / produce_s:.1f} MB/s "
                f"({args.records / produce_s:,.0f} rec/s), consume {mb / consume_s:.1f} MB/s, "
                f"fetch {mb / fetch_s:.1f} MB/s, stored codec {codec_summary(stored)}"
            )
            if system == "kopfka":
                kopfka_files = files
        if not args.no_raw and protocol == PLAINTEXT:
            produce_s, consume_s = raw_run(
                kopfka_files, args.work_dir / "raw-sink.bin", streams=workload.brokers, partitions=args.partitions
            )
            samples.produce["raw"].append(mb / produce_s)
            samples.fetch["raw"].append(mb / consume_s)
            log(f"{workload.name} #{rep + 1} raw: produce {mb / produce_s:.1f} MB/s, read {mb / consume_s:.1f} MB/s")
        for system, topic in topics.items():
            delete_topic(clusters[system].bootstrap_servers, topic)
    if args.latency_seconds <= 0 or protocol != PLAINTEXT:
        return
    rate = 0.5 * statistics.median(samples.rate["kopfka"])  # of the end-to-end max: min(produce, consume)
    for rep in range(args.repeat):
        for system in SYSTEMS if rep % 2 == 0 else SYSTEMS[::-1]:
            bootstrap = clusters[system].bootstrap_servers
            topic = create_topic(bootstrap, partitions=args.partitions, replication_factor=workload.replication_factor)
            result = latency(
                bootstrap,
                topic,
                size=workload.size,
                acks=workload.acks,
                rate=rate,
                seconds=args.latency_seconds,
                partitions=args.partitions,
            )
            samples.latency[system].append(result)
            delete_topic(bootstrap, topic)
            log(
                f"{workload.name} #{rep + 1} {system}: latency at {rate:,.0f} rec/s "
                f"p50 {result[0]:.1f} ms, p99 {result[1]:.1f} ms, p99.9 {result[2]:.1f} ms"
            )


def warm_up(
    clusters: dict[str, LocalCluster], args: argparse.Namespace, replication_factor: int, protocols: list[str]
) -> None:
    """An untimed produce and consume on each system: JIT, connections, the consumer-group machinery; then a
    shorter one over each secured listener of ``protocols`` (the JVM's TLS code paths)."""
    records = max(10_000, args.records // 10)
    for system, cluster in clusters.items():
        bootstrap = cluster.bootstrap_servers
        topic = create_topic(bootstrap, partitions=args.partitions, replication_factor=replication_factor)
        for size in (100, 1024):
            produce(bootstrap, topic, size=size, records=records, acks="all")
        consume(bootstrap, topic, records=2 * records, partitions=args.partitions)
        stored = 2 * records
        for protocol in protocols:
            secured = listener_bootstrap(cluster, protocol)
            security = client_security(protocol, args.work_dir / "tls")
            produce(secured, topic, size=1024, records=records, acks="all", security=security)
            stored += records
            consume(secured, topic, records=stored, partitions=args.partitions, min_seconds=0, security=security)
            fetch_reader.read_topic(secured, topic, records=stored, min_seconds=0, security=security)
        log(f"warmed up {system}")


def make_tls_files(tls: Path) -> None:
    """A CA for the run (``ca.pem``, what clients trust) and the brokers' key and certificate (``broker.pem``,
    Kafka's PEM key store, read by both systems)."""
    ca = CertificateAuthority()
    ca.write_pem(tls / "ca.pem")
    ca.server(dns=["localhost"], ips=["127.0.0.1"]).write_pem(tls / "broker.pem")


def security_properties(protocols: list[str], tls: Path) -> dict[str, str]:
    """What both systems need for listeners of ``protocols`` beside PLAINTEXT (the inter-broker one)."""
    if not protocols:
        return {}
    properties = {
        "listener.security.protocol.map": ",".join(f"{p}:{p}" for p in (PLAINTEXT, *protocols)),
        "inter.broker.listener.name": PLAINTEXT,
    }
    if "SSL" in protocols:
        properties |= {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(tls / "broker.pem")}
    if "SASL_PLAINTEXT" in protocols:
        properties |= {
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_{BENCH_USER}="{BENCH_PASSWORD}";',
        }
    return properties


def make_clusters(brokers: int, zookeeper: str, work_dir: Path, protocols: list[str]) -> dict[str, LocalCluster]:
    kinds: dict[str, Callable[..., LocalCluster]] = {"kopfka": LocalCluster, "kafka": ApacheKafkaCluster}
    clusters = {
        system: kinds[system](
            brokers=brokers,
            data_dir=work_dir / f"{system}-{brokers}",
            zookeeper_connect=f"{zookeeper}/{system}-{brokers}",
            overrides=COMMON_PROPERTIES | security_properties(protocols, work_dir / "tls"),
            start_timeout=120.0,
        )
        for system in SYSTEMS
    }
    for cluster in clusters.values():  # a listener per protocol, named after it, beside the PLAINTEXT one
        for broker_id, port in cluster.broker_ports.items():
            listeners = ",".join([f"{PLAINTEXT}://{cluster.host}:{port}"]
                                 + [f"{p}://{cluster.host}:{free_port(cluster.host)}" for p in protocols])
            cluster.per_broker_overrides[broker_id] = {"listeners": listeners, "advertised.listeners": listeners}
    return clusters


def listener_bootstrap(cluster: LocalCluster, protocol: str) -> str:
    """The addresses of every broker's listener named ``protocol``."""
    addresses = []
    for broker_id in cluster.broker_ids:
        listeners = cluster.broker_properties(broker_id)["listeners"].split(",")
        addresses.append(dict(entry.split("://", 1) for entry in listeners)[protocol])
    return ",".join(addresses)


def variant_name(workload: Workload, protocol: str) -> str:
    return workload.name if protocol == PLAINTEXT else f"{workload.name}, {protocol}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def rows(
    workload: Workload, samples: Samples, *, protocol: str = PLAINTEXT, plaintext: Samples | None = None
) -> list[dict[str, object]]:
    """The table's rows for ``workload`` measured over ``protocol``; a secured protocol's rows have no target,
    and one more row sets their fetch beside ``plaintext``'s."""
    med, ratio = _median, _ratio
    name = variant_name(workload, protocol)
    out: list[dict[str, object]] = []
    for metric, data in (("produce", samples.produce), ("consume", samples.consume), ("fetch", samples.fetch)):
        k, a, r = med(data["kopfka"]), med(data["kafka"]), med(data.get("raw", []))
        out.append(
            {
                "workload": name,
                "metric": metric,
                "unit": "MB/s",
                "kopfka": k,
                "kafka": a,
                "raw": r,
                "ratio": ratio(k, a),
                "target": workload.throughput_target if protocol == PLAINTEXT else None,
                "higher_is_better": True,
            }
        )
        if r is not None:
            out.append(
                {
                    "workload": workload.name,
                    "metric": f"{metric} vs raw limit",
                    "unit": "MB/s",
                    "kopfka": k,
                    "kafka": None,
                    "raw": r,
                    "ratio": ratio(k, r),
                    "target": 0.8 if metric == "fetch" else None,
                    "higher_is_better": True,
                }
            )
    if plaintext is not None:
        out.append(
            {
                "workload": name,
                "metric": f"fetch / {PLAINTEXT} fetch",
                "unit": "x",
                "kopfka": ratio(med(samples.fetch["kopfka"]), med(plaintext.fetch["kopfka"])),
                "kafka": ratio(med(samples.fetch["kafka"]), med(plaintext.fetch["kafka"])),
                "raw": None,
                "ratio": None,
                "target": None,
                "higher_is_better": True,
            }
        )
    for i, latency_name in enumerate(("latency p50", "latency p99", "latency p99.9")):
        k = med([x[i] for x in samples.latency["kopfka"]])
        a = med([x[i] for x in samples.latency["kafka"]])
        if k is None and a is None:
            continue
        out.append(
            {
                "workload": workload.name,
                "metric": latency_name,
                "unit": "ms",
                "kopfka": k,
                "kafka": a,
                "raw": None,
                "ratio": ratio(k, a),
                "target": 1.5 if latency_name == "latency p99" else None,
                "higher_is_better": False,
            }
        )
    return out


def markdown(table: list[dict[str, object]]) -> str:
    def num(value: object) -> str:
        if value is None:
            return "-"
        assert isinstance(value, float | int)
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"

    lines = [
        "| workload | metric | unit | kopfka | Kafka 3.9 | raw | ratio | target | met |",
        "|---|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in table:
        ratio, target = row["ratio"], row["target"]
        met = "-"
        if isinstance(ratio, float) and isinstance(target, float):
            met = "yes" if (ratio >= target if row["higher_is_better"] else ratio <= target) else "**no**"
        target_text = "-" if target is None else ("≥ " if row["higher_is_better"] else "≤ ") + f"{target}x"
        lines.append(
            f"| {row['workload']} | {row['metric']} | {row['unit']} | {num(row['kopfka'])} | "
            f"{num(row['kafka'])} | {num(row['raw'])} | {num(ratio)} | {target_text} | {met} |"
        )
    return "\n".join(lines)


def machine_summary() -> str:
    """The machine and software a run measured: what the README's table must say it ran on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Linux {os.uname().release}, load average {load}; "
        f"Python {sys.version.split()[0]}, confluent-kafka {confluent_kafka.version()} / librdkafka "
        f"{confluent_kafka.libversion()[0]}, Apache Kafka {KAFKA_VERSION}"
    )


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the clusters on the way out
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, help="records per produce run (default 300000; --quick 50000)")
    parser.add_argument("--repeat", type=int, help="runs per workload and system (default 3; --quick 1)")
    parser.add_argument("--quick", action="store_true", help="fewer records, one repeat, short latency runs")
    parser.add_argument(
        "--latency-seconds", type=float, help="measured seconds per latency run (default 10; --quick 4; 0: skip)"
    )
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic (default 6)")
    parser.add_argument(
        "--workloads",
        default="all",
        help="comma-separated indexes into: " + "; ".join(f"{i}={w.name}" for i, w in enumerate(WORKLOADS)),
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-sink runs")
    parser.add_argument(
        "--security",
        default=",".join(SECURED),
        help=f"secured listeners to measure too, comma-separated: {', '.join(SECURED)} (default: both; none: skip; "
        "--quick: on the 1 KiB workloads only)",
    )
    parser.add_argument(
        "--work-dir", type=Path, help="where clusters keep their data (default: a temporary folder in /tmp)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    args.records = args.records or (50_000 if args.quick else 300_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.latency_seconds is None:
        args.latency_seconds = 4.0 if args.quick else 10.0
    workloads = list(WORKLOADS) if args.workloads == "all" else [WORKLOADS[int(i)] for i in args.workloads.split(",")]
    args.security = [] if args.security.lower() == "none" else [p.strip().upper() for p in args.security.split(",")]
    unknown = set(args.security) - set(SECURED)
    if unknown:
        parser.error(f"--security: {', '.join(sorted(unknown))} is not one of {', '.join(SECURED)}")

    def variants(workload: Workload) -> list[str]:
        return [PLAINTEXT, *(args.security if workload.size >= 1024 or not args.quick else [])]

    samples = {(w.name, protocol): Samples() for w in workloads for protocol in variants(w)}
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    log(f"machine: {machine_summary()}")
    with contextlib.ExitStack() as stack:
        if args.work_dir is None:
            args.work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kopfka-compare-")))
        args.work_dir.mkdir(parents=True, exist_ok=True)
        make_tls_files(args.work_dir / "tls")
        zookeeper = stack.enter_context(ZooKeeperProcess(data_dir=args.work_dir / "zookeeper"))
        for brokers in sorted({w.brokers for w in workloads}):
            secured = [p for p in args.security if any(p in variants(w) for w in workloads if w.brokers == brokers)]
            clusters = make_clusters(brokers, zookeeper.connect, args.work_dir, secured)
            with contextlib.ExitStack() as running:
                for system, cluster in clusters.items():
                    log(f"starting {system} with {brokers} broker(s)")
                    running.enter_context(cluster)
                warm_up(clusters, args, replication_factor=min(3, brokers), protocols=secured)
                for workload in workloads:
                    if workload.brokers == brokers:
                        for protocol in variants(workload):
                            run_workload(workload, clusters, samples[workload.name, protocol], args, protocol=protocol)

    table = [
        row
        for w in workloads
        for protocol in variants(w)
        for row in rows(w, samples[w.name, protocol], protocol=protocol,
                        plaintext=None if protocol == PLAINTEXT else samples[w.name, PLAINTEXT])
    ]
    print(f"\nstarted {started}, ended {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: {machine_summary()}")
    print(
        f"{args.records} records per run, median of {args.repeat}, {args.partitions} partitions, "
        f"lz4 requested; stored codec: "
        + "; ".join(
            f"{w.name}: kopfka {codec_summary(samples[w.name, PLAINTEXT].codec['kopfka'])}, "
            f"Kafka {codec_summary(samples[w.name, PLAINTEXT].codec['kafka'])}"
            for w in workloads
        )
        + "\n"
    )
    print(markdown(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
