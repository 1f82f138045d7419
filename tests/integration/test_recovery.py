"""A torn or corrupt log tail (a crash mid-write) is cut off on restart; earlier data stays intact and
the broker serves again, continuing the offsets. A bad configuration stops the broker with a clear
message and exit status 2, before any data directory is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from tests.integration.admin import create_topic, describe
from tests.integration.clients import ConfluentClient, Outgoing
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def segment(cluster, topic: str) -> os.PathLike:
    leader = describe(cluster.bootstrap_servers, topic)[0][0]
    return cluster.broker_dir(leader) / "data" / f"{topic}-0" / "00000000000000000000.log"


@pytest.mark.parametrize("damage", ["cut-mid-batch", "flip-a-byte"])
def test_damaged_tail_is_truncated_on_restart(cluster_factory, damage: str) -> None:
    cluster = cluster_factory(brokers=1)
    create_topic(cluster.bootstrap_servers, "torn", partitions=1, replication_factor=1)
    first = [Outgoing(0, f"k{i}".encode(), f"first-{i}".encode()) for i in range(20)]
    ConfluentClient().produce(cluster.bootstrap_servers, "torn", first, "none")
    last = [Outgoing(0, b"k", f"last-{i}".encode() * 50) for i in range(5)]
    ConfluentClient().produce(cluster.bootstrap_servers, "torn", last, "none")
    path = segment(cluster, "torn")
    cluster.kill_broker(1, signal.SIGKILL)
    data = bytearray(path.read_bytes())
    if damage == "cut-mid-batch":
        data = data[: len(data) - 100]
    else:
        data[-50] ^= 0xFF
    path.write_bytes(bytes(data))
    cluster.start_broker(1)  # registered; it serves its partitions a moment later
    wait_for(lambda: ConfluentClient().high_watermarks(cluster.bootstrap_servers, "torn", [0]),
             what="the restarted broker to serve torn-0")
    read = ConfluentClient().consume_to_end(cluster.bootstrap_servers, "torn", [0])  # all that survived
    values = [m.value for m in read]
    assert values[:20] == [m.value for m in first]
    assert len(values) < 25  # the damaged batch is gone
    assert [m.offset for m in read] == list(range(len(read)))
    # the broker serves and continues the offsets after the good data
    ConfluentClient().produce(cluster.bootstrap_servers, "torn", [Outgoing(0, b"k", b"after")], "none")
    again = ConfluentClient().consume(cluster.bootstrap_servers, "torn", [0], len(read) + 1)
    assert again[-1].value == b"after" and again[-1].offset == len(read)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # Kafka's own ConfigDef messages, which the broker's config tables use
        ("broker.id=abc", "Invalid value abc for configuration broker.id: Not a number of type INT"),
        ("num.partitions=0", "Invalid value 0 for configuration num.partitions: Value must be at least 1"),
        ("listeners=SASL_SSL://127.0.0.1:9093", "GSSAPI not supported"),  # Kafka's default mechanism
        ("log.retention.ms=forever", "Invalid value forever for configuration log.retention.ms: Not a number of type"),
        ("compression.type=brotli", "Invalid value brotli for configuration compression.type: String must be one of"),
    ],
)
def test_invalid_config_fails_fast_and_touches_nothing(tmp_path, override: str, message: str) -> None:
    data = tmp_path / "data"
    props = tmp_path / "server.properties"
    props.write_text(f"broker.id=1\nzookeeper.connect=127.0.0.1:1\nlog.dirs={data}\nlisteners=PLAINTEXT://127.0.0.1:0\n")
    proc = subprocess.run([sys.executable, "-m", "kafka_broker.main", str(props), "--override", override],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "invalid configuration" in proc.stderr and message in proc.stderr
    assert not data.exists()


def test_missing_config_file_is_a_clear_error(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "kafka_broker.main", str(tmp_path / "nope.properties")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "cannot read config file" in proc.stderr
