"""The `kopfka` command line against real kopfka brokers: topics (create, list, describe, alter,
delete), console producer → console consumer with keys, and `kopfka local` itself.

Every command runs as a separate process, as a person would run it; the assertions are on the exact
output format of Kafka's tools (the same commands were checked against Apache Kafka 3.9 with
bench/apache_kafka.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from tests.integration.admin import wait_for_topic, wait_for_topic_gone
from tests.waiting import wait_for

from kafka_broker.local import LocalCluster
from kafka_broker.metadata import topic_path

pytestmark = pytest.mark.integration

SUMMARY = re.compile(
    r"^Topic: (?P<topic>\S+)\tTopicId: (?P<id>[A-Za-z0-9_-]{22})\tPartitionCount: (?P<count>\d+)\t"
    r"ReplicationFactor: (?P<rf>\d+)\tConfigs: (?P<configs>.*)$"
)
PARTITION = re.compile(
    r"^Topic: (?P<topic>\S+)\tPartition: (?P<partition>\d+)\tLeader: (?P<leader>\d+|none)\t"
    r"Replicas: (?P<replicas>[\d,]+)\tIsr: (?P<isr>[\d,]*)$"
)


def kopfka(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafka_broker.cli.main", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(*args: str, input: str | None = None) -> str:
    proc = kopfka(*args, input=input)
    assert proc.returncode == 0, f"kopfka {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


def topic_znode(zookeeper_connect: str, topic: str) -> dict:
    """`/brokers/topics/<t>` as stored: the truth `--describe` must show."""
    zk = KazooClient(hosts=zookeeper_connect)
    zk.start(timeout=60)
    try:
        data, _ = zk.get(topic_path(topic))
    finally:
        zk.stop()
        zk.close()
    return json.loads(data)


def assignment_in_zookeeper(zookeeper_connect: str, topic: str) -> dict[int, list[int]]:
    return {int(p): replicas for p, replicas in topic_znode(zookeeper_connect, topic)["partitions"].items()}


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: Callable[..., LocalCluster]) -> LocalCluster:
    return module_cluster_factory(brokers=3)


def test_topic_lifecycle(cluster: LocalCluster) -> None:
    b = cluster.bootstrap_servers
    topics = ("topics", "--bootstrap-server", b)

    out = ok(
        *topics,
        "--create",
        "--topic",
        "orders",
        "--partitions",
        "3",
        "--replication-factor",
        "2",
        "--config",
        "retention.ms=86400000",
    )
    assert out == "Created topic orders.\n"

    again = kopfka(*topics, "--create", "--topic", "orders", "--partitions", "3", "--replication-factor", "2")
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.startswith("Error while executing topic command : ")
    assert "already exists" in again.stderr
    assert ok(*topics, "--create", "--topic", "orders", "--partitions", "3", "--if-not-exists") == ""
    # CreateTopics waits for the broker that answered; every other broker learns of the topic on its own,
    # and each command below may ask any of them
    wait_for_topic(b, "orders", partitions=3)

    listed = wait_for(
        lambda: "orders" in ok(*topics, "--list").splitlines() and ok(*topics, "--list"), what="orders in --list"
    )
    assert "orders" in listed.splitlines()
    assert all(not name.startswith("__") for name in ok(*topics, "--list", "--exclude-internal").splitlines())

    lines = ok(*topics, "--describe", "--topic", "orders").splitlines()
    summary = SUMMARY.match(lines[0])
    assert summary, lines[0]
    assert summary["topic"] == "orders"
    assert summary["count"] == "3"
    assert summary["rf"] == "2"
    assert "retention.ms=86400000" in summary["configs"].split(",")
    partitions = [PARTITION.match(line) for line in lines[1:]]
    assert all(partitions), lines[1:]
    assert [int(p["partition"]) for p in partitions] == [0, 1, 2]

    znode = topic_znode(cluster.zookeeper_connect, "orders")
    if "topic_id" in znode:
        assert summary["id"] == znode["topic_id"]
    truth = assignment_in_zookeeper(cluster.zookeeper_connect, "orders")
    leaders = set()
    for p in partitions:
        replicas = [int(r) for r in p["replicas"].split(",")]
        assert replicas == truth[int(p["partition"])]
        assert len(set(replicas)) == 2 and set(replicas) <= {1, 2, 3}
        assert int(p["leader"]) in replicas
        assert sorted(int(r) for r in p["isr"].split(",")) == sorted(replicas)
        leaders.add(int(p["leader"]))
    assert len(leaders) > 1, "leadership should be spread over the brokers"

    ok(*topics, "--alter", "--topic", "orders", "--partitions", "5")
    described = wait_for(
        lambda: SUMMARY.match(ok(*topics, "--describe", "--topic", "orders").splitlines()[0])["count"] == "5",
        what="5 partitions",
    )
    assert described

    ok(*topics, "--delete", "--topic", "orders")
    wait_for(lambda: "orders" not in ok(*topics, "--list").splitlines(), what="orders deleted")
    wait_for_topic_gone(b, "orders")  # from every broker, whichever the next commands ask

    missing = kopfka(*topics, "--describe", "--topic", "orders")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error while executing topic command : Topic 'orders' does not exist as expected"
    assert kopfka(*topics, "--delete", "--topic", "orders", "--if-exists").returncode == 0


def test_describe_every_topic_and_regex(cluster: LocalCluster) -> None:
    b = cluster.bootstrap_servers
    for name in ("regex-a", "regex-b", "other"):
        ok(
            "topics",
            "--bootstrap-server",
            b,
            "--create",
            "--topic",
            name,
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        )
        wait_for_topic(b, name)  # known to every broker: --list may ask any of them
    matched = ok("topics", "--bootstrap-server", b, "--list", "--topic", "regex-.*").splitlines()
    assert matched == ["regex-a", "regex-b"]
    everything = ok("topics", "--bootstrap-server", b, "--describe").splitlines()
    summaries = [
        SUMMARY.match(line)["topic"] for line in everything if line.startswith("Topic: ") and "TopicId" in line
    ]
    assert {"regex-a", "regex-b", "other"} <= set(summaries)


def test_create_rejects_a_replication_factor_above_the_broker_count(cluster: LocalCluster) -> None:
    proc = kopfka(
        "topics",
        "--bootstrap-server",
        cluster.bootstrap_servers,
        "--create",
        "--topic",
        "too-wide",
        "--partitions",
        "1",
        "--replication-factor",
        "4",
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error while executing topic command : ")


def test_keyed_round_trip(cluster: LocalCluster) -> None:
    b = cluster.bootstrap_servers
    ok(
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        "keyed",
        "--partitions",
        "3",
        "--replication-factor",
        "2",
    )
    wait_for_topic(b, "keyed")
    records = [(f"user-{i % 5}", f"event {i}: naïve ✓ with:colon") for i in range(50)]
    stdin = "".join(f"{k}:{v}\n" for k, v in records)
    ok(
        "console-producer",
        "--bootstrap-server",
        b,
        "--topic",
        "keyed",
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        "--compression-codec",
        "lz4",
        "--producer-property",
        "acks=1",
        input=stdin,
    )

    proc = kopfka(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "keyed",
        "--from-beginning",
        "--max-messages",
        "50",
        "--timeout-ms",
        "120000",
        "--property",
        "print.key=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.offset=true",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Processed a total of 50 messages" in proc.stderr
    by_partition: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    partition_of_key: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        partition, offset, key, value = line.split("\t")
        p = int(partition.removeprefix("Partition:"))
        by_partition[p].append((int(offset.removeprefix("Offset:")), key, value))
        assert partition_of_key.setdefault(key, p) == p, f"key {key} in two partitions"
    got = [(k, v) for rows in by_partition.values() for _, k, v in rows]
    assert sorted(got) == sorted(records)
    for p, rows in by_partition.items():
        assert [o for o, _, _ in rows] == list(range(len(rows))), f"partition {p} offsets"
        per_key = defaultdict(list)
        for _, k, v in rows:
            per_key[k].append(v)
        for k, values in per_key.items():
            assert values == [v for kk, v in records if kk == k], f"order of key {k}"

    # One partition from an offset, values only.
    p, rows = next((p, rows) for p, rows in sorted(by_partition.items()) if len(rows) >= 2)
    tail = ok(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "keyed",
        "--partition",
        str(p),
        "--offset",
        "1",
        "--max-messages",
        str(len(rows) - 1),
        "--timeout-ms",
        "120000",
    )
    assert tail.splitlines() == [v for _, _, v in rows[1:]]


def test_consumer_times_out_on_an_empty_topic(cluster: LocalCluster) -> None:
    b = cluster.bootstrap_servers
    ok(
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        "empty",
        "--partitions",
        "2",
        "--replication-factor",
        "1",
    )
    wait_for_topic(b, "empty")
    started = time.monotonic()
    proc = kopfka(
        "console-consumer", "--bootstrap-server", b, "--topic", "empty", "--from-beginning", "--timeout-ms", "1500"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "Processed a total of 0 messages" in proc.stderr
    assert time.monotonic() - started < 60


def test_producer_reports_a_line_without_key_separator(cluster: LocalCluster) -> None:
    b = cluster.bootstrap_servers
    ok(
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        "strict",
        "--partitions",
        "1",
        "--replication-factor",
        "1",
    )
    wait_for_topic(b, "strict")
    proc = kopfka(
        "console-producer",
        "--bootstrap-server",
        b,
        "--topic",
        "strict",
        "--property",
        "parse.key=true",
        input="k\tfine\nno separator here\n",
    )
    assert proc.returncode == 1
    assert "No key separator found on line number 2" in proc.stderr
    # The line before the bad one was still delivered.
    out = ok(
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "strict",
        "--from-beginning",
        "--max-messages",
        "1",
        "--timeout-ms",
        "120000",
        "--property",
        "print.key=true",
    )
    assert out == "k\tfine\n"


def test_kopfka_local_runs_until_sigint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kafka_broker.cli.main", "local", "--brokers", "2", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the cluster is up (or the command failed)
        assert line.startswith("bootstrap: "), f"{line!r}\n{proc.stderr.read() if proc.poll() is not None else ''}"
        bootstrap = line.removeprefix("bootstrap: ").strip()
        assert len(bootstrap.split(",")) == 2
        pids = [int((data / f"broker-{i}.pid").read_text()) for i in (1, 2)]
        for pid in pids:
            os.kill(pid, 0)  # alive
        assert (data / "broker-1" / "server.properties").exists()
        assert (data / "broker-2.log").exists()
        ok(
            "topics",
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            "local",
            "--partitions",
            "2",
            "--replication-factor",
            "2",
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=180) == 0
        for i, pid in zip((1, 2), pids, strict=True):
            assert not (data / f"broker-{i}.pid").exists()
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_create_with_an_explicit_replica_assignment(cluster: LocalCluster) -> None:
    b = cluster.bootstrap_servers
    out = ok("topics", "--bootstrap-server", b, "--create", "--topic", "placed", "--replica-assignment", "1:2,2:3,3:1")
    assert out == "Created topic placed.\n"
    wait_for_topic(b, "placed")
    lines = ok("topics", "--bootstrap-server", b, "--describe", "--topic", "placed").splitlines()
    assert [m["replicas"] for m in map(PARTITION.match, lines[1:])] == ["1,2", "2,3", "3,1"]
    assert assignment_in_zookeeper(cluster.zookeeper_connect, "placed") == {0: [1, 2], 1: [2, 3], 2: [3, 1]}
