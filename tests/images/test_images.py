"""The images run: ZooKeeper and a broker from images, messages round-tripped with kcat from the host.

Containers use the host's network namespace and bind loopback ports only, so nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from tests.waiting import wait_for

from .conftest import container_name, docker

pytestmark = pytest.mark.images


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, *, timeout: float, what: str, logs_of: str | None = None) -> None:
    """:func:`tests.waiting.wait_for`, with the last lines of container ``logs_of`` when it times out."""
    try:
        wait_for(check, timeout=timeout, interval=0.3, what=what)
    except TimeoutError as exc:
        logs = docker("logs", "--tail", "50", logs_of, check=False).stderr if logs_of else ""
        raise AssertionError(f"{exc}\n{logs}") from None


def zookeeper_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"ruok")
        return s.recv(16) == b"imok"


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status == 200


def start_zookeeper(image: str, workdir: Path, containers: list[str]) -> int:
    port = free_port()
    conf = workdir / "zookeeper"
    conf.mkdir()
    (conf / "zoo.cfg").write_text(
        f"tickTime=2000\ndataDir=/tmp/zookeeper\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n"
    )
    name = container_name("zk")
    containers.append(name)
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "-v",
        f"{conf}:/conf:ro",
        image,
        "java",
        "-cp",
        "/usr/share/java/zookeeper.jar:/usr/share/java/*",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        "/conf/zoo.cfg",
    )
    wait_until(lambda: zookeeper_ok(port), timeout=180, what="ZooKeeper ruok", logs_of=name)
    return port


def test_images_run_as_non_root(images):
    for image in (images["broker"], images["operator"]):
        config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
        assert config["User"] == "1000:1000", image
    uid = docker("run", "--rm", "--entrypoint", "id", images["broker"], "-u").stdout.strip()
    assert uid == "1000"


def test_operator_image_has_the_operator(images):
    result = docker(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        images["operator"],
        "-c",
        "import kafka_operator.handlers, kopf; print('ok')",
    )
    assert result.stdout.strip() == "ok"
    assert docker("run", "--rm", images["operator"], "--help").returncode == 0


def test_broker_round_trips_messages_with_kcat(images, containers, tmp_path: Path):
    if shutil.which("kcat") is None:
        pytest.fail("kcat is missing: apt-get install kcat")
    zk_port = start_zookeeper(images["zookeeper"], tmp_path, containers)
    kafka_port, http_port = free_port(), free_port()
    config = tmp_path / "broker"
    config.mkdir()
    (config / "server.properties").write_text(
        f"zookeeper.connect=127.0.0.1:{zk_port}\nlog.dirs=/var/lib/kopfka/data\n"
        "num.partitions=1\ndefault.replication.factor=1\noffsets.topic.replication.factor=1\n"
    )
    name = container_name("broker")
    containers.append(name)
    # As the StatefulSet runs it: the image's entrypoint, the config file, per-broker --override flags.
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "-v",
        f"{config}:/etc/kopfka:ro",
        images["broker"],
        "/etc/kopfka/server.properties",
        "--override",
        "broker.id=0",
        "--override",
        f"listeners=PLAINTEXT://127.0.0.1:{kafka_port}",
        "--override",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{kafka_port}",
        "--override",
        f"kopfka.http.port={http_port}",
        "--override",
        "kopfka.http.host=127.0.0.1",
    )
    wait_until(
        lambda: http_ok(f"http://127.0.0.1:{http_port}/readyz"), timeout=180, what="broker /readyz", logs_of=name
    )
    assert http_ok(f"http://127.0.0.1:{http_port}/healthz")

    bootstrap = f"127.0.0.1:{kafka_port}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # operation_timeout: the broker answers once the partition has its leader
    admin.create_topics([NewTopic("roundtrip", 1, 1)], operation_timeout=60)["roundtrip"].result(120)
    messages = [f"key-{i}:value-{i}" for i in range(100)]
    subprocess.run(
        ["kcat", "-b", bootstrap, "-t", "roundtrip", "-P", "-K:"],
        input="\n".join(messages) + "\n",
        text=True,
        check=True,
        timeout=120,
    )
    consumed = subprocess.run(
        [
            "kcat",
            "-b",
            bootstrap,
            "-t",
            "roundtrip",
            "-C",
            "-o",
            "beginning",
            "-c",
            str(len(messages)),
            "-e",
            "-f",
            "%k:%s\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert consumed == messages
